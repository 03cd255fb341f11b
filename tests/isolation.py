"""One ROS 2 domain per test session, so two runs on one machine never hear each other.

Two developers, or CI beside a developer, may run the suite at the same time. Localhost-only
discovery keeps traffic on this machine but not apart between runs: the runs are kept apart by
giving each its own `ROS_DOMAIN_ID`. A domain is claimed with an exclusive `flock` on a file in
the temporary directory, held until the process exits (the kernel releases it even after
SIGKILL), so a claim can never leak. Children inherit the variable through `dds_env.environ()`.

Domains 1-101 only: Fast DDS derives its ports as 7400 + 250 * domain, and higher domains reach
the kernel's ephemeral port range (32768+) on Linux. Domain 0 is left to developers' own runs.
"""
from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path
from typing import IO

FIRST_DOMAIN, LAST_DOMAIN = 1, 101
LOCK_DIR = Path(tempfile.gettempdir()) / "robot_dog_ros_domains"

_held: IO[bytes] | None = None  # keeps the lock for the life of this process


def claim_domain() -> int:
    """Claim a free ROS domain for this process (idempotent); raise if all are taken."""
    global _held
    if _held is not None:
        return int(Path(_held.name).stem)
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    domains = list(range(FIRST_DOMAIN, LAST_DOMAIN + 1))
    start = random.SystemRandom().randrange(len(domains))
    for domain in domains[start:] + domains[:start]:
        handle = open(LOCK_DIR / f"{domain}.lock", "wb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held = handle
        return domain
    raise RuntimeError(f"all ROS domains {FIRST_DOMAIN}-{LAST_DOMAIN} are claimed by other runs ({LOCK_DIR})")


def isolate() -> int:
    """Claim a domain and put it into this process's environment (inherited by children)."""
    domain = claim_domain()
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    return domain
