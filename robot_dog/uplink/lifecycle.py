"""A station command's life on the dog, from the MQTT thread to its one result (pure: no rclpy,
time comes in as `now`).

    submit (MQTT thread) -> queued, or `busy` when the queue is full
    drain (executor)     -> planned (uplink/commands.py): refused with a code (`bad_args`, ...),
                            a window opened (`ok` at once), or a call to make; a call whose server
                            is not there is `unavailable`
    started              -> in flight, with a deadline (`SERVICE_DEADLINE_S`)
    service_done / goal_done / expire
                         -> `ok`, the executor's own refusal code (`refused` when it gave none),
                            `failed` (the call broke) or `timeout`, whichever comes first; the
                            later ones find nothing and stay silent

Every command is answered exactly once, except a check-in, which is answered only when it is
refused or fails (a heartbeat every 0.5 s needs no result). The node (uplink/node.py) makes the
calls and sends the answers; this module decides everything else.
"""
from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from robot_dog import verbs
from robot_dog.errors import Refused, outcome
from robot_dog.mqtt.signing import Command
from robot_dog.uplink import commands
from robot_dog.uplink.commands import ActionGoal, AudioWindow, ServiceCall
from robot_dog.uplink.inflight import InFlight

H = TypeVar("H")   # the node's handle of a call in flight (a future), opaque here

#: Commands waiting for the executor; more are answered `busy`.
QUEUE_SIZE = 100


@dataclass(frozen=True)
class Answer:
    """One cmd/result: `code` is "ok" or a stable refusal code. `send` False: a check-in that
    found no safety node, only logged (now and then) by the node, never sent."""
    command: Command
    code: str
    message: str
    send: bool = True
    data: dict[str, Any] | None = None   # the result's `data` (the verb's result_fields)


@dataclass(frozen=True)
class Call:
    """A service call or action goal the node makes now, then reports with `started`."""
    command: Command
    request: ServiceCall | ActionGoal


@dataclass(frozen=True)
class Window:
    """A listen/talk window the node opens on its streams (answered by `answer`)."""
    command: Command
    window: AudioWindow
    answer: Answer


Step = Answer | Call | Window


class CommandLifecycle(Generic[H]):
    def __init__(self, *, deadline_s: float = commands.SERVICE_DEADLINE_S,
                 station_deadline_s: float = commands.STATION_DEADLINE_S,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.deadline_s = deadline_s
        self.station_deadline_s = station_deadline_s
        self._queue: queue.Queue[Command] = queue.Queue(maxsize=queue_size)
        # nonce -> (handle, command, answer_ok): answered once, by the executor or the deadline.
        self._in_flight: InFlight[tuple[H, Command, bool]] = InFlight(deadline_s)

    # --- MQTT thread ---------------------------------------------------------------------------
    def submit(self, command: Command) -> Answer | None:
        """Queue a verified command (never blocks); `busy` when the queue is full."""
        try:
            self._queue.put_nowait(command)
        except queue.Full:
            return Answer(command, "busy", "command queue full")
        return None

    # --- executor --------------------------------------------------------------------------------
    def drain(self, ready: Callable[[str], bool]) -> list[Step]:
        """Every queued command, planned. `ready(name)`: is the service or action server there?"""
        steps: list[Step] = []
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                return steps
            steps.append(self._plan(command, ready))

    def _plan(self, command: Command, ready: Callable[[str], bool]) -> Step:
        try:
            request = commands.plan(command.verb, command.args)
        except Refused as exc:
            return Answer(command, exc.code, exc.detail)
        if isinstance(request, AudioWindow):
            text = (f"{request.direction} open for {request.seconds:g} s" if request.seconds
                    else f"{request.direction} closed")
            return Window(command, request, Answer(command, "ok", text))
        name = request.service if isinstance(request, ServiceCall) else request.name
        if not ready(name):
            quiet = isinstance(request, ServiceCall) and not request.answer_ok
            kind = "service" if isinstance(request, ServiceCall) else "action"
            return Answer(command, "unavailable", f"{kind} {name} is not available", send=not quiet)
        if isinstance(request, ServiceCall):
            fields = dict(request.fields)
            if "issued_at" in fields:          # ordering on the dog: the command's signed time
                fields["issued_at"] = command.issued_at / 1000.0
            for name, key in verbs.VERBS[command.verb].envelope_fields.items():
                fields[name] = str(getattr(command, key))   # who sent it: signed, not an argument
            if not request.answer_ok and fields.get("timeout_s"):   # a check-in
                fields["timeout_s"] = self.station_deadline_s
            request = ServiceCall(request.service, request.srv, fields, request.answer_ok)
        return Call(command, request)

    def started(self, call: Call, handle: H, now: float) -> None:
        """The node made `call`; its answer is due within the deadline."""
        answer_ok = not isinstance(call.request, ServiceCall) or call.request.answer_ok
        self._in_flight.start(call.command.nonce, (handle, call.command, answer_ok), now)

    def service_done(self, command: Command, response: Any = None, error: str = "") -> Answer | None:
        """The service answered (`response`) or the call broke (`error`); None: nothing to send
        (answered as timeout already, or an accepted check-in)."""
        entry = self._in_flight.finish(command.nonce)
        if entry is None:
            return None
        _handle, _command, answer_ok = entry
        if error or response is None:
            return Answer(command, "failed", error or "no response")
        code, message = outcome(response)
        if code == "ok" and not answer_ok:
            return None
        names = verbs.VERBS[command.verb].result_fields if code == "ok" else ()
        data = {name: str(getattr(response, name)) for name in names if hasattr(response, name)}
        return Answer(command, code, message, data=data or None)

    def goal_done(self, command: Command, accepted: bool, error: str = "") -> Answer | None:
        """The action server took the goal (it runs on by itself) or rejected it."""
        if self._in_flight.finish(command.nonce) is None:
            return None
        name = command.verb
        if error:
            return Answer(command, "failed", error)
        return Answer(command, "ok", f"{name} accepted") if accepted else \
            Answer(command, "rejected", f"{name}: the goal was rejected")

    def expire(self, now: float) -> list[tuple[H, Answer]]:
        """Calls past their deadline: (handle to cancel, `timeout` answer), oldest first."""
        return [(handle, Answer(command, "timeout", f"no answer within {self.deadline_s:g} s"))
                for handle, command, _answer_ok in self._in_flight.expire(now)]

    def in_flight(self) -> int:
        return len(self._in_flight)
