"""A patrol route on the console's map, with every part real: a commander sends dog1 on
`patrol` from the dog view's dispatch dialog (headless Chromium on the station, the secured
Mosquitto, uplink_node with dog1's credentials, patrol_node walking its own route through
safety_node and the echo base). The map draws the route from the dog's own word (the telemetry
section `goal` carries the waypoints patrol_node reports on `patrol/goal`; the page has no
copy): every waypoint, the leg being driven, the waypoints already passed dimmed, and "waypoint
n of 4" in the goal line. Stop (the verb `cancel`, from the incident beside the dog view) ends
the goal, and the route leaves the map. A route typed into the patrol verb's box (route "waypoints",
"x, y; x, y") is walked and drawn the same way."""
from __future__ import annotations

from functools import partial

import pytest

from robot_dog.station.accounts import local_admin
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_incident_console_e2e import Operator, goal_endings
from tests.test_safety_node_e2e import start
from tests.test_station_console_browser import PASSWORD, log_in, shot, watch_errors
from tests.test_station_secure_e2e import Api
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=120.0)
CHIEF = "指挥员李"
ROUTE = [[6.0, 0.0], [6.0, 4.0], [0.0, 4.0], [0.0, 0.0]]   # patrol_node's own route, odom, m
MS = 120_000
POINTS = "#map path.route-point"


def count(page, selector: str) -> int:
    return page.eval_on_selector_all(selector, "els => els.length")


def goal_of(station: Station) -> dict:
    return (station.storage.latest_telemetry("dog1") or {}).get("goal") or {}


def past_first(station: Station) -> bool:
    """dog1 walks its patrol route, past the first waypoint."""
    goal = goal_of(station)
    return (goal.get("label") == "follow_route patrol" and goal.get("state") in ("active", "waiting")
            and goal.get("waypoint_index", 0) >= 1)


@pytest.mark.timeout(600)
def test_a_dispatched_patrol_draws_its_route_until_it_is_cancelled(
        secure_broker, children, safety_chain, ros_probe, dog_namespace, tmp_path, browser_page):
    probe = ros_probe
    start(probe)
    patrol = NodeProcess("robot_dog.patrol.node", dog_namespace, tmp_path / "patrol.log",
                         patrol_at_start=False, speed=0.8,
                         waypoints="[" + ", ".join(str(v) for p in ROUTE for v in p) + "]")
    # a small camera: the console holds back a dog's commands while it shows no signal
    bodycam = NodeProcess("robot_dog.bodycam.node:main", dog_namespace, tmp_path / "bodycam.log",
                          width=320, height=240, fps=5.0, publish_raw=False)
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root)).start()
    try:
        station.accounts.add_account(local_admin("test"), CHIEF, "commander", PASSWORD)
        spawn_uplink(children, secure_broker, "dog1", dog_namespace, tmp_path)
        api = Api(station.http.port, api_token(station.accounts))
        operator = Operator(api, station, probe)
        wait_for(lambda: probe.messages("odom"), "the base")
        # the deliberate action the restart interlock asks for: the patrol input starts paused
        wait_for(lambda: operator() or api.command("dog1", "resume", {"input": "patrol"})[1]
                 .get("result", {}).get("code") == "ok", "the station's resume")

        desk = browser_page
        errors = watch_errors(desk)
        desk.set_viewport_size({"width": 1366, "height": 768})
        desk.goto(f"http://127.0.0.1:{station.http.port}/")
        desk.select_option("#lang", "en")
        log_in(desk, CHIEF)
        desk.wait_for_selector(f"#session #who >> text={CHIEF}", timeout=MS)
        desk.click(".tile[data-dog=dog1] .frame", timeout=MS)
        desk.wait_for_selector("#dog-goal[data-state=idle]", timeout=MS)
        assert count(desk, POINTS) == 0

        for _ in range(4):   # a lapse of the station's own check-ins ends the goal: sent again
            before = goal_endings(api)
            desk.click("#dog-incident .dispatch-here")
            desk.wait_for_selector("#dispatch-dialog[open]", timeout=MS)
            desk.select_option("#dispatch-goal", "patrol")
            assert desk.is_disabled("#dispatch-x"), "a route needs no point"
            desk.fill("#dispatch-officer", "")
            desk.fill("#dispatch-what", "walk the plaza round")
            desk.click("#dispatch-confirm")
            desk.wait_for_selector("#dispatch-dialog", state="hidden", timeout=MS)
            # drawn from the telemetry, once the dog has passed its first waypoint
            ended = wait_for(lambda before=before: operator() or past_first(station)
                             or +(goal_endings(api) - before),
                             "dog1 past its first waypoint")
            if ended is True:
                break
            assert set(ended) == {"estop"}, ended
            wait_for(operator.dog_free, "the operator's release")
        else:
            raise AssertionError("the station's check-ins lapsed on every walk")
        assert goal_of(station)["waypoints"] == ROUTE, "the dog's own route, in order"
        # every waypoint, the passed ones dimmed, the leg driven, the legs ahead, and the words
        # (one check: a lap's end redraws it with none passed)
        desk.wait_for_function(f"""() => {{
            const n = s => document.querySelectorAll(`#map path.${{s}}`).length;
            return n("route-point") === {len(ROUTE)} && n("route-point.done") >= 1 && n("route-done") === 1
              && n("goal-leg") === 1 && n("route-ahead") === 1
              && /waypoint [2-4] of 4/.test(document.querySelector("#dog-goal").textContent);
        }}""", timeout=MS)
        desk.set_viewport_size({"width": 1920, "height": 1480})   # the route and the incident at once
        desk.locator("#map").scroll_into_view_if_needed()
        shot(desk, "console-route-en.png")
        desk.set_viewport_size({"width": 1366, "height": 768})

        # Stop: the goal ends where the dog stands, and the route leaves the map
        desk.click("#dog-incident .cancel-dog[data-dog=dog1]")
        desk.wait_for_selector("#dog-goal[data-state=cancelled]", timeout=MS)
        desk.wait_for_function(f"() => !document.querySelector('{POINTS}')"
                               " && !document.querySelector('#map path.goal-leg')", timeout=MS)
        assert "waypoint" not in desk.inner_text("#dog-goal")

        # The station's own route, typed into the patrol verb's box: the dog walks those points
        # (its goal names them, in order) and the map draws them
        box = "#verbs [data-verb-box=patrol]"
        desk.select_option(f"{box} select[data-arg=route]", "waypoints")
        desk.fill(f"{box} input[data-arg=waypoints]", "1, 1; 2, 1; 2, 2")
        wait_for(lambda: operator() or desk.is_enabled(f"{box} button[data-verb=patrol]"),
                 "the patrol verb enabled (the dog in view, no hold)")
        desk.click(f"{box} button[data-verb=patrol]")
        own = [[1.0, 1.0], [2.0, 1.0], [2.0, 2.0]]
        wait_for(lambda: operator() or goal_of(station).get("waypoints") == own,
                 "the typed route in the dog's goal")
        desk.wait_for_function(f"() => document.querySelectorAll('{POINTS}').length === {len(own)}",
                               timeout=MS)
        desk.click("#verbs [data-verb-box=cancel] button[data-verb=cancel]")
        desk.wait_for_function(f"() => !document.querySelector('{POINTS}')", timeout=MS)
        assert errors == [], errors
    finally:
        station.stop()
        patrol.kill()
        bodycam.kill()
        children.reap()
