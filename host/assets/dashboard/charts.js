// The dashboard's charts: small functions that turn rows of numbers into inline SVG.
// No library: each chart is a few dozen lines, there is no vendored code to keep
// patched, and the exact numbers stay in the page (tables beside each chart carry them
// for screen readers and tests). Every element is built with createElement(NS) and
// textContent: labels come from tenants' scripts and are never parsed as markup.

const NS = 'http://www.w3.org/2000/svg';

/** An HTML element with attributes and children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return e;
}

/** An SVG element with attributes and children. */
export function s(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  e.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return e;
}

/** Counts: `1,234`; `—` for none. */
export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US');
}

/** A number with at most one decimal: `12.5`, `40`. */
export function num(x) {
  return x === null || x === undefined ? '—' : String(Math.round(x * 10) / 10);
}

/** A fraction as a percentage: `0.7` → `70 %`; `—` when there was no denominator. */
export function pct(r) {
  return r === null || r === undefined ? '—' : `${num(r * 100)}\u00a0%`;
}

/** Minutes as minutes, hours or days, whichever reads best. */
export function duration(m) {
  if (m === null || m === undefined) return '—';
  if (m < 120) return `${num(m)}\u00a0min`;
  if (m < 48 * 60) return `${num(m / 60)}\u00a0h`;
  return `${num(m / 1440)}\u00a0d`;
}

/** A chart's SVG: role img, labelled, sized by its viewBox only. */
function frame(width, height, label, ...children) {
  return s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': label,
    preserveAspectRatio: 'xMinYMin meet',
  }, s('title', {}, label), ...children);
}

/** A rounded "nice" upper bound for an axis: 1, 2, 5 × 10^k at or above `x`. */
function niceMax(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/**
 * The funnel: one centred bar per stage, its width the stage's share of the first,
 * the count inside, and the conversion from the stage before beside it.
 * `stages`: [{label, count, conversion}] (conversion null for the first or no base).
 */
export function funnel(stages, width) {
  const row = 46;
  const top = stages[0].count || 1;
  const labelW = Math.min(170, width * 0.36);
  const barMax = width - labelW - 70;
  const parts = stages.flatMap((st, i) => {
    const y = i * row + 4;
    const w = Math.min(barMax, Math.max(2, (barMax * st.count) / top));
    const x = labelW + (barMax - w) / 2;
    return [
      s('text', { x: 0, y: y + 24, class: 'label' }, st.label),
      s('text', { x: labelW - 10, y: y + 24, class: 'value', 'text-anchor': 'end' }, count(st.count)),
      s('rect', { x, y, width: w, height: row - 12, rx: 3, class: `bar stage-${i}` },
        s('title', {}, `${st.label}: ${count(st.count)}`)),
      i === 0 ? null : s('text', { x: width - 2, y: y + 24, class: 'muted', 'text-anchor': 'end' },
        pct(st.conversion)),
    ];
  });
  return frame(width, stages.length * row, 'Funnel from contacts to handed off', parts);
}

/**
 * Stacked bars by day. `days`: [{day, values: [..]}] with one value per `series`
 * entry ({key, label}); bars are stacked in series order from the axis up.
 */
export function stackedBars(days, series, width) {
  const height = 220;
  const pad = { l: 36, r: 6, t: 8, b: 26 };
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const max = niceMax(Math.max(...days.map((d) => d.values.reduce((a, b) => a + b, 0))));
  const step = plotW / days.length;
  const barW = Math.max(1, step * 0.75);
  const y = (v) => pad.t + plotH - (plotH * v) / max;
  const grid = [0, 0.5, 1].map((f) => [
    s('line', { x1: pad.l, x2: width - pad.r, y1: y(max * f), y2: y(max * f), class: 'grid' }),
    s('text', { x: pad.l - 4, y: y(max * f) + 4, class: 'axis', 'text-anchor': 'end' }, num(max * f)),
  ]);
  // A date label every few bars, counted back from the last day (always labelled), so
  // that they never overlap whatever the range and width.
  const every = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(plotW / 60))));
  const bars = days.map((d, i) => {
    let base = 0;
    const x = pad.l + i * step + (step - barW) / 2;
    const stack = d.values.map((v, k) => {
      const r = v > 0
        ? s('rect', { x, y: y(base + v), width: barW, height: y(base) - y(base + v), class: `bar ${series[k].key}` },
          s('title', {}, `${d.day} ${series[k].label}: ${count(v)}`))
        : null;
      base += v;
      return r;
    });
    const label = (days.length - 1 - i) % every === 0
      ? s('text', { x: x + barW / 2, y: height - 8, class: 'axis', 'text-anchor': 'middle' }, d.day.slice(5))
      : null;
    return [stack, label];
  });
  return frame(width, height, `Contacts by class and day, ${days[0].day} to ${days[days.length - 1].day}`, grid, bars);
}

