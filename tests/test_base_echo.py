"""The echo base core: follows commands, integrates odometry, walks only standing."""
from __future__ import annotations

import math

import pytest

from robot_dog.base.echo import EchoBase
from robot_dog.errors import Refused


def test_integrates_a_quarter_turn_and_a_straight_line():
    base = EchoBase()
    assert base.command(1.0, 0.0, 0.0, 0.0) == ""
    base.advance(2.0)
    assert (base.x, base.y) == (pytest.approx(2.0), pytest.approx(0.0))
    base.command(0.0, 0.0, math.pi / 2, 2.0)
    base.advance(3.0)
    assert base.yaw == pytest.approx(math.pi / 2)
    base.command(1.0, 0.0, 0.0, 3.0)
    base.advance(4.0)
    assert (base.x, base.y) == (pytest.approx(2.0), pytest.approx(1.0))


def test_modes():
    base = EchoBase()
    base.command(0.3, 0, 0, 0.0)
    with pytest.raises(Refused) as moving:
        base.set_mode("sit", 0.1)
    assert (moving.value.code, moving.value.detail) == ("moving", "cannot sit while moving")
    assert base.mode == "stand"
    base.command(0, 0, 0, 0.2)
    base.set_mode("sit", 0.3)
    assert base.mode == "sit"
    assert base.command(0.3, 0, 0, 0.4) == "in sit: cannot walk" and not base.moving
    with pytest.raises(Refused) as unknown:
        base.set_mode("fly", 0.5)
    assert unknown.value.code == "unknown_mode" and base.mode == "sit"
    assert base.command(float("nan"), 0, 0, 0.6).startswith("non-finite")
