"""A process's memory by where it comes from: /proc/PID/smaps summed per library (PSS, RSS).

PSS splits a shared page between the processes that map it, so it is a process's fair share;
RSS counts every page it maps whole. Mappings are grouped so the groups name what a developer can
act on: a Python package's own libraries under its site-packages folder (numpy with numpy.libs,
cv2 with opencv_python.libs), a system library by its name without version, Fast DDS's
shared-memory segments and ports, the brk heap, and anonymous memory (Python's objects, malloc
arenas, thread stacks: the import and tracemalloc figures split that further).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$")
_SITE = re.compile(r"/(?:site|dist)-packages/([^/]+)/")
#: Fast DDS names its shared-memory files fastdds_<id> (a participant's segment) and
#: fastdds_port<N> (a port's queue of buffer descriptors); releases before 3.0 said fastrtps_.
_FASTDDS_SHM = re.compile(r"^/dev/shm/fast(?:dds|rtps)_(port)?")
#: Wheel folders of vendored libraries -> the package they belong to.
_WHEEL_LIBS = {"opencv_python_headless": "cv2", "opencv_python": "cv2", "pillow": "PIL"}

ANONYMOUS = "anonymous (Python objects, malloc arenas, stacks)"
FASTDDS_SEGMENTS = "Fast DDS shared-memory segments"
FASTDDS_PORTS = "Fast DDS shared-memory ports"
ROS_INTERFACES = "ROS 2 interfaces (typesupport)"
ROS_CLIENT = "ROS 2 (rclpy, rcl, rmw)"


@dataclass(frozen=True)
class Usage:
    pss_kb: int
    rss_kb: int


def group_of(path: str) -> str:
    """The group a mapping's path (the smaps header's last field, maybe empty) belongs to."""
    if not path:
        return ANONYMOUS
    shm = _FASTDDS_SHM.match(path)
    if shm:
        return FASTDDS_PORTS if shm.group(1) else FASTDDS_SEGMENTS
    if path.startswith("["):
        return "[stack]" if path.startswith("[stack") else path  # [heap], [vdso], [stack:TID]
    name = Path(path.removesuffix(" (deleted)")).name
    if "__rosidl_" in name:
        return ROS_INTERFACES
    if name.startswith(("libfastdds", "libfastcdr", "libfoonathan")):
        return "Fast DDS"
    site = _SITE.search(path)
    if site:
        folder = site.group(1).removesuffix(".libs")
        if folder.startswith("ros_") or folder == "rclpy":
            return ROS_CLIENT
        return _WHEEL_LIBS.get(folder, folder)
    if "/lib-dynload/" in path or re.match(r"(python3(\.\d+)?|libpython.*)$", name):
        return "python"
    if name.startswith(("librcl", "librmw", "librcutils", "librosidl", "libtracetools", "librcpputils",
                        "libspdlog", "libament_index", "libtype_description")):
        return ROS_CLIENT
    return re.sub(r"\.so(\.[0-9]+)*$", ".so", name)


def parse(smaps: str) -> dict[str, Usage]:
    """The text of /proc/PID/smaps -> group -> usage, largest PSS first."""
    totals: dict[str, list[int]] = {}
    current: list[int] | None = None
    for line in smaps.splitlines():
        header = _HEADER.match(line)
        if header:
            current = totals.setdefault(group_of(header.group(1).strip()), [0, 0])
            continue
        if current is None:
            continue
        if line.startswith("Pss:"):
            current[0] += int(line.split()[1])
        elif line.startswith("Rss:"):
            current[1] += int(line.split()[1])
    ordered = sorted(totals.items(), key=lambda item: -item[1][0])
    return {name: Usage(pss, rss) for name, (pss, rss) in ordered}


def of_process(pid: int) -> dict[str, Usage]:
    """Group -> usage of a live process (its smaps; the caller needs the right to read it)."""
    return parse(Path(f"/proc/{pid}/smaps").read_text())


def summary(groups: dict[str, Usage], top: int = 6) -> str:
    """The largest groups by PSS, one line: 'numpy 17.6, ROS 2 ... 12.0, ... (PSS MB)'."""
    shown: Iterable[tuple[str, Usage]] = list(groups.items())[:top]
    return ", ".join(f"{name} {usage.pss_kb / 1024:.1f}" for name, usage in shown) + " (PSS MB)"
