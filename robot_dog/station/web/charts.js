// The dog view's short history charts (uPlot): one small chart per series of
// [ts, battery %, speed m/s, link RTT ms] samples from telemetry.
import uPlot from "./vendor/uplot/uPlot.esm.js";

const KEEP = 600;

export class Charts {
  constructor(element, labels) {
    this.labels = labels;
    this.data = [[], ...labels.map(() => [])];
    this.plots = labels.map((label, i) => new uPlot({
      width: 300, height: 110, legend: {show: false},
      title: label,
      scales: {x: {time: true}},
      axes: [{stroke: "#8b949e", grid: {stroke: "#21262d"}}, {stroke: "#8b949e", grid: {stroke: "#21262d"}, size: 44}],
      series: [{}, {stroke: ["#3fb950", "#58a6ff", "#d29922"][i], width: 2}],
    }, [[], []], element.appendChild(document.createElement("div"))));
  }

  show(history) {
    this.data = [history.map(s => s[0]), ...this.labels.map((_, i) => history.map(s => s[i + 1]))];
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
    this.plots.forEach((plot, i) => plot.setData([this.data[0], this.data[i + 1]]));
  }
}
