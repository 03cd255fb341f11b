"""Keyboard teleop mapping: keys, speed steps, zero on release (no autorepeat), fake clock."""
from __future__ import annotations

import pytest

from robot_dog.teleop.keyboard import KeyboardTeleop


def test_keys_map_like_teleop_twist_keyboard():
    kb = KeyboardTeleop(speed=0.3, turn=0.5)
    assert kb.key("i", 0.0) == (0.3, 0.0)
    assert kb.key(",", 0.0) == (-0.3, 0.0)
    assert kb.key("u", 0.0) == (0.3, 0.5)
    assert kb.key("k", 0.0) == (0.0, 0.0)
    assert kb.key("?", 0.0) is None
    assert kb.key("w", 0.0) is None and kb.speed == pytest.approx(0.33) and kb.turn == 0.5
    for _ in range(30):
        kb.key("q", 0.0)
    assert (kb.speed, kb.turn) == (1.0, 1.0)             # never past the limits


def test_release_sends_zero_once_autorepeat_does_not():
    kb = KeyboardTeleop()
    t = 0.0
    while t < 1.0:                                        # held: autorepeat every 33 ms
        kb.key("i", t)
        assert kb.tick(t + 0.01) is None
        t += 0.033
    assert kb.tick(t + 0.2) is None
    assert kb.tick(t + 0.26) == (0.0, 0.0)
    assert kb.tick(t + 1.0) is None
