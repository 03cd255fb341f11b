"""Backend choice for CPU rendering (no rendering here: sim.gl.configure is pure)."""
from sim.gl import configure, missing_message


def test_egl_first_then_osmesa_then_nothing():
    env: dict[str, str] = {}
    assert configure(env, lambda lib: "lib" if lib in ("EGL", "OSMesa") else None) == "egl"
    assert env == {"MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl"}
    env = {}
    assert configure(env, lambda lib: "lib" if lib == "OSMesa" else None) == "osmesa"
    env = {}
    assert configure(env, lambda lib: None) is None and env == {}


def test_respects_an_explicit_choice():
    env = {"MUJOCO_GL": "osmesa"}
    assert configure(env, lambda lib: "lib") == "osmesa" and env["PYOPENGL_PLATFORM"] == "osmesa"


def test_missing_message_names_debian_packages():
    text = missing_message()
    assert "libegl1" in text and "libosmesa6" in text and "kinematic" in text
