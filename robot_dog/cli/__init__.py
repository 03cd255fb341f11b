"""The `robot-dog` command (`main`) and the verbs that live here: demo, doctor, fleet, payload.

Also what every command shares: `command_line` (--help with defaults), `stopping` (SIGTERM
takes the Ctrl-C path), `ports` (is a listening port free). Verbs of a part live with that
part (`station/cli.py`, `launch/cli.py`, `teleop/cli.py`, `sim/cli.py`).
"""
