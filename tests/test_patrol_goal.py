"""Navigation goals (robot_dog/patrol/goal.py) on a fake clock and a unicycle that does what it
is told: arrival within tolerance, progress and ETA, and every other outcome."""
import math

import pytest

from robot_dog.patrol.goal import GoalConfig, GoalRefused, GoalTracker, Outcome, check_point

DT = 0.1


def drive(tracker, pose=(0.0, 0.0, 0.0), seconds=120.0, driving=lambda t: True, moves=True):
    """Run the tracker on a unicycle for up to `seconds`; (final pose, progress trace)."""
    x, y, yaw = pose
    trace = []
    t = tracker.started
    while t < tracker.started + seconds and tracker.outcome is None:
        (vx, wz), progress = tracker.step((x, y, yaw), t, driving(t))
        trace.append(progress)
        if moves and driving(t):
            yaw += wz * DT
            x += vx * math.cos(yaw) * DT
            y += vx * math.sin(yaw) * DT
        t += DT
    return (x, y, yaw), trace


def test_a_point_ten_metres_away_is_reached_within_tolerance():
    tracker = GoalTracker([(10.0, 0.0)], started=0.0)
    (x, y, _), trace = drive(tracker)
    assert tracker.outcome is Outcome.ARRIVED
    assert math.dist((x, y), (10.0, 0.0)) <= 0.5
    lefts = [p.distance_left_m for p in trace]
    assert lefts[0] == pytest.approx(10.0) and lefts[-1] <= 0.5
    assert all(b <= a + 1e-9 for a, b in zip(lefts, lefts[1:]))  # straight at it: never farther
    assert trace[0].eta_s == pytest.approx(10.0 / GoalConfig().speed)


def test_a_route_passes_each_waypoint_and_ends_at_the_last():
    route = [(3.0, 0.0), (3.0, 3.0), (0.0, 3.0)]
    tracker = GoalTracker(route, started=0.0)
    (x, y, _), trace = drive(tracker)
    assert tracker.outcome is Outcome.ARRIVED
    assert math.dist((x, y), route[-1]) <= 0.5
    assert [p.waypoint_index for p in trace][-1] == 2
    assert trace[0].distance_left_m == pytest.approx(9.0)


def test_bad_points_are_refused_with_codes_before_anything_moves():
    config = GoalConfig(max_distance_m=50.0)
    for bad in ((math.nan, 0.0), (0.0, math.inf)):
        with pytest.raises(GoalRefused) as refused:
            check_point(bad, (0.0, 0.0), config)
        assert refused.value.code == "not_finite"
    with pytest.raises(GoalRefused) as refused:
        check_point((60.0, 0.0), (0.0, 0.0), config)
    assert refused.value.code == "too_far"
    assert check_point((30.0, 40.0), (0.0, 0.0), config) == (30.0, 40.0)
    with pytest.raises(GoalRefused) as refused:
        GoalTracker([], started=0.0)
    assert refused.value.code == "no_waypoints"
    with pytest.raises(GoalRefused) as refused:
        GoalTracker([(1.0, 0.0)], started=0.0, config=GoalConfig(tolerance_m=0.1))
    assert refused.value.code == "bad_tolerance"


def test_a_dog_that_does_not_move_while_driving_is_blocked():
    tracker = GoalTracker([(10.0, 0.0)], started=0.0, config=GoalConfig(blocked_after_s=5.0))
    _, trace = drive(tracker, moves=False)
    assert tracker.outcome is Outcome.BLOCKED
    assert 5.0 <= len(trace) * DT <= 5.5
    assert "10.0 m left" in tracker.detail


def test_waiting_while_another_input_drives_is_not_blocked_but_the_time_limit_holds():
    config = GoalConfig(blocked_after_s=5.0)
    tracker = GoalTracker([(10.0, 0.0)], started=0.0, config=config, timeout_s=60.0)
    _, trace = drive(tracker, driving=lambda t: False, seconds=59.0)
    assert tracker.outcome is None and all(p.waiting for p in trace)
    _, _ = drive(tracker, driving=lambda t: False, seconds=2.0)
    tracker2 = GoalTracker([(10.0, 0.0)], started=0.0, config=config, timeout_s=60.0)
    drive(tracker2, driving=lambda t: False, seconds=61.0)
    assert tracker2.outcome is Outcome.TIMED_OUT


