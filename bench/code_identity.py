"""Which code a benchmark ran: the content of the files its processes load (pure: no git, no ROS).

1,000 trials per path of `bench safety` take hours and are gathered over several runs; a run
counts toward the tally of the code it ran. Naming that code by the newest commit reset the
tally on any commit (a station page, the console) although the stack under test never loads
that code. The identity here is derived from the code itself: the static import closure of the
entry modules (the benchmark's own module and each node module its stack starts), within this
repository, plus the data those processes read that is not Python (`DATA`: the pinned packages,
the ROS interface definitions, the stack's configuration files). Its hash is over each file's
path and content, so an uncommitted change is a different identity too.

Imports are read from the source (`ast`), wherever they stand (a lazy import in a function
counts: it loads when that path runs); `import a.b` loads `a` and `a.b`, `from a import b`
loads `b` when it is a module. What the static closure cannot see (a module named in a string
and imported with importlib) is not in it: node modules started by name are given as entry
modules.
"""
from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path

#: Read by the benchmark's processes and not Python: the lock file (the installed packages), the
#: ROS interfaces (built into the messages every process speaks) and robot_dog/config (the mux
#: table, the DDS profile).
DATA = ("requirements.lock", "ros_ws/src/robot_dog_interfaces", "robot_dog/config")


def module_file(root: Path, module: str) -> Path | None:
    """The file of `module` within `root` (a package's `__init__.py`), or None when it is not
    this repository's (the standard library, an installed package)."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(root: Path, path: Path) -> set[str]:
    """The modules a file imports, absolute (relative imports resolved), with their parents."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(root, path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    with_parents: set[str] = set()
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in with_parents if m}


def loaded_files(root: Path, entry_modules: Iterable[str]) -> list[Path]:
    """The repository's Python files reachable by import from `entry_modules`, and `DATA`."""
    pending = [m for m in entry_modules]
    seen_modules: set[str] = set()
    files: set[Path] = set()
    while pending:
        module = pending.pop()
        if module in seen_modules:
            continue
        seen_modules.add(module)
        path = module_file(root, module)
        if path is None or path in files:
            continue
        files.add(path)
        pending.extend(imported_modules(root, path) - seen_modules)
        parent = module.rpartition(".")[0]
        if parent:
            pending.append(parent)    # importing a.b runs a/__init__.py first
    for data in DATA:
        target = root / data
        if target.is_file():
            files.add(target)
        elif target.is_dir():
            files.update(p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted(files)


def identity(root: Path, entry_modules: Iterable[str]) -> tuple[str, int]:
    """(sha256 over each loaded file's path and content, how many files)."""
    files = loaded_files(root, entry_modules)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest(), len(files)
