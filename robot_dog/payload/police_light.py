"""Police light bar: the pattern library and its limits (pure; no rclpy).

Limits (docs/architecture.md, "Safety rules"): each head flashes at 1.0-4.0 Hz (SAE J845); red/blue alternation
never above 3 Hz (photosensitive-seizure guidance); in crowd mode (the default) the whole bar
gives at most 3 flashes/s, and every pattern's default rate is crowd-safe where the pattern
allows it. Rates are head cycles per second, Hz; durations in s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_bridge.messages import LightPattern, SetLight, Telemetry
from robot_dog.payload.errors import RequestRefused, checked_duration

HEAD_MIN_HZ = 1.0
HEAD_MAX_HZ = 4.0
ALTERNATION_MAX_HZ = 3.0
CROWD_SAFE_FLASHES_PER_S = 3.0


@dataclass(frozen=True)
class PatternSpec:
    name: str
    pattern: LightPattern
    default_hz: float          # 0 for patterns without a rate
    alternates: bool           # red and blue take turns: alternation limit applies
    flashes_per_cycle: int     # visible flashes of the whole bar per head cycle

    @property
    def has_rate(self) -> bool:
        return self.flashes_per_cycle > 0

    @property
    def max_hz(self) -> float:
        return min(HEAD_MAX_HZ, ALTERNATION_MAX_HZ) if self.alternates else HEAD_MAX_HZ

    def flashes_per_s(self, rate_hz: float) -> float:
        return rate_hz * self.flashes_per_cycle


PATTERNS: dict[str, PatternSpec] = {spec.name: spec for spec in (
    PatternSpec("off", LightPattern.OFF, 0.0, False, 0),
    PatternSpec("steady", LightPattern.STEADY, 0.0, False, 0),
    PatternSpec("flash", LightPattern.FLASH, 1.5, False, 1),           # 1.5 flashes/s
    PatternSpec("alternate", LightPattern.ALTERNATE, 1.5, True, 2),    # 3 flashes/s
    PatternSpec("quad_flash", LightPattern.QUAD_FLASH, 1.0, True, 8),  # 8 flashes/s: not crowd-safe
)}
BY_WIRE = {spec.pattern: spec for spec in PATTERNS.values()}


@dataclass(frozen=True)
class PoliceLightConfig:
    crowd_mode: bool = True
    default_duration_s: float = 60.0
    max_duration_s: float = 3600.0


@dataclass(frozen=True)
class LightCommand:
    """A request that passed every limit."""
    spec: PatternSpec
    rate_hz: float
    duration_s: float

    @property
    def alternation_hz(self) -> float:
        return self.rate_hz if self.spec.alternates else 0.0

    @property
    def flashes_per_s(self) -> float:
        return self.spec.flashes_per_s(self.rate_hz)

    @property
    def reduces_output(self) -> bool:
        """Switching the bar off only takes output away (allowed even under an e-stop)."""
        return self.spec.pattern == LightPattern.OFF

    def to_wire(self) -> SetLight:
        return SetLight(self.spec.pattern, round(self.rate_hz * 100), round(self.duration_s * 1000))


def plan_light(pattern: str, rate_hz: float, duration_s: float,
               config: PoliceLightConfig = PoliceLightConfig()) -> LightCommand:
    """Validate a request (rate 0 = pattern default, duration 0 = config default).

    Raises RequestRefused with the broken limit in the reason; never clamps.
    """
    spec = PATTERNS.get(pattern)   # exact names only: "Flash" or "flash\0" is not a pattern
    if spec is None:
        raise RequestRefused(f"unknown pattern {quote(pattern)}; known: {', '.join(PATTERNS)}")
    if not math.isfinite(rate_hz) or rate_hz < 0:
        raise RequestRefused(f"rate_hz {rate_hz} is not a rate")
    if not spec.has_rate:
        if rate_hz != 0:
            raise RequestRefused(f"pattern {spec.name} has no rate; send rate_hz 0")
        rate = 0.0
    else:
        rate = rate_hz or spec.default_hz
        if not HEAD_MIN_HZ <= rate <= HEAD_MAX_HZ:
            raise RequestRefused(
                f"rate {rate:g} Hz outside {HEAD_MIN_HZ:g}-{HEAD_MAX_HZ:g} Hz per head (SAE J845)")
        if spec.alternates and rate > ALTERNATION_MAX_HZ:
            raise RequestRefused(f"red/blue alternation {rate:g} Hz above {ALTERNATION_MAX_HZ:g} Hz "
                                 "(photosensitive seizure limit)")
        if config.crowd_mode and spec.flashes_per_s(rate) > CROWD_SAFE_FLASHES_PER_S:
            crowd_max_hz = CROWD_SAFE_FLASHES_PER_S / spec.flashes_per_cycle
            fix = (f"at most {crowd_max_hz:g} Hz in crowd mode" if crowd_max_hz >= HEAD_MIN_HZ
                   else "not crowd-safe at any rate")
            raise RequestRefused(
                f"crowd mode: {spec.name} at {rate:g} Hz gives {spec.flashes_per_s(rate):g} "
                f"flashes/s > {CROWD_SAFE_FLASHES_PER_S:g} ({spec.name} is {fix}); "
                "crowd_mode false (robot-dog payload --no-crowd) lifts this limit")
    duration = checked_duration(duration_s, config.default_duration_s, config.max_duration_s)
    return LightCommand(spec, rate, duration)


#: Longest part of a caller's text quoted back in a refusal.
QUOTE_MAX = 24


def quote(text: str) -> str:
    """`text` quoted for a refusal reason, cut to QUOTE_MAX characters (a 10 kB name stays short)."""
    if len(text) <= QUOTE_MAX:
        return repr(text)
    return f"{text[:QUOTE_MAX]!r}... ({len(text)} characters)"


@dataclass(frozen=True)
class LightReport:
    """What the MCU says the bar is doing (for police_light/state)."""
    pattern: str
    rate_hz: float
    alternation_hz: float
    red_on: bool
    blue_on: bool
    safe_state: bool
    remaining_s: float


def report_from(telemetry: Telemetry) -> LightReport:
    """Unknown patterns (a newer MCU) are reported as `unknown_<n>`, never as a known one; any
    safe reason, known or not, counts as safe."""
    spec = BY_WIRE.get(telemetry.light_pattern)
    rate = telemetry.light_rate_chz / 100
    name = spec.name if spec else f"unknown_{int(telemetry.light_pattern)}"
    alternates = spec.alternates if spec else False
    return LightReport(name, rate, rate if alternates else 0.0,
                       bool(telemetry.light_outputs & 1), bool(telemetry.light_outputs & 2),
                       bool(telemetry.safe_reasons), telemetry.light_remaining_ms / 1000)
