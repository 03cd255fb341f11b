"""Simulator of the patrol robot dog: world, robot, bodycam, audio scene, virtual MCU."""
from sim.gl import configure as _configure_gl

_configure_gl()  # before anything imports mujoco: it reads MUJOCO_GL once
