"""Simulator of the patrol robot dog: world, robot, bodycam, audio scene, virtual MCU."""
