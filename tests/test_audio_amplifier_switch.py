"""Amplifier switch on a fake clock with fake futures: on before sound, refresh, off after,
refusals and silence from the service become reasons."""
from __future__ import annotations

from dataclasses import dataclass

from robot_dog.audio.amplifier_switch import AmplifierSwitch


@dataclass
class Reply:
    accepted: bool
    code: str = "ok"
    message: str = ""


class Future:
    def __init__(self) -> None:
        self.reply: Reply | None = None

    def done(self) -> bool:
        return self.reply is not None

    def result(self) -> Reply | None:
        return self.reply


class Service:
    def __init__(self) -> None:
        self.sent: list[tuple[bool, Future]] = []
        self.up = True

    def send(self, enabled: bool) -> Future:
        future = Future()
        self.sent.append((enabled, future))
        return future


def make() -> tuple[AmplifierSwitch, Service]:
    service = Service()
    return AmplifierSwitch(service.send, lambda: service.up), service


def test_on_before_sound_refreshed_and_off_after() -> None:
    switch, service = make()
    assert switch.step(True, 0.0) == "" and not switch.on
    service.sent[-1][1].reply = Reply(True)
    assert switch.step(True, 0.02) == "" and switch.on
    switch.step(True, 2.1)                        # lease refresh
    assert [e for e, _ in service.sent] == [True, True]
    service.sent[-1][1].reply = Reply(True)
    switch.step(True, 2.12)
    switch.step(False, 2.5)
    assert switch.on                              # a short pause keeps it on
    switch.step(False, 3.6)
    assert not switch.on and service.sent[-1][0] is False


def test_refusal_is_the_reason_and_it_stays_off() -> None:
    switch, service = make()
    switch.step(True, 0.0)
    service.sent[-1][1].reply = Reply(False, "estop_engaged", "e-stop engaged (test)")
    assert switch.step(True, 0.02) == "amplifier refused (estop_engaged): e-stop engaged (test)"
    assert not switch.on


def test_no_answer_or_no_service_in_time() -> None:
    switch, service = make()
    switch.step(True, 0.0)
    assert switch.step(True, 4.0) == ""
    assert switch.step(True, 5.1) == "amplifier refused: no answer from payload_node"
    switch, service = make()
    service.up = False
    assert switch.step(True, 0.0) == "" and switch.step(True, 4.9) == ""
    assert "not found" in switch.step(True, 5.1)
    assert service.sent == []


def test_switch_off_sends_only_when_on() -> None:
    switch, service = make()
    switch.switch_off()
    assert service.sent == []
    switch.step(True, 0.0)
    service.sent[-1][1].reply = Reply(True)
    switch.step(True, 0.02)
    switch.switch_off()
    assert service.sent[-1][0] is False and not switch.on


def test_resting_only_when_off_with_no_answer_due() -> None:
    # The megaphone's output loop sleeps only while this is resting: an enable in flight must
    # still be stepped (its answer turns the amplifier on, and off again after the idle time).
    switch, service = make()
    assert switch.resting
    switch.step(True, 0.0)
    assert not switch.resting                     # asked, no answer yet
    service.sent[-1][1].reply = Reply(True)
    switch.step(False, 0.02)
    assert switch.on and not switch.resting
    switch.step(False, 1.1)                       # idle_off_s after the last sound
    assert not switch.on and switch.resting
