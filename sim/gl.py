"""Which OpenGL backend MuJoCo renders with on a headless machine: EGL first, then OSMesa.

Must run before `mujoco` is imported (it reads MUJOCO_GL once): `sim/__init__.py` calls
`configure()`. A MUJOCO_GL already set is respected. With neither library installed, nothing is
set; `sim.render` then says which Debian package to install, and the kinematic mode still runs
without rendering.
"""
from __future__ import annotations

import ctypes.util
import os
from collections.abc import Callable, MutableMapping

#: backend -> (shared library, Debian package that ships it)
BACKENDS = {"egl": ("EGL", "libegl1 libgl1-mesa-dri"), "osmesa": ("OSMesa", "libosmesa6")}


def configure(environ: MutableMapping[str, str] = os.environ,
              find_library: Callable[[str], str | None] = ctypes.util.find_library) -> str | None:
    """Set MUJOCO_GL (and PyOpenGL's platform) to the first available backend; return it."""
    chosen = environ.get("MUJOCO_GL", "").lower()
    if not chosen:
        chosen = next((name for name, (lib, _) in BACKENDS.items() if find_library(lib)), "")
        if not chosen:
            return None
        environ["MUJOCO_GL"] = chosen
    if chosen in BACKENDS:
        environ.setdefault("PYOPENGL_PLATFORM", chosen)
    return chosen


def missing_message() -> str:
    return ("no OpenGL renderer for MuJoCo: neither EGL nor OSMesa is installed; "
            f"apt-get install {BACKENDS['egl'][1]} (EGL) or {BACKENDS['osmesa'][1]} (OSMesa); "
            "the kinematic mode runs without rendering (render:=false)")
