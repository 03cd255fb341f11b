"""The payload MCU and its e-stop button as endpoints of the dog's e-stop (pure; times in s).

payload_node speaks for two endpoints of safety_node's e-stop (robot_dog/safety/estop.py):

- `mcu`: checked in while the MCU's telemetry is fresh. A dog whose payload cannot hear its
  e-stop button must not walk, so a lost link engages at once: when the port goes away
  (`on_link_lost`, cable or USB) or when telemetry has been missing for `lost_s` (a silent
  MCU), repeated every `lost_reassert_s` while it lasts, so a release asked for meanwhile does
  not last. safety_node's check-in deadline (`timeout_s`) is the backstop for payload_node
  itself dying. The hold stays until the link is back and it is released on explicit request
  (`robot-dog teleop release mcu`).
- `button`: the MCU pushes a press as an EVENT frame (`on_safe_reasons`, at once) and reports it
  in every telemetry (safe reason BUTTON). A press engages an immediate stop; while the button
  stays down the engage is repeated every `reassert_s`, so a release asked for while it is
  still pressed does not last. Pulling the button out does not release the dog: that is an
  explicit request too (`robot-dog teleop release button`).

The MCU's word is taken newest first, by when the MCU sampled it (`Sample`: its boot and its
uptime), not by when it reached this core: the link hands over pushed EVENTs ahead of the
telemetry read with them, and a tick reads the newest telemetry, which can be older than an
EVENT already taken. A press pulled out within one telemetry period (100 ms) would otherwise
come back from such a frame after the pull-out, and engage `button` again after its release.
"""
from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.messages import SafeReason

MCU, BUTTON = "mcu", "button"
BUTTON_REASON = "e-stop button on the payload pressed"
SILENT_REASON = "payload link silent"
LOST_REASON = "payload link lost"


@dataclass(frozen=True)
class CheckIn:
    endpoint: str
    timeout_s: float


@dataclass(frozen=True)
class Engage:
    endpoint: str
    reason: str


@dataclass(frozen=True)
class Sample:
    """When the MCU sampled a report: its boot (0: a version-2 MCU, no boot id) and its own
    clock, ms. Frames of one boot are ordered by `uptime_ms`."""
    boot_id: int
    uptime_ms: int


