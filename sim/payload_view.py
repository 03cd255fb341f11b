"""How the payload looks in the world, from the MCU's state: the light heads' colour and glow,
the searchlight lens and beam. Pure mapping (`payload_look`) plus `apply_look`, which writes it
into the model's materials and light before each rendered frame."""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from sim import robot as R
from sim.model import BLUE_OFF, BLUE_ON, LENS_OFF, LENS_ON, RED_OFF, RED_ON


@dataclass(frozen=True)
class PayloadOutputs:
    """What the MCU drives right now (firmware_bridge.virtual_mcu snapshot fields)."""
    red_on: bool = False
    blue_on: bool = False
    searchlight_output: float = 0.0   # beam level 0..1


@dataclass(frozen=True)
class Look:
    rgba: tuple[float, float, float, float]
    emission: float                   # MuJoCo material emission, 0..1


def payload_look(out: PayloadOutputs) -> dict[str, Look]:
    """Material name -> look. A lit head glows in its colour; a dark one is dim glass."""
    level = min(max(out.searchlight_output, 0.0), 1.0)
    lens = tuple(float(a + (b - a) * level) for a, b in zip(LENS_OFF, LENS_ON))
    return {
        R.LIGHT_RED: Look(RED_ON, 1.0) if out.red_on else Look(RED_OFF, 0.0),
        R.LIGHT_BLUE: Look(BLUE_ON, 1.0) if out.blue_on else Look(BLUE_OFF, 0.0),
        R.SEARCHLIGHT_LENS: Look(lens, level),  # type: ignore[arg-type]
    }


def outputs_from_snapshot(snapshot: dict) -> PayloadOutputs:
    return PayloadOutputs(bool(snapshot.get("red_on")), bool(snapshot.get("blue_on")),
                          float(snapshot.get("searchlight_output", 0.0)))


def apply_look(model: mujoco.MjModel, out: PayloadOutputs) -> None:
    for material, look in payload_look(out).items():
        mid = model.material(material).id
        model.mat_rgba[mid] = look.rgba
        model.mat_emission[mid] = look.emission
    beam = model.light(R.SEARCHLIGHT).id
    level = min(max(out.searchlight_output, 0.0), 1.0)
    model.light_diffuse[beam] = np.array([1.0, 0.97, 0.85]) * 4.0 * level
