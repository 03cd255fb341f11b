// The dog's goal on the dog view's map (telemetry section `goal` from patrol_node): a dashed
// line from the dog to the target, the target with the distance left and the ETA, and the same
// words in the dog view's goal line. Nothing is drawn while the dog has no goal.
import {t} from "./i18n.js";
import * as L from "./vendor/leaflet/leaflet-src.esm.js";

export class GoalLayer {
  constructor(map) {
    this.layer = L.layerGroup().addTo(map);
  }

  /** Redraw from the dog's telemetry; `box`: the element for the words (may be absent). */
  draw(telemetry, box) {
    const goal = telemetry.goal;
    const pose = telemetry.pose;
    this.layer.clearLayers();
    if (!box) return;
    if (!goal || goal.state === "idle") { box.textContent = t("inc_no_goal"); box.dataset.state = "idle"; return; }
    const left = goal.distance_left_m;
    box.textContent = t("inc_progress", {label: goal.label, state: t(`inc_goal_${goal.state}`, {}, goal.state),
      left: left === null || left === undefined ? "∞" : left.toFixed(1),
      eta: goal.eta_s === null || goal.eta_s === undefined ? "–" : Math.round(goal.eta_s)});
    box.dataset.state = goal.state;
    if (goal.target && pose) {
      const to = [goal.target.y, goal.target.x];
      L.polyline([[pose.y, pose.x], to], {color: "#d29922", weight: 3, dashArray: "6 6", interactive: false}).addTo(this.layer);
      L.circleMarker(to, {radius: 8, color: "#d29922", fillColor: "#d29922", fillOpacity: 0.4, interactive: false})
        .bindTooltip(box.textContent, {permanent: true, direction: "top", className: "goal-tip"}).addTo(this.layer);
    }
  }
}