@dataclass
class HardwareEstop:
    #: safety_node holds the dog when no check-in came for this long.
    timeout_s: float = 2.0
    #: check in while the newest telemetry is at most this old (payload_node's STALE limit).
    fresh_s: float = 1.0
    every_s: float = 0.25
    reassert_s: float = 1.0
    #: telemetry missing this long (10 Hz frames: 3 in a row) engages `mcu`: a stop in < 0.5 s.
    lost_s: float = 0.35
    lost_reassert_s: float = 0.25
    #: a report sampled up to this long before the newest one taken is old news (reordered on
    #: its way here); further back the MCU's clock restarted (a version-2 MCU has no boot id).
    reorder_s: float = 1.0
    button_pressed: bool | None = None      # None: not known (no fresh telemetry)
    lost: bool = False                      # the link is lost and `mcu` holds the dog
    _checked_in: float | None = None
    _engaged: float | None = None
    _lost_engaged: float | None = None
    _joined: bool = False                   # fresh telemetry seen: the MCU is an endpoint
    _newest: Sample | None = None           # the newest report taken
    _port_lost_at: float | None = None      # the port went: back only on telemetry since then

    def tick(self, now: float, telemetry_age: float | None, safe_reasons: int | None,
             silence_s: float | None = None, sampled: Sample | None = None) -> list[CheckIn | Engage]:
        """What to tell safety_node now, from the newest telemetry's age and safe reasons.
        `silence_s`: how long the link's own thread has gone without telemetry (it does not
        grow while this process is not scheduled); without it the age decides. `sampled`:
        when the MCU sampled that telemetry (None: taken as news)."""
        actions: list[CheckIn | Engage] = []
        quiet = telemetry_age if silence_s is None else silence_s
        live = quiet is not None and quiet <= self.lost_s and self._heard_since_port_lost(now, telemetry_age)
        if self._joined and not live:
            actions += self._link_down(now, LOST_REASON if self._port_lost_at is not None
                                       else SILENT_REASON + f" for {self.lost_s:g} s")
        fresh = telemetry_age is not None and telemetry_age <= self.fresh_s
        if not fresh or safe_reasons is None:
            self.button_pressed = None       # unknown: the mcu endpoint covers it
            return actions
        if live:
            self._joined, self.lost, self._port_lost_at = True, False, None
            if self._checked_in is None or now - self._checked_in >= self.every_s:
                self._checked_in = now
                actions.append(CheckIn(MCU, self.timeout_s))
        return actions + self.on_safe_reasons(now, safe_reasons, sampled)

    def next_tick(self, now: float, silence_s: float | None) -> float:
        """When `tick` next has something to do: the next check-in (every `every_s`, which is
        also how soon fresh telemetry joins or a button seen in telemetry engages), the instant
        the link's silence reaches `lost_s` (a joined, live MCU), and the repeats of an engage
        while the link is lost or the button is down. `silence_s` as for `tick`."""
        due = [now + self.every_s]
        if self._checked_in is not None and not self.lost:
            due.append(self._checked_in + self.every_s)
        if self._joined and not self.lost and silence_s is not None:
            due.append(now + max(0.0, self.lost_s - silence_s))
        if self.lost and self._lost_engaged is not None:
            due.append(self._lost_engaged + self.lost_reassert_s)
        if self.button_pressed and self._engaged is not None:
            due.append(self._engaged + self.reassert_s)
        return max(now, min(due))

    def on_safe_reasons(self, now: float, safe_reasons: int, sampled: Sample | None = None,
                        pushed: bool = False) -> list[Engage]:
        """The MCU's safe reasons (an EVENT pushed at once, or telemetry): engage on a press.
        A report sampled before the newest one taken changes nothing (the button's state is
        what the MCU said last); `pushed`: an EVENT, sent at a change, so it is news even when
        sampled in the same millisecond as the newest report."""
        if self._is_news(sampled, pushed):
            pressed = bool(int(safe_reasons) & SafeReason.BUTTON)
            newly = pressed and not self.button_pressed
            self.button_pressed = pressed
            if newly:
                self._engaged = now
                return [Engage(BUTTON, BUTTON_REASON)]
        if self.button_pressed and self._engaged is not None and now - self._engaged >= self.reassert_s:
            self._engaged = now
            return [Engage(BUTTON, BUTTON_REASON)]
        return []

    def _is_news(self, sampled: Sample | None, pushed: bool) -> bool:
        newest = self._newest
        news = (sampled is None or newest is None or sampled.boot_id != newest.boot_id
                or sampled.uptime_ms > newest.uptime_ms
                or (pushed and sampled.uptime_ms == newest.uptime_ms)
                or newest.uptime_ms - sampled.uptime_ms > self.reorder_s * 1000)
        if news and sampled is not None:
            self._newest = sampled
        return news

    def _heard_since_port_lost(self, now: float, telemetry_age: float | None) -> bool:
        """After the port went away, only telemetry sampled since then says the link is back:
        the link thread's silence still counts from the last frame before the loss, which stays
        under `lost_s` for a moment after it (a tick then took the link for live again)."""
        return self._port_lost_at is None or (
            telemetry_age is not None and now - telemetry_age > self._port_lost_at)

    def on_link_lost(self, now: float, why: str) -> list[Engage]:
        """The port went away: engage at once (no need to wait for telemetry to lapse)."""
        if not self._joined:
            return []
        self.button_pressed = None
        self._port_lost_at = now
        return self._link_down(now, f"{LOST_REASON} ({why})" if why else LOST_REASON, force=True)

    def _link_down(self, now: float, reason: str, force: bool = False) -> list[Engage]:
        due = (force or not self.lost or self._lost_engaged is None
               or now - self._lost_engaged >= self.lost_reassert_s)
        self.lost = True
        if not due:
            return []
        self._lost_engaged = now
        return [Engage(MCU, reason)]
