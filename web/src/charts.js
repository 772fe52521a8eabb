// Time-series charts with uPlot: one instance per chart, created once and fed new data with
// setData() on every refresh (no flicker, no reload). Widths follow the container.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const palette = ['#2f6fde', '#d6453d', '#1f9d61', '#d58a00', '#7b4fd6', '#0f8ea0'];

function axes(unit) {
  return [
    { stroke: '#6b7585', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#e3e7ee' } },
    {
      stroke: '#6b7585', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#e3e7ee' }, size: 56,
      values: (u, vals) => vals.map((v) => (v === null ? '' : `${+v.toFixed(3)}${unit}`)),
    },
  ];
}

export class time_chart {
  /// series: [{label, color?, dash?}]
  constructor(el, series, unit = '') {
    this.el = el;
    this.unit = unit;
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: el.clientHeight - 34,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: axes(unit),
      legend: { live: true },
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? palette[i % palette.length],
          width: 1.6,
          dash: s.dash,
          fill: s.fill,
          spanGaps: s.spanGaps ?? false,
          points: s.points ? { show: true, size: 5, fill: s.color } : { show: false },
          value: (u, v) => (v === null || v === undefined ? '–' : `${+v.toFixed(2)}${unit}`),
        })),
      ],
    };
    this.plot = new uPlot(opts, [[], ...series.map(() => [])], el);
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: Math.max(200, el.clientWidth), height: el.clientHeight - 34 }));
    this.resize.observe(el);
  }

  /// For a chart whose series change (the keys chart): stop watching the size, free uPlot.
  destroy() {
    this.resize.disconnect();
    this.plot.destroy();
  }

  /// xs in ms since the epoch; ys: one array per series.
  set(xs, ys) {
    this.plot.setData([xs.map((t) => t / 1000), ...ys]);
  }
}
