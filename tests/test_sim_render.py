"""The rendered bodycam (EGL/OSMesa on the CPU): the light heads show the MCU's light state."""
import numpy as np
import pytest

from sim.core import SimWorld, step
from sim.payload_view import PayloadOutputs, apply_look, outputs_from_snapshot, payload_look
from sim.scenario import load_scenario
from sim import robot as R


def test_look_follows_the_outputs():
    dark = payload_look(PayloadOutputs())
    red = payload_look(PayloadOutputs(red_on=True))
    assert dark[R.LIGHT_RED].emission == 0 and red[R.LIGHT_RED].emission == 1
    assert red[R.LIGHT_RED].rgba[0] > 0.9 and red[R.LIGHT_BLUE] == dark[R.LIGHT_BLUE]
    assert payload_look(PayloadOutputs(searchlight_output=1.0))[R.SEARCHLIGHT_LENS].emission == 1
    snap = {"red_on": False, "blue_on": True, "searchlight_output": 0.5}
    assert outputs_from_snapshot(snap) == PayloadOutputs(False, True, 0.5)


@pytest.fixture(scope="module")
def camera():
    from sim.render import BodycamRenderer
    world = SimWorld(load_scenario("street_night"), "kinematic")
    step(world)
    renderer = BodycamRenderer(world.model, 640, 480)
    yield world, renderer
    renderer.close()


def lit_region(world, renderer, outputs: PayloadOutputs) -> np.ndarray:
    """Mean BGR of the pixels that change when `outputs` switch on (the lit heads)."""
    apply_look(world.model, PayloadOutputs())
    dark = renderer.render(world.data).astype(int)
    apply_look(world.model, outputs)
    lit = renderer.render(world.data).astype(int)
    changed = np.abs(lit - dark).sum(axis=2) > 60
    assert changed.sum() > 2000, "the light heads are not in the bodycam's view"
    return lit[changed].mean(axis=0)


def test_frame_is_640x480_bgr(camera):
    world, renderer = camera
    frame = renderer.render(world.data)
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8


def test_red_head_lit_shows_red_blue_head_lit_shows_blue(camera):
    world, renderer = camera
    b, g, r = lit_region(world, renderer, PayloadOutputs(red_on=True))
    assert r > 150 and r > 3 * g and r > 3 * b
    b, g, r = lit_region(world, renderer, PayloadOutputs(blue_on=True))
    assert b > 150 and b > 2 * r and b > 1.5 * g


def test_searchlight_lights_the_street_at_night(camera):
    world, renderer = camera
    apply_look(world.model, PayloadOutputs())
    dark = renderer.render(world.data).astype(float)
    apply_look(world.model, PayloadOutputs(searchlight_output=1.0))
    lit = renderer.render(world.data).astype(float)
    apply_look(world.model, PayloadOutputs())
    # The beam falls on the pavement a few metres ahead: above the light bar, below the horizon.
    ahead = (slice(200, 320), slice(160, 480))
    assert lit[ahead].mean() > dark[ahead].mean() + 5


def test_missing_renderer_says_which_package_and_kinematic_runs_on(monkeypatch):
    """No EGL nor OSMesa: the bodycam is off with a message naming the Debian packages; the
    kinematic world keeps stepping and reporting state."""
    import time

    from sim.core import check_command
    from sim.render import BodycamRenderer, RendererMissing
    from sim.runner import RunnerConfig, SimRunner
    monkeypatch.delenv("MUJOCO_GL", raising=False)   # what sim.gl leaves when neither exists
    world = SimWorld(load_scenario("plaza_day"), "kinematic")
    with pytest.raises(RendererMissing, match="libegl1.*libosmesa6"):
        BodycamRenderer(world.model)
    states = []
    runner = SimRunner(world, RunnerConfig(real_time_factor=0.0, render=True), on_state=states.append)
    runner.command(check_command(0.5, 0.0, 0.0))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while (runner.renderer_error is None or len(states) < 20) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert "apt-get install libegl1" in runner.renderer_error and runner.frames == 0
    assert len(states) >= 20 and states[-1].position[0] > 0.0
