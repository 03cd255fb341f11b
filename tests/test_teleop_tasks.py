"""The officer's task core (robot_dog/teleop/tasks.py): refused without an officer, answered in
order only, each answer the fixed `officer_task` event data the station's incidents take in."""
from __future__ import annotations

import math

import pytest

from robot_dog.errors import Refused
from robot_dog.teleop.tasks import TaskBoard

WANG, LI = "王警官", "李警官"
PLACE = {"incident": "inc-7", "what": "glass break at the east gate", "frame": "odom",
         "x": 12.5, "y": -3.0, "sender": "dispatcher", "dog": "dog1"}


def code(call) -> str:
    with pytest.raises(Refused) as err:
        call()
    return err.value.code


def test_a_task_for_a_dog_without_an_officer_is_refused():
    board = TaskBoard()
    assert code(lambda: board.assign("", **PLACE)) == "no_officer"
    assert board.task is None


def test_answers_in_order_make_the_officer_task_events_and_done_ends_it():
    board = TaskBoard()
    board.assign(WANG, **PLACE)
    assert board.shown(WANG) == {"incident": "inc-7", "what": PLACE["what"], "frame": "odom",
                                 "x": 12.5, "y": -3.0, "from": "dispatcher", "dog": "dog1",
                                 "state": ""}
    assert board.answer(WANG, "inc-7", "accepted") == \
        {"incident": "inc-7", "officer": WANG, "state": "accepted"}
    assert board.shown(WANG)["state"] == "accepted"
    assert code(lambda: board.answer(WANG, "inc-7", "accepted")) == "task_state_order"
    assert board.answer(WANG, "inc-7", "done") == {"incident": "inc-7", "officer": WANG,
                                                   "state": "done"}   # on scene skipped
    assert board.shown(WANG) is None
    assert code(lambda: board.answer(WANG, "inc-7", "on_scene")) == "no_task"


def test_never_back_and_only_known_states():
    board = TaskBoard()
    board.assign(WANG, **PLACE)
    board.answer(WANG, "inc-7", "on_scene")
    assert code(lambda: board.answer(WANG, "inc-7", "accepted")) == "task_state_order"
    assert code(lambda: board.answer(WANG, "inc-7", "arrested")) == "bad_task_state"
    assert code(lambda: board.answer(WANG, "inc-8", "done")) == "no_task"


def test_a_task_stays_with_the_officer_it_was_given_to():
    board = TaskBoard()
    board.assign(WANG, **PLACE)
    assert board.shown(LI) is None and board.shown("") is None
    assert code(lambda: board.answer(LI, "inc-7", "accepted")) == "not_your_task"
    board.assign(LI, **{**PLACE, "incident": "inc-8"})          # a new task replaces the old
    assert board.shown(WANG) is None and board.shown(LI)["incident"] == "inc-8"


@pytest.mark.parametrize("where", [{"x": math.nan}, {"y": math.inf},
                                   {"frame": "wgs84", "x": 91.0, "y": 0.0},
                                   {"frame": "wgs84", "x": 36.6, "y": -181.0},
                                   {"frame": "map"}, {"incident": ""}])
def test_a_place_that_is_no_place_is_refused(where):
    assert code(lambda: TaskBoard().assign(WANG, **{**PLACE, **where})) == "bad_args"


def test_a_point_by_latitude_and_longitude():
    board = TaskBoard()
    board.assign(WANG, **{**PLACE, "frame": "wgs84", "x": 36.6512, "y": 117.1201})
    assert board.shown(WANG)["frame"] == "wgs84"
