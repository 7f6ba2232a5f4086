/**
 * One line chart on Canvas 2D: series over iterations, markers, and a "you are
 * here" cursor; the drawing widget of the training-health charts
 * (health-chart.js says what they show).
 *
 * A chart is built from `(container, options)`; `options.build(data)` turns the
 * panel's data into `{series, markers, groups}`:
 * - a series is `{key, label, colour, xs, values, dash?, width?, alpha?, step?,
 *   legend?, z?, robust?}`: its own iterations `xs` (so series sampled differently share
 *   one axis), `step: true` draws a staircase where each value holds from the
 *   previous point up to its own (a learning rate: the rate of the update that
 *   led to that point), `legend: false` leaves it out of the legend, a lower
 *   `z` draws it under the others, `robust` lets only its 2nd–98th
 *   percentiles set the range (a noisy series' spikes run off the top);
 * - a marker is `{x, y, label, colour}`: a ring on the point, a dotted line
 *   down through it, and its label above the plot (`options.marks` keeps room for
 *   it), where no curve runs;
 * - a group is a legend-only entry `{label, colour, dash}` (the compared run's
 *   per-layer lines, one entry for all of them).
 * `data.cursor` (an iteration, or null) draws the cursor on every chart.
 *
 * What was drawn is kept on the chart's element as `drawn` (data and pixel
 * coordinates of the series, markers, cursor and the `dots` of lone points; the `plot` area, and the boxes
 * `{x, y, w, h}` of the axis `labels` and each marker's label) for tests. The markers are
 * said in words under the chart; the text alternative says where the cursor
 * is and the latest value of every legend entry ("label: value, …").
 */

import { INK } from '../palette.js';

/** The cursor's colour: the ink, so it reads on every series. */
const CURSOR = INK;

/** A short number for axis labels and the text alternative. */
export function fmtShort(v) {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toPrecision(3);
}

/** A line chart of several series over iterations; see the module comment. */
export class LineChart {
  /**
   * @param {HTMLElement} container
   * @param {{t?: Function, name: string, title: string, log?: boolean, logToggle?: boolean,
   *          marks?: boolean, yMin?: number, yMax?: number, data: object, build: (data: object) => object,
   *          note?: (data: object) => string, describe?: (data: object, built: object) => string}} options
   */
  constructor(container, options) {
    this.t = options.t || ((k) => k);
    this.opts = options;
    this.log = Boolean(options.log);
    this.data = options.data;
    this.root = document.createElement('figure');
    this.root.className = 'bpl-chart';
    this.root.dataset.chart = options.name;
    const head = document.createElement('figcaption');
    head.className = 'bpl-chart-head';
    this.title = document.createElement('span');
    this.title.className = 'bpl-chart-title';
    head.append(this.title);
    if (options.logToggle) {
      const lab = document.createElement('label');
      lab.className = 'bpl-chart-log';
      this.logBox = document.createElement('input');
      this.logBox.type = 'checkbox';
      this.logBox.checked = this.log;
      this.logBox.addEventListener('change', () => { this.log = this.logBox.checked; this.draw(); });
      this.logLabel = document.createElement('span');
      lab.append(this.logBox, this.logLabel);
      head.append(lab);
    }
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'bpl-chart-canvas';
    this.canvas.setAttribute('role', 'img');
    this.legend = document.createElement('ul');
    this.legend.className = 'bpl-chart-legend';
    this.marks = document.createElement('p');
    this.marks.className = 'bpl-chart-marks';
    // the same in fewer words, for a projector's narrow column (CSS shows one of the two)
    this.marksShort = document.createElement('p');
    this.marksShort.className = 'bpl-chart-marks-short';
    this.marksShort.hidden = true;
    this.note = document.createElement('p');
    this.note.className = 'bpl-chart-note';
    this.text = document.createElement('p');
    this.text.className = 'sr-only';
    this.root.append(head, this.canvas, this.legend, this.marks, this.marksShort, this.note, this.text);
    container.append(this.root);
    this.relabel();
    if (typeof ResizeObserver !== 'undefined') {
      // a canvas resized by the layout (a scrollbar, presentation mode) is drawn again
      this.sized = '';
      new ResizeObserver(() => {
        const w = this.canvas.clientWidth;
        const size = `${w}x${this.canvas.clientHeight}`; // a projector's chart grows in height too
        if (w && size !== this.sized) { this.sized = size; this.draw(); }
      }).observe(this.canvas);
    }
  }

