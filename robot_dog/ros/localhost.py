"""`python -m robot_dog.ros.localhost [--] CMD ARGS...`: exec CMD with localhost-only ROS 2 discovery.

The entry dev.sh and CI use, so shells, pytest and benchmarks all get the same environment
as the launcher's children (robot_dog.ros.dds_env.environ). Without CMD, prints the exports.
"""
from __future__ import annotations

import os
import sys

from robot_dog.ros import dds_env


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        for name, value in dds_env.REQUIRED.items():
            print(f"export {name}={value}")
        return 0
    env = dds_env.environ()
    # Console scripts of the venv first, so `robot-dog` resolves without activating it.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        print(f"robot_dog.ros.localhost: command not found: {argv[0]}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
