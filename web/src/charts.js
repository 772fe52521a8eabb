// Time-series charts with uPlot: one instance per chart, created once and fed new data with
// setData() on every refresh (no flicker, no reload). Widths follow the container.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const palette = ['#2f6fde', '#d6453d', '#1f9d61', '#d58a00', '#7b4fd6', '#0f8ea0'];

/// Axis numbers: compact past 10,000 (12.3k), at most three decimals below.
function tick(v, unit) {
  if (v === null) return '';
  const a = Math.abs(v);
  const text = a >= 1e9 ? `${+(v / 1e9).toFixed(2)}G` : a >= 1e6 ? `${+(v / 1e6).toFixed(2)}M` : a >= 1e4 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(3)}`;
  return `${text}${unit}`;
}

/// The y axis is as wide as its longest label (plus tick and gap), so no label is clipped
/// whatever the numbers (uPlot's axis-autosize recipe; a fixed width cut "12345.5 ms").
function labelWidth(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;  // uPlot re-asks until the size settles: keep the first answer
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce((acc, v) => (String(v).length > acc.length ? String(v) : acc), '');
  if (longest !== '') {
    u.ctx.font = axis.font[0];
    size += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size) + 4;
}

const two = (n) => String(n).padStart(2, '0');
/// Time labels on one line (uPlot's default puts the date under the first one, where it runs
/// into the second): seconds when ticks are under a minute apart, the date when the range
/// spans more than a day.
function timeLabels(u, splits) {
  const step = splits.length > 1 ? splits[1] - splits[0] : 60;
  const range = u.scales.x.max - u.scales.x.min;
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
    if (range > 86400) return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${hm}`;
    return step < 60 ? `${hm}:${two(d.getSeconds())}` : hm;
  });
}

function axes(unit) {
  return [
    { stroke: '#6b7585', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#e3e7ee' }, space: 64, size: 36, values: timeLabels },
    {
      stroke: '#6b7585', grid: { stroke: '#eef1f5' }, ticks: { stroke: '#e3e7ee' }, size: labelWidth,
      values: (u, vals) => vals.map((v) => tick(v, unit)),
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
      // Room right of the plot for the last time label, which is centred on its tick.
      padding: [10, 28, 0, 0],
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
