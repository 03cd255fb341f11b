"""Launch-file parsing and validation (pure), the bad-input exit code 2 of the CLI, the policy."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from robot_dog.launch import policy
from robot_dog.launch.cli import main as launch_main
from robot_dog.launch.description import (
    DEFAULT_RESPAWN_MAX_RETRIES, LaunchFileError, format_param_value, load, parse)

REPO = Path(__file__).resolve().parents[1]


def yaml_text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


GOOD = yaml_text("""
    launch:
    - arg: {name: rate, default: "5.0"}
    - arg: {name: ns, default: dog1}
    - node:
        pkg: robot_dog
        exec: talker_node
        name: talker
        namespace: $(var ns)
        param:
        - {name: rate_hz, value: $(var rate)}
        - {name: label, value: "5"}
        - {name: gains, value: [1, 2.5]}
        - {name: enabled, value: true}
        remap:
        - {from: chatter, to: chat}
        respawn: "true"
        respawn_delay: 0.5
        on_exit: shutdown
    - node:
        pkg: robot_dog
        exec: listener_node
        ros_args: --log-level debug
    """)


def test_parses_nodes_params_remaps_and_substitutions() -> None:
    launch = parse(GOOD, "good.yaml")
    talker, listener = launch.nodes
    assert (talker.name, talker.namespace, talker.line) == ("talker", "dog1", 4)
    assert [(p.name, p.value) for p in talker.params] == [
        ("rate_hz", 5.0), ("label", "5"), ("gains", (1.0, 2.5)), ("enabled", True)]
    assert talker.params[0].line == 10
    assert [(r.source, r.target) for r in talker.remaps] == [("chatter", "chat")]
    assert (talker.respawn, talker.respawn_delay_s, talker.required) == (True, 0.5, True)
    assert talker.respawn_max_retries == DEFAULT_RESPAWN_MAX_RETRIES
    assert listener.name is None and listener.label == "listener_node" and not listener.required
    assert listener.ros_args == ("--log-level", "debug")


def test_overrides_replace_defaults() -> None:
    launch = parse(GOOD, "good.yaml", {"rate": "10", "ns": "dog7"})
    assert launch.nodes[0].namespace == "dog7"
    assert launch.nodes[0].params[0].value == 10


def test_command_line_types_survive_the_round_trip() -> None:
    argv = policy.ros_arguments(parse(GOOD, "good.yaml").nodes[0])
    assert argv == ["--ros-args", "-r", "__node:=talker", "-r", "__ns:=/dog1",
                    "-p", "rate_hz:=5.0", "-p", "label:='5'", "-p", "gains:=[1.0, 2.5]",
                    "-p", "enabled:=true", "-r", "chatter:=chat"]
    assert format_param_value("hello world") == "hello world"


@pytest.mark.parametrize("body, line, words", [
    ("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_nod\n", 4, "unknown executable 'talker_nod'"),
    ("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node\n    param:\n"
     "    - {name: rate_hz, value: {a: 1}}\n", 6, "bad type dict"),
    ("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node\n    param:\n"
     "    - {name: mixed, value: [1, x]}\n", 6, "one type"),
    ("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node: x\n", 4, "YAML error"),
    ("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node\n    colour: red\n", 5, "unknown key 'colour'"),
    ("launch:\n- group:\n    x: 1\n", 2, "unsupported action 'group'"),
    ("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node\n    name: $(var nope)\n", 5,
     "undefined launch argument 'nope'"),
    ("launch:\n- node:\n    pkg: other_pkg\n    exec: talker_node\n", 3, "unknown package"),
    ("launch:\n- node: {pkg: robot_dog, exec: talker_node, name: a}\n"
     "- node: {pkg: robot_dog, exec: listener_node, name: a}\n", 3, "already launched at line 2"),
    ("launch:\n- node: {pkg: robot_dog, exec: talker_node, on_exit: restart}\n", 2, "only 'shutdown'"),
    ("launch:\n- node: {pkg: robot_dog, exec: talker_node, respawn: maybe}\n", 2, "true or false"),
    ("launch:\n- arg: {name: x}\n", 2, "no default"),
])
def test_errors_name_the_line(body: str, line: int, words: str) -> None:
    with pytest.raises(LaunchFileError) as info:
        parse(body, "bad.yaml")
    assert (info.value.path, info.value.line) == ("bad.yaml", line), str(info.value)
    assert words in info.value.message
    assert str(info.value).startswith(f"bad.yaml:{line}: ")


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(LaunchFileError, match="unknown launch argument"):
        parse(GOOD, "good.yaml", {"speed": "1"})


def test_cli_prints_file_and_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- node:\n    pkg: robot_dog\n    exec: no_such_node\n")
    assert launch_main([str(bad)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"{bad}:4: unknown executable 'no_such_node'")
    assert launch_main([str(tmp_path / "missing.yaml")]) == 2
    assert launch_main([str(bad), "not-an-override"]) == 2


@pytest.mark.slow
def test_module_entry_exits_2_on_yaml_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.launch.yaml"
    bad.write_text("launch:\n- node: {pkg: robot_dog\n")
    result = subprocess.run([sys.executable, "-m", "robot_dog.launch", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:") and "YAML error" in result.stderr


def test_every_shipped_launch_file_parses_with_upstream_attribute_types() -> None:
    """All of launch/ (dog.launch.yaml too) and the test data: parsed with their defaults, which
    applies the front-end type table, so each would also be typed right for ros2 launch."""
    from robot_dog.launch.description import load
    files = sorted((REPO / "launch").rglob("*.yaml")) + sorted(
        (REPO / "tests" / "data" / "launch").glob("*.yaml"))
    names = {p.relative_to(REPO).as_posix() for p in files}
    assert {"launch/dog.launch.yaml", "launch/payload.launch.yaml",
            "launch/examples/talker_listener.launch.yaml"} <= names
    for path in files:
        assert load(path).nodes, path


@pytest.mark.parametrize("attribute, words", [
    ("respawn: true", "'respawn' must be a string"),            # upstream: a substitution string
    ("respawn_delay: 1", "'respawn_delay' must be a float"),     # an int is not a float there
    ("respawn_max_retries: 2.5", "'respawn_max_retries' must be an integer"),
    ("name: 5", "'name' must be a string"),
    ("ros_args: [--log-level, debug]", "'ros_args' must be a string"),
    ("param: {name: x, value: 1}", "'param' must be a list"),
])
def test_types_the_upstream_front_end_refuses_are_refused(attribute: str, words: str) -> None:
    body = f"launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node\n    {attribute}\n"
    with pytest.raises(LaunchFileError) as info:
        parse(body, "typed.yaml")
    assert info.value.line == 5 and words in info.value.message, str(info.value)
    assert "ros2 launch" in info.value.message


def test_an_unquoted_arg_default_is_refused_with_the_quoted_spelling() -> None:
    with pytest.raises(LaunchFileError, match=r"'default' must be a string .*default: \"1883\""):
        parse("launch:\n- arg: {name: port, default: 1883}\n", "typed.yaml")
    with pytest.raises(LaunchFileError, match=r'respawn: "true"'):
        parse("launch:\n- node: {pkg: robot_dog, exec: talker_node, respawn: true}\n", "t.yaml")


# -- policy --------------------------------------------------------------------------------------
def _spec(**changes: object):
    from dataclasses import replace
    return replace(parse(GOOD, "good.yaml").nodes[0], **changes)


def test_respawn_until_the_cap_then_required_shuts_down() -> None:
    spec = _spec(respawn=True, respawn_max_retries=2, required=True)
    assert policy.on_exit(spec, 3, 0).action is policy.Action.RESPAWN
    assert policy.on_exit(spec, 3, 1).delay_s == 0.5
    assert policy.on_exit(spec, 3, 2).action is policy.Action.SHUTDOWN
    assert policy.on_exit(_spec(respawn=True, respawn_max_retries=-1), 1, 999).action is policy.Action.RESPAWN
    assert policy.on_exit(_spec(respawn=False, required=False), 0, 0).action is policy.Action.GIVE_UP
    assert "SIGSEGV" in policy.on_exit(_spec(respawn=False, required=False), -11, 0).reason


def test_exit_code() -> None:
    assert policy.final_exit_code(True, False, [0, -2]) == 0
    assert policy.final_exit_code(True, True, [0]) == 1
    assert policy.final_exit_code(False, False, [0, None]) == 0
    assert policy.final_exit_code(False, False, [0, 3]) == 1


def test_labels_disambiguate() -> None:
    a = _spec(name="cam", namespace="dog1")
    b = _spec(name="cam", namespace="dog2")
    c = _spec(name="talker", namespace=None)
    assert policy.labels((a, b, c)) == ["dog1/cam", "dog2/cam", "talker"]


def test_forever_respawn_backs_off_and_the_streak_resets() -> None:
    spec = _spec(respawn=True, respawn_max_retries=-1, respawn_delay_s=1.0)
    delays = [policy.on_exit(spec, 1, n, crash_streak=n).delay_s for n in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert policy.on_exit(spec, 1, 50, crash_streak=0).delay_s == 1.0   # ran long enough
    capped = _spec(respawn=True, respawn_max_retries=3, respawn_delay_s=0.5)
    assert policy.on_exit(capped, 1, 2, crash_streak=2).delay_s == 0.5  # capped retries: fixed


def test_shipped_hardware_nodes_respawn_forever() -> None:
    root = Path(__file__).resolve().parents[1] / "launch"
    for file in ("payload.launch.yaml", "dog.launch.yaml"):
        [payload] = [n for n in load(root / file).nodes if n.executable == "payload_node"]
        assert (payload.respawn, payload.respawn_max_retries) == (True, -1), file
