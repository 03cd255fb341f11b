"""Teleop: the handheld web page and its server (pairing, WebSocket protocol, session), the
gamepad (evdev) and keyboard mappings. Each publishes its own `teleop/<source>/cmd_vel` input of the safety mux.
"""
