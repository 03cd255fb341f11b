import math

import pytest

from sim.people import position_on_loop


def test_walks_the_loop_at_speed():
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    assert position_on_loop(square, 1.0, 0.0) == pytest.approx((0, 0, 0))
    assert position_on_loop(square, 1.0, 3.0) == pytest.approx((2, 1, math.pi / 2))
    assert position_on_loop(square, 1.0, 8.0)[:2] == pytest.approx((0, 0))   # one lap = 8 m


def test_two_points_there_and_back():
    x, y, yaw = position_on_loop([(0.0, 0.0), (4.0, 0.0)], 2.0, 3.0)   # 6 m: 2 m on the way back
    assert (x, y) == pytest.approx((2.0, 0.0)) and yaw == pytest.approx(math.pi)
