"""bench incident_stack's own parts that need no stack: the cross-track error against a polyline
with turns, and its goals being clear of every object of the `incident` scenario's map (the patrol
node would refuse a point inside one with `in_obstacle`; a leg grazing one would measure the
walk around it, not the tracking), and the time a goal waited for the operator's Resume."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from bench.bench_incident_stack import ROUTE, SCENARIO, TARGET, cross_track, waited
from robot_dog.patrol.obstacles import footprints, obstacle_at
from sim.scenario import load_scenario

CLEARANCE_M = 1.0   # the dog is 0.3 m wide and tracks within a few centimetres


def test_cross_track_is_the_distance_to_the_nearest_leg_of_the_polyline():
    ell = [(0.0, 0.0), (4.0, 0.0), (4.0, 3.0)]
    assert cross_track([(2.0, 0.0), (4.0, 1.5)], ell) == [0.0, 0.0]          # on a leg
    assert cross_track([(2.0, -0.3), (4.2, 2.0)], ell) == pytest.approx([0.3, 0.2])
    # cutting the corner inside counts from the nearer leg; overshooting it, from the corner
    assert cross_track([(3.5, 0.2)], ell) == pytest.approx([0.2])
    assert cross_track([(4.3, -0.4)], ell) == pytest.approx([0.5])
    # beyond either end: the distance to that end, not to the infinite line
    assert cross_track([(-3.0, 4.0), (4.0, 5.0)], ell) == pytest.approx([5.0, 2.0])


def test_the_goals_legs_are_clear_of_the_scenarios_objects():
    objects = footprints(load_scenario(SCENARIO).objects)
    start = load_scenario(SCENARIO).start
    legs = [((start.x, start.y), TARGET), *zip([TARGET, *ROUTE], ROUTE)]
    ring = [(CLEARANCE_M * math.cos(a / 8 * math.pi), CLEARANCE_M * math.sin(a / 8 * math.pi)) for a in range(16)]
    for (ax, ay), (bx, by) in legs:
        steps = max(1, round(math.dist((ax, ay), (bx, by)) / 0.1))
        for i in range(steps + 1):
            x, y = ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps
            hit = [(x + dx, y + dy, f.name) for dx, dy in ring if (f := obstacle_at((x + dx, y + dy), objects))]
            assert not hit, hit
    # and the check can fail: the parked car is within the clearance of a point beside it
    assert obstacle_at((10.0, -1.6 - 0.5), objects) is not None


def test_waiting_counts_each_wait_of_that_goal_to_its_next_state():
    heard = [(t, SimpleNamespace(label=label, state=state)) for t, label, state in (
        (1.0, "navigate_to odom", "waiting"), (1.5, "navigate_to odom", "arrived"),   # another goal
        (2.0, "follow_route (4 points)", "waiting"), (2.7, "follow_route (4 points)", "waiting"),
        (3.5, "follow_route (4 points)", "active"), (5.0, "follow_route (4 points)", "waiting"),
        (5.25, "follow_route (4 points)", "active"), (9.0, "follow_route (4 points)", "arrived"))]
    stack = SimpleNamespace(timed=lambda topic, since: [(t, m) for t, m in heard if t >= since])
    assert waited(stack, "follow_route", 0.0, 10.0) == pytest.approx(1.75)
    assert waited(stack, "navigate_to", 0.0, 10.0) == pytest.approx(0.5)
    assert waited(stack, "follow_route", 0.0, 4.0) == pytest.approx(1.5)     # after `until`: not yet
