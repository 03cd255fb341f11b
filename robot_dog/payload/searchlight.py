"""Searchlight: request limits, strobe duration cap and thermal derating (pure; no rclpy).

Level is 0..1 of full output. Derating uses the LED head temperature from MCU telemetry (degC):
full level up to `derate_start_c`, then linearly down to `min_factor` at `derate_full_c`, and off
at `cutoff_c` (the MCU has its own, higher hardware cutoff). The officer's requested level is
kept; the driven level is requested x factor, re-sent when it moves by more than `relevel_step`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_bridge.messages import SetSearchlight
from firmware_bridge.timers import Deadline
from robot_dog.payload.errors import RequestRefused, checked_duration


@dataclass(frozen=True)
class SearchlightConfig:
    default_duration_s: float = 60.0
    max_duration_s: float = 3600.0
    max_strobe_s: float = 10.0
    derate_start_c: float = 60.0
    derate_full_c: float = 85.0
    min_factor: float = 0.25
    cutoff_c: float = 90.0
    relevel_step: float = 0.02


@dataclass(frozen=True)
class SearchlightRequest:
    level: float
    strobe: bool
    duration_s: float


def plan_searchlight(level: float, strobe: bool, duration_s: float,
                     config: SearchlightConfig = SearchlightConfig()) -> SearchlightRequest:
    """Validate a request; RequestRefused with the reason if it breaks a limit (never clamps)."""
    if not math.isfinite(level) or not 0.0 <= level <= 1.0:
        raise RequestRefused(f"level {level} outside 0..1")
    if strobe:
        if level == 0:
            raise RequestRefused("strobe needs a level above 0")
        duration = checked_duration(duration_s, config.max_strobe_s, config.max_strobe_s)
    else:
        duration = checked_duration(duration_s, config.default_duration_s, config.max_duration_s)
    return SearchlightRequest(level, strobe, duration)


def derating_factor(temp_c: float | None, config: SearchlightConfig = SearchlightConfig()) -> float:
    """Share of the requested level allowed at LED temperature `temp_c` (None: unknown -> 1)."""
    if temp_c is None or temp_c <= config.derate_start_c:
        return 1.0
    if temp_c >= config.cutoff_c:
        return 0.0
    if temp_c >= config.derate_full_c:
        return config.min_factor
    span = (temp_c - config.derate_start_c) / (config.derate_full_c - config.derate_start_c)
    return 1.0 - span * (1.0 - config.min_factor)


class SearchlightCore:
    """The officer's request, its expiry, and the derated command to drive."""

    def __init__(self, config: SearchlightConfig = SearchlightConfig()) -> None:
        self.config = config
        self.request: SearchlightRequest | None = None
        self.expires: Deadline | None = None
        self.temp_c: float | None = None
        self.sent_level: float | None = None

    @property
    def factor(self) -> float:
        return derating_factor(self.temp_c, self.config)

    def set(self, request: SearchlightRequest, now: float) -> SetSearchlight:
        """Accept a validated request; the command to send now."""
        self.request = request
        self.expires = Deadline.after(now, request.duration_s)
        return self._command(now)

    def active(self, now: float) -> SearchlightRequest | None:
        """The officer's request while it runs; None once it lapsed (the MCU turned it off)."""
        if self.request is None or self.expires is None or self.expires.expired(now):
            return None
        return self.request

    def reduces(self, request: SearchlightRequest, now: float) -> bool:
        """True when `request` only takes output away: off, or a lower steady beam that ends
        no later than the current one (allowed even under an e-stop)."""
        if request.strobe:
            return False
        if request.level == 0:
            return True
        current = self.active(now)
        return (current is not None and self.expires is not None
                and request.level <= current.level
                and request.duration_s <= self.expires.remaining(now))

    def on_temperature(self, temp_c: float, now: float) -> SetSearchlight | None:
        """New MCU temperature; a re-level command if the derated level moved enough."""
        self.temp_c = temp_c
        if self.request is None or self.expires is None or self.expires.expired(now):
            return None
        target = self.request.level * self.factor
        if self.sent_level is not None:
            moved = abs(target - self.sent_level)
            crossed_zero = (target == 0.0) != (self.sent_level == 0.0)
            if moved <= self.config.relevel_step and not crossed_zero:
                return None
        return self._command(now)

    def _command(self, now: float) -> SetSearchlight:
        assert self.request is not None and self.expires is not None
        level = self.request.level * self.factor
        self.sent_level = level
        remaining_ms = max(1, round(self.expires.remaining(now) * 1000))
        return SetSearchlight(round(level * 1000), self.request.strobe, remaining_ms)

    @property
    def derating(self) -> bool:
        return self.request is not None and self.request.level > 0 and self.factor < 1.0
