"""Switching the megaphone's amplifier through a request/answer service (no rclpy inside).

The ROS shell passes `send(enabled)` (returns a future-like object: done(), result() with
`accepted`, `code` and `message`) and `ready()` (is the service there?). The switch follows
AmplifierPlan: on before the first sound, refreshed while sounding, off after. A refusal, no
answer within `answer_s`, or no service within `answer_s` is returned as the reason the sound
must be dropped; the amplifier then counts as off.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot_dog.audio.megaphone import AmplifierPlan


class AmplifierSwitch:
    def __init__(self, send: Callable[[bool], Any], ready: Callable[[], bool],
                 plan: AmplifierPlan | None = None, answer_s: float = 5.0) -> None:
        self.plan = plan or AmplifierPlan()
        self._send, self._ready, self._answer_s = send, ready, answer_s
        self._pending: tuple[Any, float] | None = None     # an enable waiting for its answer
        self._waiting_since: float | None = None           # sound waiting for the service

    @property
    def on(self) -> bool:
        return self.plan.on

    @property
    def resting(self) -> bool:
        """Off with no enable awaiting its answer: nothing to step until sound is wanted."""
        return not self.plan.on and self._pending is None

    def step(self, wants_sound: bool, now: float) -> str:
        """Advance; '' or the reason the sound cannot play now."""
        if self._pending is not None:
            future, sent = self._pending
            if future.done():
                self._pending = None
                reply = future.result()
                if reply is not None and reply.accepted:
                    self.plan.enabled(sent)
                    return ""
                self.plan.disabled()
                return ("amplifier refused: no reply" if reply is None else
                        f"amplifier refused ({reply.code}): {reply.message}")
            if now - sent > self._answer_s:
                self._pending = None
                self.plan.disabled()
                return "amplifier refused: no answer from payload_node"
            return ""
        command = self.plan.step(wants_sound, now)
        if command == "enable":
            if not self._ready():
                if self._waiting_since is None:
                    self._waiting_since = now
                if now - self._waiting_since > self._answer_s:
                    self._waiting_since = None
                    return "amplifier refused: payload_node (amplifier/set) not found"
                return ""
            self._waiting_since = None
            self._pending = (self._send(True), now)
        elif command == "disable":
            self.switch_off()
        return ""

    def switch_off(self) -> None:
        """Off now (sound over, speaker gone, shutting down); no answer awaited."""
        if self.plan.on:
            self._send(False)
        self.plan.disabled()
