"""The rendered bodycam: the MuJoCo camera on the dog's mount, 640x480 BGR (sensor_msgs bgr8).

CPU rendering through EGL or OSMesa (`sim.gl` picks one), shadows and reflections off.
`RendererMissing` says which Debian package to install when no backend exists.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import logging
import os

import mujoco
import numpy as np

from sim import robot as R
from sim.gl import BACKENDS, missing_message
from sim.model import BODYCAM_PROXY_GROUP

_LOGGER = logging.getLogger(__name__)


class RendererMissing(RobotDogError, RuntimeError):
    """No OpenGL backend for offscreen rendering (the message names the package to install)."""


def _use_backend(backend: str) -> None:
    """Point MuJoCo's renderer at `backend`'s GL context, whatever MUJOCO_GL was when `mujoco`
    was first imported (an import before `sim` would otherwise leave it on GLFW, which needs X)."""
    from mujoco.rendering.classic import gl_context

    if backend == "egl":
        from mujoco.egl import GLContext
    else:
        from mujoco.osmesa import GLContext
    gl_context.GLContext = GLContext


class BodycamRenderer:
    def __init__(self, model: mujoco.MjModel, width: int = 640, height: int = 480) -> None:
        backend = os.environ.get("MUJOCO_GL", "")
        if backend not in BACKENDS:
            raise RendererMissing(missing_message() if not backend
                                  else f"MUJOCO_GL={backend} cannot render headless; use egl or osmesa")
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        try:
            _use_backend(backend)
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as exc:  # the GL libraries raise assorted types
            other = "osmesa" if backend == "egl" else "egl"
            raise RendererMissing(f"MUJOCO_GL={backend} failed ({exc}); try MUJOCO_GL={other}, "
                                  f"or install {BACKENDS[backend][1]}") from exc
        self._camera = model.camera(R.BODYCAM).id
        self._option = mujoco.MjvOption()
        # Scene (0), payload (1) and the dog's simple proxies, not its 200k-face meshes (2).
        self._option.geomgroup[:] = 0
        for group in (0, 1, BODYCAM_PROXY_GROUP):
            self._option.geomgroup[group] = 1
        self.backend = backend
        self.width, self.height = width, height

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """The bodycam frame now, BGR uint8 (height, width, 3)."""
        self._renderer.update_scene(data, camera=self._camera, scene_option=self._option)
        rgb = self._renderer.render()
        return np.ascontiguousarray(rgb[:, :, ::-1])

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> "BodycamRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
