"""One error root, and the refusal codes of docs/errors.md kept in step with the code."""
import importlib
import re
import sys
from pathlib import Path

import pytest

from robot_dog import verbs
from robot_dog.errors import Refused, RobotDogError

ROOT = Path(__file__).resolve().parents[1]
#: Raise sites with a literal code: Refused-family constructors, `code = "..."` (and
#: `code, status = "...", 409`) class attributes,
#: `code="..."` keywords and defaults, and the safety cores' Refused(reason, "code").
_FIRST = re.compile(r'\b(?:\w*Refused|\w*Rejected|HttpError|Answer)\(\s*(?:command,\s*)?"([a-z][a-z0-9_]*)"')
_PAGE = re.compile(r'\b_result\([\w.]+,\s*"([a-z][a-z0-9_]*)"')   # the handheld's answers
_ATTR = re.compile(r'^\s+code(?:, status)? = "([a-z][a-z0-9_]*)"', re.M)
_KEYWORD = re.compile(r'\bcode(?:: str)? ?= ?"([a-z][a-z0-9_]*)"')
_SAFETY = re.compile(r'raise Refused\((.*?)\)\s*\n', re.S)


def raised_codes() -> set[str]:
    codes: set[str] = set()
    for path in [*ROOT.glob("robot_dog/**/*.py"), *ROOT.glob("sim/*.py"), *ROOT.glob("firmware_bridge/*.py")]:
        text = path.read_text()
        for rx in (_FIRST, _PAGE, _ATTR, _KEYWORD):
            codes.update(rx.findall(text))
        if "safety" in path.parts:
            for args in _SAFETY.findall(text):
                literals = re.findall(r'"([a-z][a-z0-9_]*)"', args)
                if literals and args.rstrip().endswith(f'"{literals[-1]}"'):
                    codes.add(literals[-1])
    return codes | set(verbs.COMMON_REFUSALS) | {c for v in verbs.VERBS.values() for c in v.refusals}


def documented_codes() -> set[str]:
    return set(re.findall(r"^\| `([a-z][a-z0-9_]*)` \|", (ROOT / "docs/errors.md").read_text(), re.M))


def test_every_code_is_documented_and_every_documented_code_is_raised():
    raised, documented = raised_codes(), documented_codes()
    assert len(raised) > 60, "the scanner found too little: fix its patterns"
    assert raised - documented == set(), "add these to docs/errors.md"
    assert documented - raised == set(), "no longer raised: remove from docs/errors.md"


@pytest.mark.parametrize("name", [
    "robot_dog.mqtt.errors:MqttLinkError", "robot_dog.safety.errors:SafetyError",
    "robot_dog.payload.errors:PayloadError", "robot_dog.teleop.errors:HandheldRefused",
    "robot_dog.station.dispatch:DispatchError", "robot_dog.station.ingest:MessageRejected",
    "robot_dog.station.storage.writer:StorageError", "robot_dog.fleet.layout:FleetError",
    "robot_dog.launch.errors:LaunchError", "firmware_bridge.errors:BridgeError",
    "robot_dog.patrol.goal:GoalRefused", "robot_dog.uplink.talk:VoiceRefused",
    "robot_dog.mqtt.signing:CommandRejected", "robot_dog.mqtt.results:ResultRefused",
    "robot_dog.mqtt.talk_seal:SealError",   # sim.core: importing MuJoCo is no fast test
])
def test_every_part_errs_under_the_one_root(name):
    module, _, cls = name.partition(":")
    assert issubclass(getattr(importlib.import_module(module), cls), RobotDogError), name


def test_refusals_carry_code_and_detail_the_same_way():
    """str() of every refusal is its words: each edge puts the code beside them itself (the CLI's
    "words (code)", the `code` fields of HTTP, MQTT and WebSocket answers), never twice."""
    from robot_dog.mqtt.signing import Expired
    from robot_dog.patrol.goal import GoalRefused
    from robot_dog.payload.errors import RequestRefused
    from robot_dog.safety.errors import Refused as SafetyRefused
    from robot_dog.station.incidents import IncidentRefused
    from robot_dog.station.ingest import MessageRejected
    from robot_dog.teleop.errors import HandheldRefused
    for exc, code in ((Expired("too late"), "expired"), (SafetyRefused("held", "not_held"), "not_held"),
                      (HandheldRefused("too_fast", "slow down"), "too_fast"),
                      (GoalRefused("too_far", "300 m away"), "too_far"),
                      (IncidentRefused("incident_closed", "closed at 10:02"), "incident_closed"),
                      (RequestRefused("e-stop engaged", code="estop_engaged"), "estop_engaged"),
                      (MessageRejected("oversized", "9 MB"), "oversized")):
        assert isinstance(exc, Refused) and exc.code == code and exc.detail and str(exc) == exc.detail


def test_the_cli_catches_the_root_once_and_prints_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "boom_cli.py").write_text(
        "from robot_dog.errors import Refused\n"
        "def main(argv):\n    raise Refused('hold_mismatch', 'not your hold')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from robot_dog.cli import main as cli
    monkeypatch.setitem(cli.VERBS, "boom", "boom_cli")
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err == "robot-dog boom: not your hold (hold_mismatch)\n"
    sys.modules.pop("boom_cli", None)


def test_every_service_of_ours_answers_accepted_code_and_message():
    """One shape of answer (errors.answer fills it, errors.outcome reads it): no service keeps
    its refusal under another name (`reason`, `reason_refused`) for a client to guess."""
    shapes = {}
    for srv in sorted((ROOT / "ros_ws/src/robot_dog_interfaces/srv").glob("*.srv")):
        response = srv.read_text().split("\n---\n", 1)[1]
        fields = [line.split("#")[0].split() for line in response.splitlines()]
        shapes[srv.stem] = [tuple(f[:2]) for f in fields if len(f) >= 2]
    assert len(shapes) >= 12
    for name, fields in shapes.items():
        assert fields[:3] == [("bool", "accepted"), ("string", "code"), ("string", "message")], name
        assert not {"reason", "reason_refused"} & {f for _, f in fields}, name
