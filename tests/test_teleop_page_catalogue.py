"""The handheld page's message catalogue (robot_dog/teleop/web/messages.js) against the codes the
dog sends: every refusal code the handheld server, its node and the safety core can answer with
is worded, in both languages, so the page never has to show a raw code or read English."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "robot_dog"
CATALOGUE = ROOT / "teleop" / "web" / "messages.js"
#: Codes the teleop node and server give themselves (node.py `_ask`, server.py).
NODE_CODES = {"refused", "unavailable", "timeout", "failed", "dropped_by_estop"}
#: Refused before a WebSocket exists (HTTP status): never reach the page's catalogue.
HTTP_ONLY = ROOT / "teleop" / "admission.py"


def catalogue() -> dict[str, set[str]]:
    text = CATALOGUE.read_text()
    blocks = re.split(r"^  (en|zh): \{$", text, flags=re.MULTILINE)
    found = {blocks[i]: set(re.findall(r'^\s+"?([\w.]+)"?: "', blocks[i + 1], re.MULTILINE))
             for i in range(1, len(blocks), 2)}
    assert set(found) == {"en", "zh"}
    return found


def refusal_codes(path: Path) -> set[str]:
    """The literal codes of HandheldRefused(code, ...) and Refused(..., code) raised in `path`."""
    codes = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args
            if node.func.id == "HandheldRefused" and args and isinstance(args[0], ast.Constant):
                codes.add(args[0].value)
            elif node.func.id == "Refused" and len(args) > 1 and isinstance(args[1], ast.Constant):
                codes.add(args[1].value)
    return codes


def test_both_languages_have_the_same_messages() -> None:
    words = catalogue()
    assert words["en"] == words["zh"]
    assert len(words["en"]) > 80


@pytest.mark.parametrize("source", [
    *sorted(p.name for p in (ROOT / "teleop").glob("*.py") if p != HTTP_ONLY),
    "../safety/estop.py", "../safety/motion.py"])
def test_every_refusal_code_the_page_can_receive_is_worded(source: str) -> None:
    codes = refusal_codes(ROOT / "teleop" / source)
    if source == "node.py":
        codes |= NODE_CODES
    missing = {c for c in codes if f"code.{c}" not in catalogue()["en"]}
    assert not missing, f"{source}: codes the page cannot word: {sorted(missing)}"


def test_every_code_the_services_behind_the_page_answer_with_is_worded() -> None:
    """What the registry says each page request's service may answer (docs/verbs.md): the
    payload's MCU failures, the recorder's refusals, ... reach the officer in words too."""
    from robot_dog import verbs
    from robot_dog.teleop.page_requests import PAGE_REQUESTS
    sample = {"on": True, "mode": "stand", "crowd": True}
    reached = {PAGE_REQUESTS[kind](sample)[0] for kind in PAGE_REQUESTS} | {"checkin"}  # release checks in
    codes = {code for verb in reached for code in verbs.refusals(verb)}
    assert {"estop_engaged", "mcu_timeout", "trigger_active", "disabled"} <= codes
    missing = {c for c in codes if f"code.{c}" not in catalogue()["en"]}
    assert not missing, f"codes the page cannot word: {sorted(missing)}"