/**
 * One horizontal bar per row for a rate (0..1), the track showing 100 %.
 * `rows`: [{label, rate, detail}] where detail is the "21 of 30" beside the percentage.
 */
export function rateBars(rows, width, title) {
  const row = 34;
  const labelW = Math.min(160, width * 0.32);
  const textW = 130;
  const barMax = Math.max(40, width - labelW - textW);
  const parts = rows.map((r, i) => {
    const y = i * row + 4;
    const w = r.rate === null ? 0 : barMax * Math.min(1, Math.max(0, r.rate));
    return [
      s('text', { x: 0, y: y + 18, class: 'label' }, clip(r.label, labelW)),
      s('rect', { x: labelW, y, width: barMax, height: row - 12, rx: 3, class: 'track' }),
      w > 0 ? s('rect', { x: labelW, y, width: w, height: row - 12, rx: 3, class: 'bar rate' },
        s('title', {}, `${r.label}: ${pct(r.rate)} (${r.detail})`)) : null,
      s('text', { x: labelW + barMax + 8, y: y + 18, class: 'value' }, `${pct(r.rate)} `,
        s('tspan', { class: 'muted' }, r.detail)),
    ];
  });
  return frame(width, rows.length * row, title, parts);
}

/**
 * Each arm's estimate with its 95 % interval as an error bar; the winner marked.
 * `arms`: [{name, value, ci: [lo, hi] | null, winner}]; `fmt` formats values; the axis
 * runs from 0 (or the lowest bound, if negative) to a nice maximum.
 */
export function intervals(arms, width, fmt, title) {
  const row = 36;
  const labelW = Math.min(150, width * 0.3);
  const pad = { r: 16, b: 24 };
  const values = arms.flatMap((a) => [a.value, ...(a.ci || [])]).filter((v) => v !== null);
  const lo = Math.min(0, ...values);
  const hi = niceMax(Math.max(...values, 0));
  const plotW = width - labelW - pad.r;
  const x = (v) => labelW + (plotW * (v - lo)) / (hi - lo || 1);
  const height = arms.length * row + pad.b;
  const axis = [lo, (lo + hi) / 2, hi].map((v) => [
    s('line', { x1: x(v), x2: x(v), y1: 0, y2: height - pad.b, class: 'grid' }),
    s('text', { x: x(v), y: height - 6, class: 'axis', 'text-anchor': 'middle' }, fmt(v)),
  ]);
  const parts = arms.map((a, i) => {
    const cy = i * row + row / 2;
    const cls = a.winner ? 'winner' : 'arm';
    return [
      s('text', { x: 0, y: cy + 5, class: `label ${cls}` }, clip(a.winner ? `★ ${a.name}` : a.name, labelW)),
      a.ci ? [
        s('line', { x1: x(a.ci[0]), x2: x(a.ci[1]), y1: cy, y2: cy, class: `whisker ${cls}` }),
        s('line', { x1: x(a.ci[0]), x2: x(a.ci[0]), y1: cy - 7, y2: cy + 7, class: `whisker ${cls}` }),
        s('line', { x1: x(a.ci[1]), x2: x(a.ci[1]), y1: cy - 7, y2: cy + 7, class: `whisker ${cls}` }),
      ] : null,
      a.value === null ? null : s('circle', { cx: x(a.value), cy, r: 6, class: `dot ${cls}` },
        s('title', {}, `${a.name}: ${fmt(a.value)}${a.ci ? ` (95 % interval ${fmt(a.ci[0])} to ${fmt(a.ci[1])})` : ''}`)),
    ];
  });
  return frame(width, height, title, axis, parts);
}

/** Shortens a label to roughly fit `px` (at about 8 px a character). */
function clip(text, px) {
  const n = Math.max(4, Math.floor(px / 8));
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
