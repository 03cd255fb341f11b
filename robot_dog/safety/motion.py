"""The motion chain the safety node steps (pure): check -> mux -> mode -> caps -> ramp -> watchdog.

`command()` takes an input's raw twist (refused with a reason, or accepted and maybe capped with a
note); `step(now)` says what to publish on `cmd_vel` now (None = stay silent). Output contract:

- the live winner's command, capped by the speed mode and ramped by the acceleration limits;
- watchdog: once the winner has been quiet for `watchdog_s`, ZERO is published once, then
  nothing until a fresh command (twist_mux does not do this; a base must not keep walking on a
  last command). With the node's tick, zero comes within watchdog_s + tick_s <= 0.5 s;
- e-stop: category 0 publishes ZERO at once, category 1 decelerates at the stop deceleration
  (cut to ZERO when the watchdog's time is up); both then hold ZERO on every tick while engaged;
- modes: only `stand` walks; `sit` and `damp` are entered only when stopped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_dog.safety import limits as lim
from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import IMMEDIATE
from robot_dog.safety.mux import DEFAULT_INPUTS, ESTOP_LOCK, InputSpec, LockSpec, TwistMux
from robot_dog.safety.twist import ZERO, Twist, check_twist

MODES = ("stand", "sit", "damp")


@dataclass(frozen=True)
class MotionConfig:
    limits: lim.Limits = lim.Limits()
    inputs: tuple[InputSpec, ...] = DEFAULT_INPUTS
    locks: tuple[LockSpec, ...] = (ESTOP_LOCK,)
    watchdog_s: float = 0.4     # s of winner silence before the output is zeroed
    tick_s: float = 0.02        # s between steps (the node's timer)

    def __post_init__(self) -> None:
        if not 0 < self.tick_s < self.watchdog_s or self.watchdog_s + self.tick_s > 0.5:
            raise ValueError("watchdog_s + tick_s must be at most 0.5 s (zero within 0.5 s of "
                             f"silence), got {self.watchdog_s} + {self.tick_s}")


@dataclass
class MotionCore:
    config: MotionConfig = field(default_factory=MotionConfig)
    speed_mode: str = "normal"
    mode: str = "stand"
    output: Twist = ZERO                 # last published command
    winner: str | None = None            # input driving the output now
    _mux: TwistMux = field(init=False)
    _estop_category: int | None = field(init=False, default=None)
    _last_step: float | None = field(init=False, default=None)
    _stamps: dict[str, float] = field(init=False, default_factory=dict)
    _silent: bool = field(init=False, default=True)
    _log: list[str] = field(init=False, default_factory=list)
    #: sources whose commands are being capped: logged when a capping starts, not per command
    #: (a patrol driving at 20 Hz above the crowd cap logged 7 lines a second)
    _capped: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self._mux = TwistMux(self.config.inputs, self.config.locks)

    # ---- inputs --------------------------------------------------------------------------
    def command(self, source: str, linear: tuple[float, float, float],
                angular: tuple[float, float, float], now: float) -> Twist:
        """Offer an input's command; returns what it will drive (maybe capped) or Refused."""
        limits = self.config.limits
        try:
            if source not in self._stamps and source not in {s.name for s in self.config.inputs}:
                raise Refused(f"no input named {source!r}")
            twist = check_twist(linear, angular, limits.max_linear, limits.max_angular)
            if not twist.is_zero and self.mode != "stand":
                raise Refused(f"base is in {self.mode}: stand first")
        except Refused as exc:
            self._log.append(f"refused {source} command: {exc.reason}")
            raise
        capped, note = lim.cap(twist, *limits.caps(self.speed_mode))
        if note and source not in self._capped:
            self._log.append(f"{source} command limited by {self.speed_mode} mode: {note}")
            self._capped.add(source)
        elif not note:
            self._capped.discard(source)
        self._mux.offer(source, capped, now)
        self._stamps[source] = now
        return capped

    def set_lock(self, name: str, locked: bool, now: float) -> None:
        self._mux.set_lock(name, locked, now)

    def set_speed_mode(self, speed_mode: str) -> None:
        self.config.limits.caps(speed_mode)  # ValueError for an unknown mode
        if speed_mode != self.speed_mode:
            self._log.append(f"speed mode {self.speed_mode} -> {speed_mode}")
            self.speed_mode = speed_mode
            self._capped.clear()   # caps of the new mode are news

    def request_mode(self, mode: str) -> str:
        """Check a base mode change (stand/sit/damp); the node forwards it to the base."""
        if mode not in MODES:
            raise Refused(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        if mode != "stand" and not self.output.is_zero:
            raise Refused(f"cannot {mode} while moving ({self.output.vx:.2f} m/s): stop first")
        if mode != self.mode:
            self._log.append(f"mode {self.mode} -> {mode}")
        self.mode = mode
        return mode

    def set_estop(self, engaged: bool, category: int | None, now: float) -> None:
        if any(lock.name == ESTOP_LOCK.name for lock in self.config.locks):
            self._mux.set_lock(ESTOP_LOCK.name, engaged, now)
        new = category if engaged else None
        if new != self._estop_category:
            self._log.append("e-stop " + (f"engaged, category {category}" if engaged
                                          else "released: waiting for fresh commands"))
            self._estop_category = new
            if not engaged:
                self._stamps.clear()  # a command from before the e-stop never resumes motion
                self._mux.forget_inputs()

    # ---- output --------------------------------------------------------------------------
    def step(self, now: float) -> Twist | None:
        """The command to publish at `now` (None: stay silent)."""
        # A late tick (a stalled executor) never buys a bigger speed step than two ticks' worth.
        dt = 0.0 if self._last_step is None else min(now - self._last_step, 2 * self.config.tick_s)
        self._last_step = now
        limits = self.config.limits
        self.winner = None
        if self._estop_category is not None:
            heard = max(self._stamps.values(), default=float("-inf"))
            quiet = now - heard > self.config.watchdog_s  # the watchdog's promise outranks the ramp
            self.output = ZERO if self._estop_category == IMMEDIATE or quiet else lim.decelerate(
                self.output, dt, limits)
            self._silent = False
            return self.output
        selection = self._mux.select(now)
        self._log.extend(self._mux.changes())
        fresh = (selection.winner is not None and selection.winner in self._stamps
                 and now - self._stamps[selection.winner] <= self.config.watchdog_s)
        if fresh and self.mode == "stand" and selection.twist is not None:
            self.winner = selection.winner
            # Capped again here: the speed mode may have changed since the command came.
            target, _ = lim.cap(selection.twist, *limits.caps(self.speed_mode))
            self.output = lim.ramp(self.output, target, dt, limits)
            self._silent = False
            return self.output
        if self._silent:
            return None
        self._log.append("watchdog: " + (f"{selection.winner} quiet for more than "
                         f"{self.config.watchdog_s:g} s" if selection.winner else selection.reason)
                         + ": zero velocity")
        self.output, self._silent = ZERO, True
        return ZERO

    def take_log(self) -> list[str]:
        """What happened since the last call (refusals, limits, winner changes, watchdog)."""
        out, self._log = self._log, []
        return out
