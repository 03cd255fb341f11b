"""The robot constants against the compiled model and the policy's joint order."""
import numpy as np
import pytest

from sim import robot as R
from sim.assets import robot_assets
from sim.policy import STANCE_MODEL, to_model, to_policy


def test_policy_order_is_fr_fl_rr_rl_and_maps_by_name():
    assert [n.split("_")[0] for n in R.JOINTS_POLICY[::3]] == ["FR", "FL", "RR", "RL"]
    assert [n.split("_")[0] for n in R.JOINTS_MODEL[::3]] == ["FL", "FR", "RL", "RR"]
    for i, name in enumerate(R.JOINTS_POLICY):
        assert R.JOINTS_MODEL[R.POLICY_TO_MODEL[i]] == name


def test_to_policy_and_back():
    model_order = np.arange(12.0)
    policy_order = to_policy(model_order)
    # FR hip (model index 3) comes first for the policy, FL hip (model index 0) fourth.
    assert policy_order[0] == 3 and policy_order[3] == 0 and policy_order[6] == 9
    assert np.array_equal(to_model(policy_order), model_order)


def test_stance_per_joint_kind():
    for name, angle in zip(R.JOINTS_MODEL, STANCE_MODEL):
        assert angle == {"hip": 0.0, "thigh": 0.8, "calf": -1.5}[name.split("_")[1]]


@pytest.fixture(scope="module")
def model():
    from sim.model import build_model
    from sim.scenario import load_scenario
    return build_model(load_scenario("plaza_day"))


def test_compiled_model_joints_actuators_sensors_payload(model):
    joints = [model.joint(model.actuator_trnid[a, 0]).name for a in range(model.nu)]
    assert joints == list(R.JOINTS_MODEL)   # actuator i drives model-order joint i
    for sensor in (R.GYRO, R.ACCELEROMETER, R.ORIENTATION, R.LINEAR_VELOCITY, R.POSITION):
        assert model.sensor(sensor).id >= 0
    for geom in (R.LIGHT_RED, R.LIGHT_BLUE, R.SEARCHLIGHT_LENS):
        assert model.body(int(model.geom_bodyid[model.geom(geom).id])).name in (R.LIGHT_BAR, R.SEARCHLIGHT)
    for body in (R.LIGHT_BAR, R.SEARCHLIGHT, R.MEGAPHONE, R.BODYCAM_MOUNT):
        assert model.body(int(model.body_parentid[model.body(body).id])).name == R.TRUNK
    assert model.camera(R.BODYCAM).id >= 0 and model.light(R.SEARCHLIGHT).id >= 0
    assert model.vis.quality.shadowsize == 0


def test_assets_come_with_their_licences():
    assets = robot_assets()
    assert assets.model_xml.is_file() and assets.policy_onnx.is_file()
    texts = [p.read_text() for p in assets.licences]
    assert "Redistribution and use in source and binary forms" in texts[0]  # BSD-3-Clause
    assert "Apache License" in texts[1]


def test_cached_model_is_the_built_one(tmp_path):
    from sim.model import build_model, load_model
    from sim.scenario import load_scenario
    scenario = load_scenario("street_night")
    fresh = build_model(scenario)
    first = load_model(scenario, tmp_path)          # builds and stores
    cached = load_model(scenario, tmp_path)         # loads the binary
    assert len(list(tmp_path.glob("street_night-*.mjb"))) == 1
    for m in (first, cached):
        assert (m.nq, m.nu, m.ngeom, m.nmat, m.nlight, m.nsensor) == (
            fresh.nq, fresh.nu, fresh.ngeom, fresh.nmat, fresh.nlight, fresh.nsensor)
        assert [m.joint(i).name for i in range(m.njnt)] == [fresh.joint(i).name for i in range(fresh.njnt)]
        assert m.vis.map.znear == pytest.approx(fresh.vis.map.znear)
