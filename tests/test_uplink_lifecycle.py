"""The uplink's command lifecycle (pure, fake clock): every station verb through every answer."""
from types import SimpleNamespace

import pytest

from robot_dog import verbs
from robot_dog.mqtt.signing import Command
from robot_dog.mqtt.talk_seal import WindowKey
from robot_dog.uplink.commands import SERVICE_DEADLINE_S, ActionGoal, ServiceCall
from robot_dog.errors import outcome
from robot_dog.uplink.lifecycle import Answer, Call, CommandLifecycle, Window

#: A valid command of each verb the station may send (a new verb needs one here: the test
#: below checks that none is missing).
SAMPLES = {
    "police_light": {"pattern": "alternate"}, "searchlight": {"level": 0.5},
    "siren": {"tone": "yelp"}, "estop": {"reason": "test"}, "estop_release": {"hold_id": "h1"},
    "resume": {"input": "patrol"}, "mode": {"mode": "sit"}, "checkin": {},
    "announce": {"text": "Keep the exit clear."}, "listen": {"seconds": 10},
    "talk": {"seconds": 10, **WindowKey.new().args()},
    "record": {"reason": "incident 12"}, "snapshot": {},
    "goto": {"x": 6.0, "y": -2.0}, "patrol": {}, "return": {}, "cancel": {},
    "task": {"incident": "inc-7", "what": "east gate", "x": 36.6512, "y": 117.1201,
             "frame": "wgs84"},
    "revoke_handheld": {}, "pair_handheld": {"officer": "王警官", "key": "k" * 43},
}
STATION_VERBS = [v.name for v in verbs.VERBS.values() if verbs.STATION in v.senders]
CALLED = [v for v in STATION_VERBS if not isinstance(verbs.VERBS[v].executor, verbs.Window)]
SERVICES = [v for v in CALLED if isinstance(verbs.VERBS[v].executor, verbs.Service)]
QUIET = {"checkin"}          # answered only when refused or failed


def command(verb, args=None, n=[0]):  # noqa: B006 (a counter for unique nonces)
    n[0] += 1
    return Command("dog1", verb, SAMPLES.get(verb, {}) if args is None else args,
                   1_700_000_000_123, 1_700_000_010_000, f"nonce{n[0]:012d}", "alice")


def one(core, ready=lambda name: True):
    [step] = core.drain(ready)
    return step


def call(core, verb, now=0.0):
    cmd = command(verb)
    core.submit(cmd)
    step = one(core)
    assert isinstance(step, Call), step
    core.started(step, f"future-{cmd.nonce}", now)
    return cmd, step


def test_every_station_verb_has_a_sample():
    assert sorted(SAMPLES) == sorted(STATION_VERBS)


@pytest.mark.parametrize("verb", SERVICES)
def test_ok(verb):
    core = CommandLifecycle()
    cmd, step = call(core, verb)
    assert step.request.service == verbs.executor_name(verb)
    answer = core.service_done(cmd, SimpleNamespace(accepted=True, code="ok", message="done"))
    assert answer == (None if verb in QUIET else Answer(cmd, "ok", "done"))
    assert core.in_flight() == 0


@pytest.mark.parametrize("verb", SERVICES)
def test_refused_carries_the_executors_code(verb):
    core = CommandLifecycle()
    cmd, _ = call(core, verb)
    answer = core.service_done(cmd, SimpleNamespace(accepted=False, code="hold_mismatch",
                                                    message="not yours"))
    assert answer == Answer(cmd, "hold_mismatch", "not yours")
    cmd, _ = call(core, verb)   # a service without codes of its own (std_srvs)
    assert core.service_done(cmd, SimpleNamespace(success=False, message="too hot")) == \
        Answer(cmd, "refused", "too hot")


@pytest.mark.parametrize("verb", STATION_VERBS)
def test_busy_when_the_queue_is_full(verb):
    core = CommandLifecycle(queue_size=1)
    assert core.submit(command(verb)) is None
    second = command(verb)
    assert core.submit(second) == Answer(second, "busy", "command queue full")
    assert len(core.drain(lambda name: True)) == 1


@pytest.mark.parametrize("verb", CALLED)
def test_unavailable_without_a_server(verb):
    core = CommandLifecycle()
    cmd = command(verb)
    core.submit(cmd)
    asked = []
    step = one(core, lambda name: asked.append(name) or False)
    assert asked == [verbs.executor_name(verb)]
    assert isinstance(step, Answer) and step.code == "unavailable"
    assert step.send is (verb not in QUIET)   # a check-in to a dog without safety: logged only
    assert core.in_flight() == 0


