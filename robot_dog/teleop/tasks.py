"""The paired officer's task from the station (pure): what the handheld page shows and what the
officer's answers turn into.

The station sends a task (verb `task`: incident, what, where, from whom, the dog sent with it)
through the dog's uplink to teleop_node; it is for the officer paired with the handheld at that
moment, and refused with `no_officer` when none is. One task at a time: a new one replaces the
one before. The officer answers on the phone, in order, skipping ahead allowed but never back:

    accepted -> on_scene -> done

Each answer becomes one event to the station, of type `officer_task` (the station puts it into
the incident's timeline; the shape is fixed, docs/mqtt.md):

    {"incident": "<id>", "officer": "<officer>", "state": "accepted" | "on_scene" | "done"}

`done` ends the task (the page hides it). A task stays the officer's it was given to: after a new
pairing by another officer it is neither shown nor answerable (`not_your_task`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from robot_dog.errors import Refused

#: The officer's answers, in the only order they may come (skipping ahead allowed).
TASK_STATES = ("accepted", "on_scene", "done")
#: The event an answer makes (uplink: robot_dog/uplink/events.py; station: the incident's timeline).
EVENT_TYPE = "officer_task"


@dataclass(frozen=True)
class OfficerTask:
    incident: str
    what: str
    frame: str          # odom | wgs84
    x: float            # m in odom, or latitude in wgs84
    y: float            # m in odom, or longitude in wgs84
    sender: str         # the station account that sent it
    dog: str            # the dog sent with it
    officer: str        # the officer it was given to
    state: str = ""     # "" until the first answer, then one of TASK_STATES

    def to_page(self) -> dict[str, Any]:
        """What the page shows (it words `frame` and `state` in the officer's language)."""
        return {"incident": self.incident, "what": self.what, "frame": self.frame,
                "x": self.x, "y": self.y, "from": self.sender, "dog": self.dog,
                "state": self.state}


class TaskBoard:
    """The one task of the dog's paired officer."""

    def __init__(self) -> None:
        self.task: OfficerTask | None = None

    def assign(self, officer: str, *, incident: str, what: str, frame: str, x: float, y: float,
               sender: str, dog: str) -> OfficerTask:
        """The new task for `officer` (replacing any before), or Refused: `no_officer` when no
        officer is paired, `bad_args` for a place that is no place."""
        if not officer:
            raise Refused("no_officer", f"no officer is paired with this dog's handheld: task "
                          f"for incident {incident} not delivered (pair one: robot-dog teleop "
                          "pair --officer NAME)")
        if not incident or not (math.isfinite(x) and math.isfinite(y)):
            raise Refused("bad_args", f"a task needs an incident and a finite place, got "
                          f"incident {incident[:64]!r} at {x!r}, {y!r}")
        if frame == "wgs84" and not (-90.0 <= x <= 90.0 and -180.0 <= y <= 180.0):
            raise Refused("bad_args", f"latitude {x:g}, longitude {y:g} is no place on Earth")
        if frame not in ("odom", "wgs84"):
            raise Refused("bad_args", f"frame must be odom or wgs84, got {frame[:16]!r}")
        self.task = OfficerTask(incident, what, frame, float(x), float(y), sender, dog, officer)
        return self.task

    def shown(self, officer: str) -> dict[str, Any] | None:
        """The task for the page of `officer`'s handheld, or None."""
        task = self.task
        return task.to_page() if task is not None and officer and task.officer == officer else None

    def answer(self, officer: str, incident: str, state: str) -> dict[str, Any]:
        """The officer's answer -> the `officer_task` event's data, or Refused (no_task,
        not_your_task, bad_task_state, task_state_order)."""
        task = self.task
        if task is None or task.incident != incident:
            raise Refused("no_task", f"no task for incident {incident[:64]!r} on this dog")
        if not officer or task.officer != officer:
            raise Refused("not_your_task", f"the task of incident {incident[:64]} was given to "
                          f"officer {task.officer}")
        if state not in TASK_STATES:
            raise Refused("bad_task_state", f"a task's state is one of {', '.join(TASK_STATES)}")
        if task.state and TASK_STATES.index(state) <= TASK_STATES.index(task.state):
            raise Refused("task_state_order", f"the task is already {task.state}: {state} "
                          "cannot come after it")
        self.task = None if state == "done" else dataclasses.replace(task, state=state)
        return {"incident": task.incident, "officer": task.officer, "state": state}
