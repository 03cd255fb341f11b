"""Gamepad mapping fed with a recorded evdev event stream (this machine has no /dev/input or
/dev/uinput, so no virtual device: the stream is what python-evdev's read loop yields)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from robot_dog.teleop.gamepad import Axis, GamepadCore, GamepadMapping, disconnected

DATA = Path(__file__).parent / "data" / "gamepad"
DEFAULT = Path(__file__).parents[1] / "robot_dog" / "teleop" / "gamepad_default.yaml"


def replay(core: GamepadCore, path: Path, tick_s: float = 0.05, end: float = 1.2):
    events = [tuple(float(x) if i == 0 else int(x) for i, x in enumerate(line.split()))
              for line in path.read_text().splitlines() if line and not line.startswith("#")]
    out, t, i = [], 0.0, 0
    while t <= end + 1e-9:
        while i < len(events) and events[i][0] <= t + 1e-9:
            core.feed(events[i][1], events[i][2], events[i][3], events[i][0])
            i += 1
        sent = core.tick(t)
        if sent is not None:
            out.append((round(t, 3), tuple(round(v, 3) for v in sent)))
        t = round(t + tick_s, 6)
    return out


def test_recorded_stream_enable_turbo_turn_release():
    mapping = GamepadMapping.from_file(DEFAULT)
    out = dict(replay(GamepadCore(mapping), DATA / "drive_and_release.events"))
    assert 0.0 not in out and 0.05 not in out               # stick forward, enable not held
    assert out[0.1] == (0.5, 0.0, 0.0)                       # enable: full stick = 0.5 m/s
    assert out[0.15] == (0.25, 0.0, 0.0)                     # half stick
    assert out[0.3] == (0.5, 0.0, 0.0)                       # turbo doubles (0.5 -> 1.0 m/s)
    assert out[0.4] == (0.5, 0.0, 1.0)                       # right stick left: turn left, turbo
    assert out[0.5] == (0.25, 0.0, 0.0)                      # turbo and turn released
    assert out[0.6] == (0.0, 0.0, 0.0)                       # inside the deadzone
    assert out[0.75] == (0.5, 0.0, 0.0)
    assert out[0.8] == (0.0, 0.0, 0.0)                       # enable released: zero once
    assert [t for t in out if t > 0.8] == []                 # then silent
    assert all(b - a >= 0.05 - 1e-9 for a, b in zip(sorted(out), sorted(out)[1:]))  # <= 20 Hz


def test_disconnect_stops_like_a_release():
    core = GamepadCore(GamepadMapping.from_file(DEFAULT))
    core.feed(1, 310, 1, 0.0)
    core.feed(3, 1, -32768, 0.0)
    assert core.tick(0.0) == (0.5, 0.0, 0.0)
    disconnected(core)
    assert core.tick(0.05) == (0.0, 0.0, 0.0) and core.tick(0.1) is None


def test_axis_normalisation_and_bad_files(tmp_path):
    axis = Axis(code=0, minimum=0, maximum=255)
    assert axis.normalise(0) == -1.0 and axis.normalise(255) == 1.0 and axis.normalise(128) == 0.0
    assert Axis(code=0, invert=True).normalise(-32768) == 1.0
    bad = tmp_path / "bad.yaml"
    bad.write_text("enable_button: 1\nturbo_button: 2\nlinear_x: {code: 1}\n"
                   "angular_z: {code: 0}\nwarp_drive: 9\n")
    with pytest.raises(ValueError, match="warp_drive"):
        GamepadMapping.from_file(bad)


@pytest.mark.skipif(not os.access("/dev/uinput", os.W_OK),
                    reason="no writable /dev/uinput on this machine (container kernel): the "
                           "recorded stream above stands in for a virtual device")
def test_virtual_uinput_gamepad_drives():
    import select
    import time

    import evdev
    from evdev import AbsInfo, UInput, ecodes as e
    caps = {e.EV_KEY: [e.BTN_TL, e.BTN_TR, e.BTN_SOUTH],
            e.EV_ABS: [(e.ABS_Y, AbsInfo(0, -32768, 32767, 0, 0, 0)),
                       (e.ABS_RX, AbsInfo(0, -32768, 32767, 0, 0, 0))]}
    core = GamepadCore(GamepadMapping.from_file(DEFAULT))
    with UInput(caps, name="robot-dog test pad") as pad:
        device = evdev.InputDevice(pad.device.path)
        pad.write(e.EV_KEY, e.BTN_TL, 1)
        pad.write(e.EV_ABS, e.ABS_Y, -32768)
        pad.syn()
        end = time.monotonic() + 10
        while core.tick(time.monotonic()) is None and time.monotonic() < end:
            select.select([device.fd], [], [], 0.1)
            for event in device.read():
                core.feed(event.type, event.code, event.value, event.timestamp())
        assert core.twist() == (0.5, 0.0, 0.0)
