"""The motion chain the safety node steps (pure): check -> mux -> interlock -> mode -> caps -> ramp
-> watchdog.

`command()` takes an input's raw twist (refused with a reason, or accepted and maybe capped with a
note); `step(now)` says what to publish on `cmd_vel` now (None = stay silent). Output contract:

- the live winner's command, capped by the speed mode and ramped by the acceleration limits;
- watchdog: once the winner has been quiet for `watchdog_s`, ZERO is published once, then
  nothing until a fresh command (twist_mux does not do this; a base must not keep walking on a
  last command). With the node's tick, zero comes within watchdog_s + tick_s <= 0.5 s;
- e-stop: category 0 publishes ZERO at once, category 1 decelerates at the stop deceleration
  (cut to ZERO when the watchdog's time is up); both then hold ZERO on every tick while engaged;
- restart interlock (interlock.py): an input that has not made a fresh deliberate action since
  the last stop wins the mux (a live higher input is never bypassed) but drives zero;
- stale frames: a command whose sender stamp is older than `max_frame_age_s` is dropped, never
  replayed (a stalled link delivers its buffer late);
- modes: only `stand` walks; `sit` and `damp` are entered only when stopped. Stop category 1:
  `settle_due` asks for `sit` once the e-stop has held zero for `settle_s`; nothing here ever
  asks for `stand` (a release never stands the dog up), and `stand` is refused while held.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_dog.safety import limits as lim
from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import IMMEDIATE
from robot_dog.safety.interlock import Interlock
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
    max_frame_age_s: float = 0.3  # a stamped command older than this is dropped, s
    settle_s: float = 2.0       # e-stop held at zero this long -> sit (stop category 1), s

    def __post_init__(self) -> None:
        if not 0 < self.tick_s < self.watchdog_s or self.watchdog_s + self.tick_s > 0.5:
            raise ValueError("watchdog_s + tick_s must be at most 0.5 s (zero within 0.5 s of "
                             f"silence), got {self.watchdog_s} + {self.tick_s}")
        if not 0 < self.max_frame_age_s <= 1.0 or not 0 < self.settle_s <= 60.0:
            raise ValueError("max_frame_age_s must be in (0, 1] s and settle_s in (0, 60] s")


@dataclass
class MotionCore:
    config: MotionConfig = field(default_factory=MotionConfig)
    speed_mode: str = "normal"
    mode: str = "stand"
    output: Twist = ZERO                 # last published command
    winner: str | None = None            # input driving the output now
    _mux: TwistMux = field(init=False)
    _interlock: Interlock = field(init=False)
    _estop_category: int | None = field(init=False, default=None)
    _holds: tuple[object, ...] = field(init=False, default=())  # the e-stop's holds last seen
    _estop_since: float | None = field(init=False, default=None)
    _settled: bool = field(init=False, default=False)  # sit asked for in this e-stop
    _block: int | None = field(init=False, default=None)  # highest engaged lock priority
    _last_winner: str | None = field(init=False, default=None)
    _driver: str | None = field(init=False, default=None)     # input that drove last
    _last_step: float | None = field(init=False, default=None)
    _stamps: dict[str, float] = field(init=False, default_factory=dict)
    _silent: bool = field(init=False, default=True)
    _log: list[str] = field(init=False, default_factory=list)
    #: sources whose commands are being capped: logged when a capping starts, not per command
    #: (a patrol driving at 20 Hz above the crowd cap logged 7 lines a second)
    _capped: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self._mux = TwistMux(self.config.inputs, self.config.locks)
        self._interlock = Interlock(self.config.inputs)
        self._priority = {s.name: s.priority for s in self.config.inputs}

    # ---- inputs --------------------------------------------------------------------------
    def command(self, source: str, linear: tuple[float, float, float],
                angular: tuple[float, float, float], now: float,
                sent_at: float | None = None) -> Twist:
        """Offer an input's command; returns what it will drive (maybe capped) or Refused.

        `sent_at`: the sender's own stamp on the same clock as `now`, when the input has one."""
        limits = self.config.limits
        try:
            if source not in self._priority:
                raise Refused(f"no input named {source!r}", "unknown_input")
            if sent_at is not None and now - sent_at > self.config.max_frame_age_s:
                raise Refused(f"frame {now - sent_at:.3f} s old (bound "
                              f"{self.config.max_frame_age_s:g} s): dropped", "stale_frame")
            twist = check_twist(linear, angular, limits.max_linear, limits.max_angular)
            # Heard even when the base cannot walk: a stick deflected while the dog sits must
            # be re-centred after it stands (the interlock's judgement needs every frame).
            self._interlock.frame(source, twist, sent_at)
            if not twist.is_zero and self.mode != "stand":
                raise Refused(f"base is in {self.mode}: stand first", "base_not_standing")
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
        self._check_block(now)

    def resume(self, name: str) -> str:
        """`motion/resume`: the deliberate action that lets an autonomous input drive again."""
        if self._estop_category is not None:
            raise Refused("e-stop engaged: release it first (a release never resumes by "
                          "itself)", "estop_engaged")
        block = self._block
        if block is not None and self._priority.get(name, -1) <= block:
            raise Refused(f"{name} is blocked by a lock (priority {block})", "locked")
        return self._interlock.resume(name)

    def waiting(self) -> tuple[str, ...]:
        """Inputs waiting for a deliberate action (stick to neutral, or motion/resume)."""
        return self._interlock.waiting()

    def _check_block(self, now: float) -> None:
        """A lock that engages (or rises) is a stop for every input it blocks."""
        block = self._mux.blocking_priority(now)
        if block is not None and (self._block is None or block > self._block):
            self._interlock.disarm_below(block, f"lock at priority {block}", now)
        self._block = block

    def set_speed_mode(self, speed_mode: str) -> None:
        self.config.limits.caps(speed_mode)  # ValueError for an unknown mode
        if speed_mode != self.speed_mode:
            self._log.append(f"speed mode {self.speed_mode} -> {speed_mode}")
            self.speed_mode = speed_mode
            self._capped.clear()   # caps of the new mode are news

    def request_mode(self, mode: str) -> str:
        """Check a base mode change (stand/sit/damp); the node forwards it to the base."""
        if mode not in MODES:
            raise Refused(f"unknown mode {mode!r}; known: {', '.join(MODES)}", "unknown_mode")
        if mode != "stand" and not self.output.is_zero:
            raise Refused(f"cannot {mode} while moving ({self.output.vx:.2f} m/s): stop first",
                          "moving")
        if mode == "stand" and self._estop_category is not None and self.mode != "stand":
            raise Refused("e-stop engaged: release it before standing up", "estop_engaged")
        if mode != self.mode:
            self._log.append(f"mode {self.mode} -> {mode}")
        self.mode = mode
        return mode

    def set_estop(self, engaged: bool, category: int | None, now: float,
                  holds: tuple[object, ...] = ()) -> None:
        """The e-stop's state. Any change (engaged, released, a hold added or dropped; `holds`
        is any comparable summary of them) is a stop: every input is disarmed (interlock.py)."""
        if any(lock.name == ESTOP_LOCK.name for lock in self.config.locks):
            self._mux.set_lock(ESTOP_LOCK.name, engaged, now)
            self._check_block(now)   # at once: a resume right after a release is not "locked"
        new, old = (category if engaged else None), self._estop_category
        if new != old:
            self._log.append("e-stop " + (f"engaged, category {category}" if engaged
                                          else "released: waiting for fresh deliberate actions"))
            self._estop_category = new
            if old is None:
                self._estop_since, self._settled = now, False
            if not engaged:
                self._estop_since = None
                self._stamps.clear()  # a command from before the e-stop never resumes motion
                self._mux.forget_inputs()
        if new != old or holds != self._holds:
            self._interlock.disarm_all("e-stop engaged" if engaged else "e-stop released", now)
        self._holds = holds

    def settle_due(self, now: float) -> str | None:
        """Stop category 1: 'sit' once, after the e-stop has held zero for `settle_s`."""
        if (self._estop_since is None or self._settled or not self.output.is_zero
                or self.mode != "stand" or now - self._estop_since < self.config.settle_s):
            return None
        self._settled = True
        self._log.append(f"e-stop held {self.config.settle_s:g} s: sit (stop category 1)")
        return "sit"

    def at_rest(self, now: float) -> bool:
        """Nothing can move until an input, a lock or the e-stop says otherwise: the output is
        zero and either held by the e-stop, or published (the watchdog's zero is out) with
        every input quiet for longer than its timeout and the watchdog's. Then a step changes
        nothing but at `next_deadline` (pace.py slows the node's tick)."""
        if not self.output.is_zero:
            return False
        if self._estop_category is not None:
            return True
        heard = max(self._stamps.values(), default=float("-inf"))
        return self._silent and now - heard > self.config.watchdog_s and not self._mux.any_live(now)

    def next_deadline(self, now: float) -> float | None:
        """The next instant a step acts with no input: the settle-time sit, a lock's lapse, the
        watchdog's expiry while its zero is still to come (None: nothing is pending). The node
        ticks at it, not on the next 50 Hz tick after it: the watchdog's zero comes
        `watchdog_s` after the last command, not up to one tick later."""
        due = [self._mux.next_lapse(now)]
        if self._estop_since is not None and not self._settled and self.mode == "stand":
            due.append(self._estop_since + self.config.settle_s)
        if not self.output.is_zero or (self._estop_category is None and not self._silent):
            expiries = [s + self.config.watchdog_s for s in self._stamps.values()]
            due += [t for t in expiries if t >= now]
        pending = [d for d in due if d is not None]
        return min(pending) if pending else None

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
        self._check_block(now)
        selection = self._mux.select(now)
        self._log.extend(self._mux.changes())
        if selection.winner != self._last_winner and selection.winner is not None:
            # A higher input taking control pauses the autonomous ones below it, so control
            # never falls back to them by itself when it goes quiet.
            self._interlock.disarm_below(self._priority[selection.winner] - 1,
                                         f"{selection.winner} took control", now, kind="resume")
        self._last_winner = selection.winner
        fresh = (selection.winner is not None and selection.winner in self._stamps
                 and now - self._stamps[selection.winner] <= self.config.watchdog_s)
        armed = (fresh and selection.winner is not None
                 and self._interlock.may_drive(selection.winner))
        self._log.extend(self._interlock.take_log())
        if armed and self.mode == "stand" and selection.twist is not None:
            self.winner = self._driver = selection.winner
            # Capped again here: the speed mode may have changed since the command came.
            target, _ = lim.cap(selection.twist, *limits.caps(self.speed_mode))
            self.output = lim.ramp(self.output, target, dt, limits)
            self._silent = False
            return self.output
        if self._silent:
            return None
        if fresh:
            why = f"{selection.winner} waits for a deliberate action"
        elif selection.winner:
            why = f"{selection.winner} quiet for more than {self.config.watchdog_s:g} s"
            self._interlock.lapse(selection.winner, now)
        else:
            why = selection.reason
            if self._driver is not None:
                self._interlock.lapse(self._driver, now)
        self._log.extend(self._interlock.take_log())
        self._log.append(f"watchdog: {why}: zero velocity")
        self.output, self._silent = ZERO, True
        return ZERO

    def take_log(self) -> list[str]:
        """What happened since the last call (refusals, limits, winner changes, watchdog,
        interlock)."""
        self._log.extend(self._interlock.take_log())
        out, self._log = self._log, []
        return out
