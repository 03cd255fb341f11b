// The dog view's short history charts (uPlot): one small chart per row of CHARTS, fed with one
// sample per telemetry document (sampleOf). Titles come from the catalogue and follow a language
// change (relabel); the time axis is 24-hour hh:mm:ss, never uPlot's default 12-hour clock and
// US date.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import {clock, t} from "./i18n.js";
import {h} from "./dom.js";

const KEEP = 600;
const HEIGHT = 110;

/** Each chart: its title (a catalogue message) and its series: a catalogue label (shown when a
 *  chart has more than one), a colour and the value from a telemetry document (NaN: not sent). */
export const CHARTS = [
  {title: "chart_battery", series: [{color: "#3fb950", value: doc => 100 * ((doc.battery || {}).percentage ?? NaN)}]},
  {title: "chart_speed", series: [{color: "#58a6ff", value: doc => {
    const v = doc.velocity;
    return v ? Math.hypot(v.vx || 0, v.vy || 0) : NaN;
  }}]},
  {title: "chart_link", series: [{color: "#d29922", value: doc => (doc.link || {}).rtt_ms ?? NaN}]},
  {title: "chart_temperature", series: [
    {label: "chart_temp_battery", color: "#3fb950", value: doc => (doc.battery || {}).temperature_c ?? NaN},
    {label: "chart_temp_searchlight", color: "#f85149",
     value: doc => ((doc.payload || {}).searchlight || {}).temperature_c ?? NaN}]},
];

/** [ts, every series of every chart in order] from one telemetry document; a value not sent is
 *  null, uPlot's gap (a NaN would make the whole chart's scale NaN: nothing drawn). */
export function sampleOf(doc) {
  const finite = v => (Number.isFinite(v) ? v : null);
  return [doc.ts, ...CHARTS.flatMap(c => c.series.map(s => finite(s.value(doc))))];
}

/** The time axis' labels: 24-hour, seconds while the ticks are under a minute apart. Kept on the
 *  chart as `data-x-labels` too: the canvas holds no text a screen reader or a test can read. */
function timeLabels(u, splits, _axis, _space, incr) {
  const labels = splits.map(s => clock(s, incr < 60));
  u.root.dataset.xLabels = labels.join(" ");
  return labels;
}

const AXIS = {stroke: "#8b949e", grid: {stroke: "#21262d"}, ticks: {stroke: "#21262d"}};

export class Charts {
  constructor(element) {
    this.element = element;
    this.data = [[], ...CHARTS.flatMap(c => c.series.map(() => []))];
    this.titles = [];
    this.plots = CHARTS.map(chart => {
      const title = h("div", {class: "chart-title"});
      const box = h("div", {class: "chart", "data-chart": chart.title}, title);
      element.append(box);
      this.titles.push(title);
      return new uPlot({
        width: this.width(), height: HEIGHT, legend: {show: false},
        scales: {x: {time: true}},
        axes: [{...AXIS, values: timeLabels, space: 70}, {...AXIS, size: 44}],   // hh:mm:ss is ~60 px wide
        series: [{}, ...chart.series.map(s => ({stroke: s.color, width: 2}))],
      }, [[], ...chart.series.map(() => [])], box);
    });
    this.relabel();
    // the charts take their column's width (two abreast when there is room), whatever the
    // screen; only a new width resizes them (their height is fixed: no resize loop)
    this.drawnWidth = this.width();
    new ResizeObserver(() => {
      const width = this.width();
      if (width === this.drawnWidth) return;
      this.drawnWidth = width;
      this.plots.forEach(p => p.setSize({width, height: HEIGHT}));
    }).observe(element);
  }

  width() {
    const columns = getComputedStyle(this.element).gridTemplateColumns.split(" ").length || 1;
    return Math.max(160, Math.floor((this.element.clientWidth - 8 * (columns - 1)) / columns));
  }

  /** Titles (and the series' names) in the page's language, again after it changed. */
  relabel() {
    CHARTS.forEach((chart, i) => {
      const parts = [h("span", {}, t(chart.title))];
      if (chart.series.length > 1) {
        for (const s of chart.series) {
          const swatch = h("span", {class: "swatch"}, `■ ${t(s.label)}`);
          swatch.style.color = s.color;   // CSSOM: the page's CSP (style-src 'self') refuses a style attribute
          parts.push(swatch);
        }
      }
      this.titles[i].replaceChildren(...parts);
    });
  }

  show(history) {
    this.data = history[0] ? history[0].map((_, i) => history.map(s => s[i])) : this.data.map(() => []);
    this.redraw();
  }

  add(sample) {
    this.data.forEach((column, i) => {
      column.push(sample[i]);
      if (column.length > KEEP) column.shift();
    });
    this.redraw();
  }

  redraw() {
    let column = 1;
    CHARTS.forEach((chart, i) => {
      const n = chart.series.length;
      this.plots[i].setData([this.data[0], ...this.data.slice(column, column + n)]);
      column += n;
    });
  }
}
