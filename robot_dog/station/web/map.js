// The dog view's local map: the dog's position and track from telemetry `pose` (metres in the
// dog's map frame) on a metric grid (Leaflet, CRS.Simple: 1 unit = 1 m). No tiles: nothing is
// fetched from the internet.
import * as L from "./vendor/leaflet/leaflet-src.esm.js";

const GRID_M = 5;

export class DogMap {
  constructor(element) {
    this.map = L.map(element, {crs: L.CRS.Simple, minZoom: -3, maxZoom: 5, zoomSnap: 0.25,
                               attributionControl: false});
    this.grid = L.layerGroup().addTo(this.map);
    this.track = L.polyline([], {color: "#58a6ff", weight: 3}).addTo(this.map);
    this.dog = L.circleMarker([0, 0], {radius: 7, color: "#f0f6fc", fillColor: "#f85149",
                                       fillOpacity: 1}).addTo(this.map);
    this.map.setView([0, 0], 1);
  }

  show(points) {
    const latlngs = points.map(([x, y]) => [y, x]);
    this.track.setLatLngs(latlngs);
    this.drawGrid(latlngs);
    if (latlngs.length) {
      this.dog.setLatLng(latlngs[latlngs.length - 1]);
      this.map.fitBounds(this.track.getBounds().pad(0.3), {maxZoom: 3});
    }
    setTimeout(() => this.map.invalidateSize(), 0);
  }

  add(x, y) {
    this.track.addLatLng([y, x]);
    this.dog.setLatLng([y, x]);
    if (!this.map.getBounds().pad(-0.1).contains([y, x])) this.map.panTo([y, x]);
  }

  drawGrid(latlngs) {
    this.grid.clearLayers();
    const ys = latlngs.map(p => p[0]).concat([0]);
    const xs = latlngs.map(p => p[1]).concat([0]);
    const lo = v => Math.floor(Math.min(...v) / GRID_M - 4) * GRID_M;
    const hi = v => Math.ceil(Math.max(...v) / GRID_M + 4) * GRID_M;
    const [x0, x1, y0, y1] = [lo(xs), hi(xs), lo(ys), hi(ys)];
    const style = {color: "#30363d", weight: 1, interactive: false};
    for (let x = x0; x <= x1; x += GRID_M) L.polyline([[y0, x], [y1, x]], style).addTo(this.grid);
    for (let y = y0; y <= y1; y += GRID_M) L.polyline([[y, x0], [y, x1]], style).addTo(this.grid);
  }
}
