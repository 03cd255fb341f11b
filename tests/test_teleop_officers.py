"""Officers at the handheld server, over real TLS and real WebSocket clients wired to a recording
Dog (the ROS side: test_teleop_officer_e2e.py): a code issued to a named officer makes the phone
that uses it that officer's, every command carries the name, a second phone replaces the first,
a revoked or signed-out phone's token no longer resumes, and the officer's task answers reach the
dog with the officer's name."""
from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed

from robot_dog.teleop.errors import HandheldRefused
from tests.support import wait_for
from tests.test_teleop_server import NAME, Phone, served  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


def close_code(phone: Phone, timeout_s: float = 30.0) -> int | None:
    """The close code the server ended `phone`'s connection with (reading past state frames)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            phone.ws.recv(timeout=end - time.monotonic())
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            break
    raise AssertionError("the connection stayed open")


def paired_as(server, ctx, officer: str) -> tuple[Phone, str]:
    phone = Phone(server, ctx)
    phone.send("pair", code=server.new_code(officer))
    return phone, phone.expect("paired")["token"]


def test_a_code_for_an_officer_pairs_that_officer_and_commands_carry_the_name(served):
    server, dog, ctx = served
    html = "<b>王警官</b>"                    # a name with markup is a name: escaped where shown
    phone, _ = paired_as(server, ctx, html)
    wait_for(lambda: dog.officers == [html], "the dog told who is paired")
    phone.send("estop")
    assert phone.expect("result")["kind"] == "estop"
    phone.send("light", on=True)
    assert phone.expect("result")["kind"] == "light"
    phone.send("drive", x=0.5, z=0.0)
    phone.send("drive", x=0.6, z=0.0)        # one report per push of the stick, not per frame
    phone.send("talk", on=True)
    wait_for(lambda: ("talk_on", "ok", html) in dog.reports, "talk reported")
    assert [a["officer"] for _, a in dog.calls] == [html, html]
    kinds = [kind for kind, _code, officer in dog.reports if officer == html]
    assert kinds == ["paired", "estop", "light", "drive", "talk_on"], dog.reports
    phone.ws.close()


@pytest.mark.parametrize("bad", ["", " 王警官", "a\x00b", "x" * 65, "line\nbreak", "\u202e"])
def test_a_code_is_never_issued_to_a_name_the_station_would_refuse(served, bad):
    server, _, _ = served
    with pytest.raises(HandheldRefused) as err:
        server.new_code(bad)
    assert err.value.code == "bad_officer"


def test_a_second_phone_of_the_same_officer_replaces_the_first(served):
    server, dog, ctx = served
    first, first_token = paired_as(server, ctx, NAME)
    second, _ = paired_as(server, ctx, NAME)
    assert close_code(first) == 4001                        # replaced
    again = Phone(server, ctx)
    again.send("hello", token=first_token)
    assert again.expect("refused")["code"] == "not_paired"  # the old phone is revoked
    second.send("light", on=True)
    assert second.expect("result")["ok"]
    assert dog.officers[-1] == NAME and "" not in dog.officers   # the officer stayed on duty
    second.ws.close()
    again.ws.close()


def test_a_revoked_phone_is_closed_and_its_token_no_longer_resumes(served):
    server, dog, ctx = served
    phone, token = paired_as(server, ctx, NAME)
    phone.send("drive", x=0.8, z=0.0)
    wait_for(lambda: dog.twists and dog.twists[-1][0] > 0, "driving")
    assert server.revoke("lost phone") == f"the handheld of officer {NAME} is revoked"
    assert close_code(phone) == 4004
    assert dog.twists[-1] == (0.0, 0.0)                     # zero before the close
    wait_for(lambda: dog.officers[-1:] == [""], "no officer on duty")
    back = Phone(server, ctx)
    back.send("hello", token=token)
    assert back.expect("refused")["code"] == "not_paired"
    assert server.revoke("again") == "no handheld was paired"
    back.ws.close()


def test_signing_out_ends_the_pairing_and_leaves_the_estop_watch(served):
    server, dog, ctx = served
    phone, token = paired_as(server, ctx, NAME)
    phone.send("unpair")
    assert phone.expect("result") == {"t": "result", "kind": "unpair", "ok": True, "code": "ok",
                                      "message": "signed out"}
    assert close_code(phone) == 4005
    wait_for(lambda: dog.officers[-1:] == [""], "no officer on duty")
    assert 0.0 in dog.check_ins                             # left the e-stop watch cleanly
    back = Phone(server, ctx)
    back.send("hello", token=token)
    assert back.expect("refused")["code"] == "not_paired"
    back.ws.close()


def test_task_answers_go_to_the_dog_with_the_officer(served):
    server, dog, ctx = served
    stranger = Phone(server, ctx)
    stranger.send("task", incident="inc-1", state="accepted")
    assert stranger.expect("refused")["code"] == "pair_first"
    phone, _ = paired_as(server, ctx, NAME)
    phone.send("task", incident="inc-1", state="accepted")
    assert phone.expect("result") == {"t": "result", "kind": "task", "ok": True, "code": "ok",
                                      "message": "accepted"}
    phone.send("task", incident="inc-9", state="done")
    assert phone.expect("result")["code"] == "no_task"
    phone.send("task", incident="inc-1", state="x" * 65)
    assert phone.expect("refused")["code"] == "bad_field"
    assert dog.answers == [(NAME, "inc-1", "accepted"), (NAME, "inc-9", "done")]
    phone.ws.close()
    stranger.ws.close()