def test_the_first_outcome_stands_and_the_command_is_zero_after_it():
    tracker = GoalTracker([(10.0, 0.0)], started=0.0)
    tracker.step((0.0, 0.0, 0.0), 0.0, True)
    tracker.finish(Outcome.ESTOP, "e-stop engaged by station")
    tracker.finish(Outcome.CANCELLED, "later")
    (vx, wz), _ = tracker.step((0.0, 0.0, 0.0), 0.1, True)
    assert tracker.outcome is Outcome.ESTOP and (vx, wz) == (0.0, 0.0)


def test_a_looping_route_never_arrives_and_is_not_blocked_while_it_walks():
    route = [(3.0, 0.0), (3.0, 3.0), (0.0, 3.0), (0.0, 0.0)]
    tracker = GoalTracker(route, started=0.0, loop=True, timeout_s=1e9,
                          config=GoalConfig(blocked_after_s=5.0))
    _, trace = drive(tracker, seconds=120.0)
    assert tracker.outcome is None
    assert math.isinf(trace[-1].distance_left_m)


def test_a_goal_at_the_dogs_own_position_arrives_at_once():
    tracker = GoalTracker([(1.0, 1.0)], started=0.0)
    (vx, wz), progress = tracker.step((1.1, 1.0, 0.0), 0.0, True)
    assert tracker.outcome is Outcome.ARRIVED and (vx, wz) == (0.0, 0.0)
    assert progress.distance_left_m == pytest.approx(0.1)


def test_a_newer_goal_preempts_the_running_one_which_then_stays_ended():
    first = GoalTracker([(10.0, 0.0)], started=0.0)
    (x, y, _), _ = drive(first, seconds=5.0)
    assert first.outcome is None and 2.0 < x < 8.0
    first.finish(Outcome.PREEMPTED, "pre-empted by navigate_to odom")
    # at its own target after all (the newer goal went there): still pre-empted, still zero
    (vx, wz), _ = first.step((10.0, 0.0, 0.0), 6.0, True)
    assert (first.outcome, (vx, wz)) == (Outcome.PREEMPTED, (0.0, 0.0))
    second = GoalTracker([(x, -3.0)], started=5.0)
    (x2, y2, _), _ = drive(second, pose=(x, y, 0.0))
    assert second.outcome is Outcome.ARRIVED and math.dist((x2, y2), (x, -3.0)) <= 0.5


def test_a_point_inside_an_object_of_the_map_is_refused_and_the_open_street_is_not():
    from robot_dog.patrol.obstacles import footprints
    from sim.scenario import load_scenario
    config = GoalConfig()
    plaza = footprints(load_scenario("plaza_day").objects)
    with pytest.raises(GoalRefused) as refused:
        check_point((12.0, 1.5), (0.0, 0.0), config, plaza)      # the library's middle
    assert refused.value.code == "in_obstacle" and "library (building)" in refused.value.detail
    assert check_point((0.0, -10.0), (0.0, 0.0), config, plaza) == (0.0, -10.0)
    assert check_point((12.0, 1.5), (0.0, 0.0), config) == (12.0, 1.5)   # no map: taken
    courtyard = footprints(load_scenario("obstacles").objects)
    # parked_car: 4.4 m x 1.8 m turned a quarter: long along y, narrow along x
    for inside in ((6.5, 3.5), (6.5, -0.5), (0.0, -2.1), (2.9, 0.4)):
        with pytest.raises(GoalRefused):
            check_point(inside, (0.0, 0.0), config, courtyard)
    for outside in ((8.0, 1.5), (5.0, 1.5), (0.2, -2.0), (3.1, 0.0)):
        assert check_point(outside, (0.0, 0.0), config, courtyard) == outside
