"""Teleop: the handheld web page and its server (pairing, WebSocket protocol, session), the
gamepad (evdev) and keyboard mappings. Every input publishes `teleop/cmd_vel` into the safety mux.
"""
