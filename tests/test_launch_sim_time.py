"""One time base from the launch files: `publish_clock:=true` (sim.launch.yaml) makes the
simulator publish /clock and the nodes beside it follow it; `use_sim_time:=true` puts every
node of the dog's launch files on it. Off by default: a robot has no /clock."""
from __future__ import annotations

from pathlib import Path

import pytest

from robot_dog.launch.description import load

LAUNCH = Path(__file__).resolve().parents[1] / "launch"


def params(node) -> dict[str, object]:
    return {p.name: p.value for p in node.params}


def test_publish_clock_puts_the_simulated_run_on_sim_time():
    for overrides, clocked in (({}, False), ({"publish_clock": "true"}, True)):
        nodes = {n.name: params(n) for n in load(LAUNCH / "sim.launch.yaml", overrides).nodes}
        assert nodes["sim"]["publish_clock"] is clocked
        assert "use_sim_time" not in nodes["sim"]        # the clock's source keeps wall time
        assert nodes["patrol"]["use_sim_time"] is clocked


@pytest.mark.parametrize("name", ["dog.launch.yaml", "payload.launch.yaml", "teleop.launch.yaml"])
def test_every_dog_node_takes_use_sim_time(name):
    for value in (False, True):
        nodes = load(LAUNCH / name, {"use_sim_time": str(value).lower()}).nodes
        assert nodes and all(params(n)["use_sim_time"] is value for n in nodes), name