@pytest.mark.parametrize("verb", CALLED)
def test_timeout_then_the_late_answer_is_dropped(verb):
    core = CommandLifecycle()
    cmd, _ = call(core, verb, now=100.0)
    assert core.expire(100.0 + SERVICE_DEADLINE_S) == []          # not yet
    [(handle, answer)] = core.expire(100.0 + SERVICE_DEADLINE_S + 0.01)
    assert handle == f"future-{cmd.nonce}" and answer.code == "timeout"
    late = SimpleNamespace(accepted=True, code="ok", message="")
    assert core.service_done(cmd, late) is None and core.goal_done(cmd, True) is None
    assert core.expire(1e9) == []


@pytest.mark.parametrize("verb", CALLED)
def test_failed_when_the_call_breaks(verb):
    core = CommandLifecycle()
    cmd, step = call(core, verb)
    done = core.service_done if isinstance(step.request, ServiceCall) else \
        (lambda c, error: core.goal_done(c, False, error))
    assert done(cmd, error="cancelled") == Answer(cmd, "failed", "cancelled")
    assert core.expire(1e9) == []


def test_announce_is_ok_once_accepted_and_rejected_otherwise():
    core = CommandLifecycle()
    cmd, step = call(core, "announce")
    assert isinstance(step.request, ActionGoal) and step.request.name == "megaphone/announce"
    assert core.goal_done(cmd, True) == Answer(cmd, "ok", "announce accepted")
    cmd, _ = call(core, "announce")
    assert core.goal_done(cmd, False).code == "rejected"


@pytest.mark.parametrize("verb", ["listen", "talk"])
def test_windows_open_at_once_and_need_no_server(verb):
    core = CommandLifecycle()
    cmd = command(verb)
    core.submit(cmd)
    step = one(core, lambda name: pytest.fail("a window asks no server"))
    assert isinstance(step, Window) and step.window.seconds == 10.0
    assert step.answer == Answer(cmd, "ok", f"{verb} open for 10 s")
    core.submit(command(verb, {"seconds": 0}))
    assert one(core).answer.message == f"{verb} closed"


@pytest.mark.parametrize("verb,args,code", [
    ("police_light", {"pattern": "disco"}, "bad_args"), ("launch", {}, "unknown_verb"),
    ("speed_mode", {"crowd": True}, "not_allowed"), ("talk", {"seconds": 5}, "bad_args"),
])
def test_refused_before_any_call(verb, args, code):
    core = CommandLifecycle()
    core.submit(command(verb, args))
    step = one(core, lambda name: pytest.fail("nothing is called"))
    assert isinstance(step, Answer) and step.code == code and step.send


def test_release_carries_its_signed_time_and_checkin_the_stations_deadline():
    core = CommandLifecycle(station_deadline_s=3.5)
    cmd, step = call(core, "estop_release")
    assert step.request.fields == {"hold_id": "h1", "endpoint": "station",
                                   "issued_at": cmd.issued_at / 1000.0}
    _, step = call(core, "checkin")
    assert step.request.fields == {"endpoint": "station", "timeout_s": 3.5}
    core.submit(command("checkin", {"leave": True}))
    assert one(core).request.fields["timeout_s"] == 0.0


def test_outcome_reads_every_response_shape():
    assert outcome(SimpleNamespace(success=True, message="crowd")) == ("ok", "crowd")
    assert outcome(SimpleNamespace(accepted=False, code="", message="")) == (
        "refused", "refused by the service")
    assert outcome(SimpleNamespace(accepted=False, code="ok", message="x")) == ("refused", "x")
    # the words are never read for a code, and no older field name is a fall-back for them
    assert outcome(SimpleNamespace(accepted=False, code="", message="", reason="estop_engaged")) == (
        "refused", "refused by the service")


def test_a_task_names_its_sender_and_dog_from_the_signed_command_never_from_its_args():
    core = CommandLifecycle()
    _, step = call(core, "task")
    assert step.request.service == "teleop/task"
    assert step.request.fields == {"incident": "inc-7", "what": "east gate", "frame": "wgs84",
                                   "x": 36.6512, "y": 117.1201, "sender": "alice", "dog": "dog1"}
    forged = command("task", {**SAMPLES["task"], "sender": "chief"})
    core.submit(forged)
    refused = one(core)
    assert isinstance(refused, Answer) and refused.code == "bad_args"


def test_a_pairing_code_request_names_its_sender_and_comes_back_in_the_results_data():
    core = CommandLifecycle()
    cmd, step = call(core, "pair_handheld")
    assert step.request.service == "teleop/pair"
    assert step.request.fields == {"officer": "王警官", "seal_key": "k" * 43, "sender": "alice"}
    answer = core.service_done(cmd, SimpleNamespace(accepted=True, code="ok", message="opened",
                                                    pairing_code="", sealed_code="c2VhbGVk"))
    assert answer == Answer(cmd, "ok", "opened", data={"sealed_code": "c2VhbGVk"})
    cmd, _ = call(core, "pair_handheld")   # a refusal carries no data
    assert core.service_done(cmd, SimpleNamespace(accepted=False, code="bad_officer",
                                                  message="no", sealed_code="")) == \
        Answer(cmd, "bad_officer", "no")
