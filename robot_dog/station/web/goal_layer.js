// The dog's goal on the dog view's map, from the telemetry section `goal` alone (patrol_node's
// own word, never a copy in the page): while the goal runs, a route's waypoints (`waypoints`,
// odom frame) with the legs already walked dimmed, the leg being driven from the dog to the
// waypoint it walks to, the legs ahead, and the target with the distance left and the ETA; the
// same words in the dog view's goal line. Nothing is drawn once the goal ended or while the dog
// has none (the words say how it ended).
import {t} from "./i18n.js";
import * as L from "./vendor/leaflet/leaflet-src.esm.js";

const RUNNING = ["active", "waiting"];
const COLOUR = "#d29922";
const DONE = "#6e7681";

/** [lat, lng] of a point in the dog's frame (CRS.Simple: lat = y, lng = x). */
const at = ([x, y]) => [y, x];

export class GoalLayer {
  constructor(map) {
    this.map = map;
    this.layer = L.layerGroup().addTo(map);
    this.framed = "";   // the goal the map was last fitted to (once per goal: then the user pans)
  }

  /** Redraw from the dog's telemetry; `box`: the element for the words (may be absent). */
  draw(telemetry, box) {
    const goal = telemetry.goal;
    const pose = telemetry.pose;
    this.layer.clearLayers();
    if (!box) return;
    if (!goal || goal.state === "idle") { box.textContent = t("inc_no_goal"); box.dataset.state = "idle"; return; }
    const left = goal.distance_left_m;
    const route = Array.isArray(goal.waypoints) && goal.waypoints.length > 1 ? goal.waypoints : null;
    const next = route ? Math.min(goal.waypoint_index || 0, route.length - 1) : 0;
    const state = t(`inc_goal_${goal.state}`, {}, goal.state);
    box.textContent = (left === null ? t("inc_progress_loop", {label: goal.label, state})   // round and round
      : t("inc_progress", {label: goal.label, state, left: left === undefined ? "–" : left.toFixed(1),
                           eta: goal.eta_s === null || goal.eta_s === undefined ? "–" : Math.round(goal.eta_s)}))
      + (route && RUNNING.includes(goal.state) ? t("inc_route_progress", {n: next + 1, of: route.length}) : "");
    box.dataset.state = goal.state;
    box.dataset.waypoint = route ? String(next) : "";
    if (!RUNNING.includes(goal.state)) { this.framed = ""; return; }
    if (route) this.drawRoute(route, next, pose, left === null);
    else if (goal.target && pose) {
      L.polyline([at([pose.x, pose.y]), at([goal.target.x, goal.target.y])],
                 {color: COLOUR, weight: 3, dashArray: "6 6", interactive: false, className: "goal-leg"}).addTo(this.layer);
    }
    if (goal.target) {
      L.circleMarker(at([goal.target.x, goal.target.y]), {radius: 8, color: COLOUR, fillColor: COLOUR, fillOpacity: 0.4,
                                                          interactive: false, className: "goal-target"})
        .bindTooltip(box.textContent, {permanent: true, direction: "top", className: "goal-tip"}).addTo(this.layer);
    }
    this.frame(goal, route, pose);
  }

  /** A new goal: the map shows all of it (the dog, the route, the target), once per goal. */
  frame(goal, route, pose) {
    const key = JSON.stringify([goal.label, route, goal.target]);
    const points = [...(route || []), ...(goal.target ? [[goal.target.x, goal.target.y]] : []),
                    ...(pose ? [[pose.x, pose.y]] : [])];
    if (key === this.framed || points.length < 2) return;
    this.framed = key;
    this.map.fitBounds(L.latLngBounds(points.map(at)).pad(0.2), {maxZoom: 5});
  }

  /** The route: the legs walked dimmed (up to the dog), the leg being driven (dog -> waypoint
   *  `next`, dashed), the legs ahead (round to the first again while it loops: no distance). */
  drawRoute(route, next, pose, loops) {
    const line = (points, style, className) =>
      L.polyline(points.map(at), {interactive: false, className, ...style}).addTo(this.layer);
    const here = pose ? [[pose.x, pose.y]] : [];
    if (next > 0) line([...route.slice(0, next), ...here], {color: DONE, weight: 3, opacity: 0.7}, "route-done");
    if (pose) line([...here, route[next]], {color: COLOUR, weight: 4, dashArray: "6 6"}, "goal-leg");
    line([...route.slice(next), ...(loops ? [route[0]] : [])], {color: COLOUR, weight: 2, opacity: 0.8}, "route-ahead");
    route.forEach((p, n) => {
      const done = n < next;
      L.circleMarker(at(p), {radius: 5, color: done ? DONE : COLOUR, fillColor: done ? DONE : "#161b22", fillOpacity: 1,
                             weight: 2, interactive: false, className: `route-point${done ? " done" : ""}`}).addTo(this.layer);
    });
  }
}
