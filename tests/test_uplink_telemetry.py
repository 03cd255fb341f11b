"""Uplink core: telemetry snapshots and the newest-wins video rate gate."""
import math

import pytest

from robot_dog.uplink import telemetry as tm
from robot_dog.uplink.telemetry import RateGate, TelemetryState


def test_snapshot_has_only_received_fields_with_their_age():
    state = TelemetryState("dog1")
    first = state.snapshot(10.0)
    assert first == {"v": 1, "dog": "dog1", "seq": 1, "ts": 10.0}
    state.update("battery", {"percentage": 0.8}, 9.5)
    second = state.snapshot(10.0)
    assert second["battery"] == {"percentage": 0.8} and second["age_s"] == {"battery": 0.5}
    assert second["seq"] == 2


def test_rate_gate_admits_at_most_the_rate_and_never_queues():
    gate = RateGate(10.0)
    admitted = [t / 100 for t in range(0, 100) if gate.admit(t / 100)]  # offers at 100 Hz for 1 s
    assert 10 <= len(admitted) <= 1 + 1.05 * 10      # the rate, 5 % slack
    assert all(b - a >= 0.09 - 1e-9 for a, b in zip(admitted, admitted[1:]))
    with pytest.raises(ValueError):
        RateGate(0)


def test_rate_gate_keeps_every_frame_of_a_camera_at_the_rate_that_jitters():
    import random
    rng = random.Random(5)
    gate = RateGate(15.0)
    # 15 fps for 60 s, each frame up to 20 ms late (a loaded publisher, DDS, this executor)
    offers = [i / 15 + rng.uniform(0.0, 0.020) for i in range(900)]
    assert sum(gate.admit(t) for t in sorted(offers)) == 900


def test_rate_gate_halves_a_camera_at_twice_the_rate_and_bounds_any_window():
    gate = RateGate(15.0)
    admitted = [i / 30 for i in range(300) if gate.admit(i / 30)]  # 30 fps for 10 s
    assert 149 <= len(admitted) <= 2 + 1.05 * 150
    # after a pause the saved budget is at most `burst` frames, then the rate again
    late = [10.0 + i / 1000 for i in range(1000) if gate.admit(10.0 + i / 1000)]  # 1 kHz for 1 s
    assert len(late) <= 2 + 1.05 * 15


def test_a_restarted_dog_counts_on_above_every_seq_it_sent_before():
    from robot_dog.uplink.telemetry import boot_seq
    first = TelemetryState("dog1", seq=boot_seq(1000.0))
    sent = [first.snapshot(1000.0 + i / 10)["seq"] for i in range(600)]  # 60 s at 10 Hz
    again = TelemetryState("dog1", seq=boot_seq(1060.0))              # restarted right after
    assert again.snapshot(1060.0)["seq"] > max(sent)


def test_sections_without_numbers_are_left_out_not_sent_as_nan():
    from robot_dog.uplink import telemetry as tm
    nan = float("nan")
    assert tm.pose_section(nan, 1.0, 0.0, 0, 0, 0, 1) is None
    assert tm.pose_section(1.0, 2.0, nan, 0, 0, 0, 1) == {"frame": "odom", "x": 1.0, "y": 2.0,
                                                          "yaw": 0.0}
    assert tm.velocity_section(0.5, float("inf"), 0.0) is None
    assert tm.velocity_section(0.5, 0.0, -0.1) == {"vx": 0.5, "vy": 0.0, "wz": -0.1}


def test_the_recorder_section_carries_state_storage_and_upload_backlog():
    from robot_dog.mqtt import schema
    section = tm.recorder_section("post_event", "e-stop engaged", pre_event_s=30.0, storage="low",
                                  bytes_used=10, bytes_free=20, locked=True, recording_id="DOG-1-x",
                                  backlog={"items": 3, "bytes": 4000})
    assert section == {"recording": True, "reason": "e-stop engaged", "state": "post_event",
                       "locked": True, "recording_id": "DOG-1-x", "pre_event_s": 30.0,
                       "storage": "low", "bytes_used": 10, "bytes_free": 20,
                       "upload_backlog_items": 3, "upload_backlog_bytes": 4000}
    state = tm.TelemetryState("dog1")
    state.update("payload.bodycam", section, 1.0)
    schema.encode("telemetry", state.snapshot(1.5))   # valid against the published schema
    assert tm.recorder_section("idle", "", pre_event_s=math.nan)["recording"] is False


def test_the_goal_section_says_what_the_patrol_node_does_in_schema_terms():
    from robot_dog.mqtt import schema
    from robot_dog.uplink.telemetry import goal_section
    inf, nan = float("inf"), float("nan")
    looping = goal_section("follow_route patrol", "active", "", 2, inf, inf, 3.0, 4.0)
    assert looping == {"label": "follow_route patrol", "state": "active", "waypoint_index": 2,
                       "distance_left_m": None, "eta_s": None, "target": {"x": 3.0, "y": 4.0}}
    assert goal_section("", "idle", "", 0, 0.0, 0.0, nan, nan) == {"label": "", "state": "idle",
                                                                   "waypoint_index": 0}
    ended = goal_section("return home", "blocked", "no progress for 10 s", 0, 4.5, 9.0, 0.0, 0.0)
    assert ended["detail"] == "no progress for 10 s" and ended["distance_left_m"] == 4.5
    for section in (looping, ended):
        schema.check("telemetry", {"v": 1, "dog": "dog1", "ts": 1.0, "seq": 1, "goal": section})


def test_a_running_goal_carries_its_route_and_an_ended_one_does_not():
    """The map draws the route from this section alone: every waypoint in order while the work
    runs; nothing once it ended (the map clears), and none rather than a route cut short."""
    from robot_dog.mqtt import schema
    from robot_dog.uplink.telemetry import ROUTE_POINTS_MAX, goal_section
    flat = [6.0, 0.0, 6.0, 2.0, 0.123456, 2.0, 0.0, 0.0]
    running = goal_section("follow_route patrol", "waiting", "", 1, 8.0, 16.0, 0.0, 0.0, flat)
    assert running["waypoints"] == [[6.0, 0.0], [6.0, 2.0], [0.12, 2.0], [0.0, 0.0]]
    schema.check("telemetry", {"v": 1, "dog": "dog1", "ts": 1.0, "seq": 1, "goal": running})
    for state in ("arrived", "cancelled", "estop", "idle"):
        assert "waypoints" not in goal_section("follow_route patrol", state, "", 1, 0.0, 0.0,
                                               0.0, 0.0, flat)
    too_long = [float(v) for v in range(2 * ROUTE_POINTS_MAX + 2)]
    odd, not_finite = flat[:-1], [*flat[:-1], float("nan")]
    for bad in (too_long, odd, not_finite):
        assert "waypoints" not in goal_section("follow_route", "active", "", 0, 1.0, 1.0, 0.0, 0.0, bad)
    longest = goal_section("follow_route", "active", "", 0, 1.0, 1.0, 0.0, 0.0, too_long[:-2])
    assert len(longest["waypoints"]) == ROUTE_POINTS_MAX
    schema.check("telemetry", {"v": 1, "dog": "dog1", "ts": 1.0, "seq": 1, "goal": longest})
