"""A process's memory by library, from /proc/PID/smaps (what bench memory prints per node)."""
from __future__ import annotations

import os

from robot_dog.devtools import memory_map

SITE = "/work/x/.venv/lib/python3.11/site-packages"

SMAPS = f"""\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234                       /usr/bin/python3.11
Rss:                1000 kB
Pss:                 400 kB
7f0000000000-7f0000100000 r-xp 00000000 08:01 11 {SITE}/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so
Rss:                3000 kB
Pss:                2000 kB
7f0000100000-7f0000200000 r-xp 00000000 08:01 12 {SITE}/numpy.libs/libscipy_openblas64_-ff651d7f.so
Rss:                 900 kB
Pss:                 600 kB
7f0000200000-7f0001200000 rw-s 00000000 00:19 13 /dev/shm/fastdds_3e5a8f0c2b1d4e6f
Rss:               16384 kB
Pss:               16384 kB
7f0001200000-7f0001210000 rw-s 00000000 00:19 14 /dev/shm/fastdds_port7413
Rss:                  64 kB
Pss:                  16 kB
7f0001210000-7f0001220000 r-xp 00000000 08:01 15 /work/x/.venv/lib/libfastdds.so.3.2
Rss:                5000 kB
Pss:                1000 kB
7f0001220000-7f0001230000 r-xp 00000000 08:01 16 /work/x/.venv/lib/libgeometry_msgs__rosidl_typesupport_c.so
Rss:                 100 kB
Pss:                  20 kB
7f0001230000-7f0001240000 r-xp 00000000 08:01 17 /work/x/.venv/lib/librcl.so
Rss:                 200 kB
Pss:                  50 kB
7f0001240000-7f0001250000 r-xp 00000000 08:01 18 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1500 kB
Pss:                 100 kB
7f0001250000-7f0005250000 rw-p 00000000 00:00 0
Rss:               30000 kB
Pss:               30000 kB
7f0005250000-7f0005260000 rw-p 00000000 00:00 0                          [heap]
Rss:                2000 kB
Pss:                2000 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                 132 kB
Pss:                 132 kB
"""


def test_mappings_are_summed_per_library_largest_share_first() -> None:
    groups = memory_map.parse(SMAPS)
    assert groups[memory_map.ANONYMOUS] == memory_map.Usage(pss_kb=30000, rss_kb=30000)
    assert groups[memory_map.FASTDDS_SEGMENTS] == memory_map.Usage(16384, 16384)
    assert groups[memory_map.FASTDDS_PORTS] == memory_map.Usage(16, 64)
    assert groups["numpy"] == memory_map.Usage(2600, 3900)  # the package with its vendored BLAS
    assert groups["Fast DDS"] == memory_map.Usage(1000, 5000)
    assert groups[memory_map.ROS_INTERFACES] == memory_map.Usage(20, 100)
    assert groups[memory_map.ROS_CLIENT] == memory_map.Usage(50, 200)
    assert groups["libc.so"] == memory_map.Usage(100, 1500)
    assert groups["python"] == memory_map.Usage(400, 1000)
    assert groups["[heap]"].pss_kb == 2000 and groups["[stack]"].pss_kb == 132
    pss = [usage.pss_kb for usage in groups.values()]
    assert pss == sorted(pss, reverse=True)
    assert sum(pss) == 30000 + 16384 + 16 + 2600 + 1000 + 20 + 50 + 100 + 400 + 2000 + 132
    assert memory_map.summary(groups, top=2) == (
        f"{memory_map.ANONYMOUS} 29.3, {memory_map.FASTDDS_SEGMENTS} 16.0 (PSS MB)")


def test_this_process_adds_up_to_its_own_rollup() -> None:
    groups = memory_map.of_process(os.getpid())
    rollup = {line.split(":")[0]: int(line.split()[1])
              for line in open(f"/proc/{os.getpid()}/smaps_rollup").read().splitlines()[1:]}
    total = sum(usage.rss_kb for usage in groups.values())
    assert abs(total - rollup["Rss"]) <= 0.05 * rollup["Rss"]  # the process moves between reads
    assert "python" in groups