  /** Re-read every string (after a language switch). */
  relabel() {
    this.title.textContent = this.t(this.opts.title);
    if (this.logLabel) this.logLabel.textContent = this.t('health.log');
    this.canvas.setAttribute('aria-label', this.t(this.opts.title));
    this.legendKey = null;
    this.draw();
  }

  /** Show this data (see the module comment) and redraw. */
  update(data) {
    this.data = data;
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth || 320;
    const h = c.clientHeight || 140;
    const ratio = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * ratio)) c.width = Math.round(w * ratio);
    if (c.height !== Math.round(h * ratio)) c.height = Math.round(h * ratio);
    const ctx = c.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const built = this.opts.build(this.data);
    const all = built.series || [];
    const markers = built.markers || [];
    this.drawLegend(all, built.groups || []);
    const noteText = this.opts.note ? this.opts.note(this.data) : '';
    if (this.note.textContent !== noteText) this.note.textContent = noteText;
    this.note.hidden = !noteText;
    const tf = (v) => (this.log ? Math.log10(v) : v);
    const ok = (v) => Number.isFinite(v) && (!this.log || v > 0);
    let x0 = Infinity; let x1 = -Infinity; let lo = Infinity; let hi = -Infinity;
    for (const s of all) {
      let a = Infinity; let b = -Infinity; let n = 0;
      for (let i = 0; i < s.xs.length; i++) {
        const v = s.values[i];
        if (!ok(v)) continue;
        if (s.xs[i] < x0) x0 = s.xs[i];
        if (s.xs[i] > x1) x1 = s.xs[i];
        const y = tf(v);
        if (y < a) a = y;
        if (y > b) b = y;
        n++;
      }
      if (!n) continue;
      // a noisy series (one sample's loss) sets the range by its bulk: its spikes are cut
      if (s.robust && n > 20) [a, b] = quantiles(s.values, ok, tf, 0.02, 0.98);
      lo = Math.min(lo, a); hi = Math.max(hi, b);
    }
    if (!Number.isFinite(x0)) {
      this.root.drawn = { series: [], markers: [], cursor: null };
      this.marks.textContent = this.marksShort.textContent = '';
      this.marks.hidden = this.marksShort.hidden = true;
      ctx.fillStyle = INK;
      ctx.font = '12px system-ui, sans-serif';
      // (points there, each 0 or below: a log scale has no place for them)
      const zeros = this.log && all.some((s) => s.values.some((v) => v <= 0));
      const empty = this.t(zeros ? 'chart.zeros' : 'chart.empty');
      ctx.fillText(empty, 8, h / 2);
      if (this.text.textContent !== empty) this.text.textContent = empty;
      return;
    }
    const cursor = this.data.cursor;
    if (Number.isFinite(cursor)) { x0 = Math.min(x0, cursor); x1 = Math.max(x1, cursor); }
    const span = this.data.span; // (charts drawn one above the other share their x axis)
    if (span) { x0 = Math.min(x0, span[0]); x1 = Math.max(x1, span[1]); }
    if (this.opts.yMin !== undefined && !this.log) lo = Math.min(lo, this.opts.yMin);
    if (this.opts.yMax !== undefined && !this.log) hi = Math.max(hi, this.opts.yMax);
    if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
      const pad = this.log ? 0.5 : Math.abs(hi) * 0.5 || 0.5;
      lo -= pad; hi += pad;
    }
    if (this.log) { lo = Math.floor(lo); hi = Math.ceil(hi); }
    // type and lines follow the page (presentation mode enlarges --chart-font, --chart-line)
    const css = getComputedStyle(c);
    const px = parseFloat(css.getPropertyValue('--chart-font')) || 12;
    this.font = `${Math.round(px * 0.85)}px system-ui, sans-serif`;
    this.line = (parseFloat(css.getPropertyValue('--chart-line')) || 2) / 2;
    ctx.font = this.font;
    const ticks = this.ticks(lo, hi);
    const padL = Math.max(30, ...ticks.map((tv) => ctx.measureText(this.tickLabel(tv)).width)) + 8;
    const padR = 8; const padB = Math.round(px * 0.85) + 8;
    const padT = this.opts.marks ? padB + 2 : 6;
    const X = (x) => padL + (x1 > x0 ? ((x - x0) / (x1 - x0)) * (w - padL - padR) : (w - padL - padR) / 2);
    const Y = (v) => padT + (1 - (tf(v) - lo) / (hi - lo)) * (h - padT - padB);
    const labels = this.drawAxes(ctx, { w, h, padL, padR, padT, padB, lo, hi, x0, x1, ticks });
    const order = [...all].sort((a, b) => (a.z || 0) - (b.z || 0));
    ctx.save();
    ctx.beginPath();
    ctx.rect(padL - 2, padT - 2, w - padL - padR + 4, h - padT - padB + 4);
    ctx.clip();
    const dots = order.map((s) => this.drawSeries(ctx, s, X, Y, ok, w - padL - padR)).filter(Boolean);
    ctx.restore();
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
    for (const d of dots) { // (outside the clip: a point at the plot's edge whole)
      ctx.fillStyle = d.colour;
      ctx.globalAlpha = d.alpha;
      ctx.beginPath(); ctx.arc(d.px, d.py, d.r, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.globalAlpha = 1;
    const drawnMarkers = markers.filter((m) => ok(m.y)).map((m) => this.drawMarker(ctx, m, X(m.x), Y(m.y), padT, h - padB, padL, w - padR));
    let drawnCursor = null;
    if (Number.isFinite(cursor)) drawnCursor = this.drawCursor(ctx, cursor, X(cursor), padT, h - padB);
    this.root.drawn = {
      x0, x1, lo, hi, log: this.log, width: w, height: h, labels,
      plot: { left: padL, top: padT, right: w - padR, bottom: h - padB },
      series: all.map((s) => ({ key: s.key, label: s.label, colour: s.colour, xs: s.xs, values: s.values, step: Boolean(s.step) })),
      markers: drawnMarkers,
      cursor: drawnCursor,
      dots,
    };
    // the markers in words, for everyone (what early stopping would do is worth reading)
    const marks = drawnMarkers.map((m) => m.said).join(' · ');
    if (this.marks.textContent !== marks) this.marks.textContent = marks;
    this.marks.hidden = !marks;
    const short = drawnMarkers.map((m) => m.short).join(' · ');
    if (this.marksShort.textContent !== short) this.marksShort.textContent = short;
    this.marksShort.hidden = !short;
    const parts = [];
    if (drawnCursor) parts.push(this.t('chart.cursor', { n: Math.ceil(cursor) }));
    const latest = all.filter((s) => s.legend !== false).map((s) => `${s.label}: ${fmtShort(lastFinite(s.values))}`).join(', ');
    const said = `${this.t(this.opts.title)} — ${parts.map((p) => `${p} — `).join('')}${this.t('chart.iteration')} ${x1}: ${latest}`;
    if (this.text.textContent !== said) this.text.textContent = said;
  }

  /** The y axis's ticks (log10 of the values on a log scale): on a linear one, round values
   * (a step of 1, 2 or 5 × 10ⁿ) within the range, two to five of them (the range's ends and
   * middle read 0.473, 0.759, 1.04). */
  ticks(lo, hi) {
    if (this.log) {
      return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).filter((_, i, a) => a.length <= 7 || i % Math.ceil(a.length / 6) === 0);
    }
    for (const parts of [3, 5, 10]) {
      const raw = (hi - lo) / parts;
      const p = 10 ** Math.floor(Math.log10(raw));
      const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
      const out = [];
      for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step; k++) out.push(Number((k * step).toPrecision(12)));
      if (out.length >= 2 && out.length <= 5) return out;
    }
    return [lo, (lo + hi) / 2, hi];
  }

  tickLabel(tv) {
    if (this.log) return `1e${tv}`;
    return Math.abs(tv) >= 1e4 || (Math.abs(tv) < 1e-3 && tv !== 0) ? tv.toExponential(1) : String(Number(tv.toPrecision(3)));
  }

  drawAxes(ctx, { w, h, padL, padR, padT, padB, lo, hi, x0, x1, ticks }) {
    ctx.strokeStyle = 'rgba(0,0,0,0.15)';
    ctx.fillStyle = INK;
    ctx.font = this.font;
    ctx.lineWidth = 1;
    const half = parseFloat(this.font) / 3;
    const labels = [];
    const text = (s, x, y) => labels.push(this.write(ctx, s, x, y));
    for (const tv of ticks) {
      const y = padT + (1 - (tv - lo) / (hi - lo)) * (h - padT - padB);
      ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - padR, y); ctx.stroke();
      text(this.tickLabel(tv), 2, Math.min(Math.max(y + half, half * 3), h - padB));
    }
    const lastLabel = String(x1);
    if (x1 > x0) {
      text(String(x0), padL, h - 4);
      text(lastLabel, w - padR - ctx.measureText(lastLabel).width, h - 4);
    } else text(lastLabel, (padL + w - padR - ctx.measureText(lastLabel).width) / 2, h - 4);
    return labels;
  }

  /** Write `s` at baseline `y`; returns its box. */
  write(ctx, s, x, y) {
    ctx.fillText(s, x, y);
    const m = ctx.measureText(s);
    return { text: s, x, y: y - m.actualBoundingBoxAscent, w: m.width, h: m.actualBoundingBoxAscent + m.actualBoundingBoxDescent };
  }

  /** One series, thinned to about two points per pixel; a gap where a value is not finite.
   * A lone point is a dot, drawn by the caller: returns it ({key, colour, px, py, r}), else null. */
  drawSeries(ctx, s, X, Y, ok, span) {
    const n = s.xs.length;
    if (!n) return null;
    if (n === 1) { // (a line of one point is nothing: a dot a class can see, the line's colour)
      const v = s.values[0];
      return ok(v) ? { key: s.key, colour: s.colour, alpha: s.alpha ?? 1, px: X(s.xs[0]), py: Y(v), r: 3.5 * this.line } : null;
    }
    const stride = Math.max(1, Math.floor(n / (2 * span)));
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = (s.width || 1.6) * this.line;
    ctx.globalAlpha = s.alpha ?? 1;
    ctx.lineCap = s.dash && s.dash[0] < 2 ? 'round' : 'butt';
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let pen = false;
    let prevX = 0;
    for (let i = 0; i < n; i = i + stride < n || i === n - 1 ? i + stride : n - 1) {
      const v = s.values[i];
      const px = X(s.xs[i]);
      if (!ok(v)) pen = false;
      else if (!pen) { ctx.moveTo(px, Y(v)); pen = true; } else {
        if (s.step) ctx.lineTo(prevX, Y(v));
        ctx.lineTo(px, Y(v));
      }
      prevX = px;
    }
    ctx.stroke();
    ctx.globalAlpha = 1;
    return null;
  }

  drawMarker(ctx, m, px, py, top, bottom, left, right) {
    ctx.save();
    ctx.strokeStyle = m.colour;
    ctx.lineWidth = 1.2;
    ctx.setLineDash([2, 2]);
    ctx.beginPath(); ctx.moveTo(px, top - 4); ctx.lineTo(px, py - 5); ctx.moveTo(px, py + 5); ctx.lineTo(px, bottom); ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(px, py, 5, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = m.colour;
    ctx.font = `600 ${this.font}`;
    const tw = ctx.measureText(m.label).width;
    const box = this.write(ctx, m.label, Math.min(Math.max(px - tw / 2, left), right - tw), top - 6);
    ctx.restore();
    return { x: m.x, y: m.y, px, py, label: m.label, said: m.said || m.label, short: m.short || m.said || m.label, box };
  }

  drawCursor(ctx, x, px, top, bottom) {
    ctx.save();
    ctx.strokeStyle = CURSOR;
    ctx.fillStyle = CURSOR;
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, bottom); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(px - 5, top); ctx.lineTo(px + 5, top); ctx.lineTo(px, top + 6); ctx.closePath(); ctx.fill();
    ctx.restore();
    return { x, px };
  }

  drawLegend(all, groups) {
    const entries = [...all.filter((s) => s.legend !== false), ...groups];
    const key = entries.map((s) => `${s.label}|${s.colour}|${s.dash || ''}`).join(';');
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren(...entries.map((s) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'bpl-chart-swatch';
      sw.style.background = s.colour;
      sw.style.borderTopColor = s.colour; // (a dotted swatch is its top border)
      if (s.dash) sw.classList.add(s.dash[0] < 2 ? 'bpl-chart-swatch-dot' : 'bpl-chart-swatch-dash');
      if (s.alpha !== undefined && s.alpha < 1) sw.classList.add('bpl-chart-swatch-faint');
      li.append(sw, document.createTextNode(s.label));
      return li;
    }));
  }
}

/** The `p`-th and `q`-th quantiles (nearest rank) of `tf` of the values that are `ok`,
 * from an even sample of at most 2,000 of them (a redraw stays cheap on a long run). */
function quantiles(values, ok, tf, p, q) {
  const step = Math.max(1, Math.floor(values.length / 2000));
  const v = [];
  for (let i = values.length - 1; i >= 0; i -= step) if (ok(values[i])) v.push(tf(values[i]));
  v.sort((a, b) => a - b);
  const at = (f) => v[Math.min(v.length - 1, Math.max(0, Math.round(f * (v.length - 1))))];
  return [at(p), at(q)];
}

function lastFinite(values) {
  for (let i = values.length - 1; i >= 0; i--) if (Number.isFinite(values[i])) return values[i];
  return NaN;
}
