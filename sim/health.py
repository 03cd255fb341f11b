"""The simulator's health as a diagnostic (pure): OK, WARN when it falls behind real time or the
bodycam renders far below its rate, ERROR when the bodycam cannot render at all."""
from __future__ import annotations

from dataclasses import dataclass

OK, WARN, ERROR = 0, 1, 2   # diagnostic_msgs/DiagnosticStatus levels


@dataclass(frozen=True)
class Health:
    level: int
    message: str
    values: dict[str, str]


def assess(rtf: float, target_rtf: float, camera_fps: float, target_fps: float, render: bool,
           renderer_error: str | None) -> Health:
    """`rtf`, `camera_fps`: achieved over the last period; targets as configured (rtf 0 = as fast
    as possible, never behind)."""
    values = {"real_time_factor": f"{rtf:.2f}", "camera_fps": f"{camera_fps:.1f}"}
    if render and renderer_error:
        return Health(ERROR, f"bodycam off: {renderer_error}", values)
    if target_rtf > 0 and rtf < 0.9 * target_rtf:
        return Health(WARN, f"behind real time: {rtf:.2f}x of {target_rtf:.2f}x", values)
    if render and camera_fps < 0.5 * target_fps:
        return Health(WARN, f"bodycam at {camera_fps:.1f} fps of {target_fps:.0f} (CPU-bound rendering)", values)
    return Health(OK, "running", values)
