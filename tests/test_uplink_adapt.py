"""Video adaptation policy and link meter: pure, driven by a fake clock."""
from robot_dog.uplink.adapt import AdaptConfig, AdaptState, LinkMeter, LinkSample, congested, next_level

CFG = AdaptConfig(calm_s=5.0, hold_s=1.0)
GOOD = LinkSample(rtt_ms=20.0, write_ms=5.0, frames_pending=0)
SLOW = LinkSample(rtt_ms=20.0, write_ms=400.0, frames_pending=0)


def test_congestion_signals():
    assert not congested(GOOD, CFG)
    assert congested(SLOW, CFG)
    assert congested(LinkSample(None, None, frames_pending=3), CFG)
    assert congested(LinkSample(rtt_ms=2000.0, write_ms=None, frames_pending=0), CFG)
    assert not congested(LinkSample(None, None, 0), CFG)  # nothing measured yet: full quality


def test_steps_down_at_most_once_per_hold_and_stops_at_the_bottom():
    state, levels = AdaptState(), []
    for tick in range(40):  # 0.5 s ticks, congested for 20 s
        state = next_level(state, SLOW, tick * 0.5, CFG)
        levels.append(state.level)
    assert levels[0] == 1 and levels[1] == 1 and levels[2] == 2  # hold 1 s between steps
    assert max(levels) == len(CFG.ladder) - 1 and levels[-1] == len(CFG.ladder) - 1


def test_steps_up_one_level_only_after_calm_period():
    state = AdaptState(level=3, last_change=0.0, last_congested=0.0)
    assert next_level(state, GOOD, 4.9, CFG).level == 3
    state = next_level(state, GOOD, 5.0, CFG)
    assert state.level == 2
    assert next_level(state, GOOD, 9.9, CFG).level == 2  # calm counted from the last change
    assert next_level(state, GOOD, 10.0, CFG).level == 1
    # congestion during the calm period restarts it
    state = next_level(state, SLOW, 6.0, CFG)
    assert state.level == 3 and next_level(state, GOOD, 10.9, CFG).level == 3


def test_link_meter_rtt_write_delay_and_throughput():
    meter = LinkMeter(window_s=5.0, alpha=1.0)
    meter.sent(1, 1000, 0.0)
    meter.sent(2, 50_000, 0.0, video=True)
    assert meter.frames_pending == 1
    meter.acked(1, 0.040)
    meter.acked(2, 0.200)
    meter.acked(99, 0.3)  # not ours: ignored
    assert round(meter.rtt_ms) == 40 and round(meter.write_ms) == 200
    assert meter.frames_pending == 0
    assert meter.throughput_bps(1.0) == 51_000 / 5.0
    assert meter.throughput_bps(10.0) == 0.0
    meter.sent(3, 10, 11.0, video=True)
    meter.reset()
    assert meter.frames_pending == 0


def test_ack_reported_before_publish_returned_its_mid():
    meter = LinkMeter(alpha=1.0)
    meter.acked(7, 1.010)                  # paho wrote it inside publish()
    meter.sent(7, 100, 1.000, video=True)  # t0 was taken before publish
    assert meter.frames_pending == 0 and round(meter.write_ms) == 10
