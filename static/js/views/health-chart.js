/**
 * Training-health charts: train/test loss (log-scale toggle), accuracy, and
 * per-layer gradient norm ‖∂L/∂W‖ and update/weight ratio ‖ΔW‖/‖W‖ over
 * iterations, both on a log scale so vanishing gradients (8 sigmoid layers:
 * the first layers' lines lie decades below the last's) and exploding ones
 * are obvious at a glance.
 *
 * Data: the `metrics` message points the page accumulates (server/session.py:
 * `train_loss`, `test_loss`, `train_acc`, `test_acc`, and per layer
 * `gnorm`, `wnorm`, `update_ratio` lists, layer 1 first; engine/metrics.py). Canvas 2D; one colour per
 * layer from a perceptually ordered ramp (first layer dark, last light) with a
 * legend, and the latest values as text for screen readers.
 */

import { CLASS_COLOURS, INK } from '../palette.js';

/** Anchors of a dark-to-light ramp that stays readable on white. */
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 170, 60], [190, 160, 0]];

/**
 * Colour of layer `l` (1-based) of `n` layers.
 * @param {number} l
 * @param {number} n
 * @returns {string}
 */
export function layerColour(l, n) {
  const s = n <= 1 ? 0 : (l - 1) / (n - 1);
  const x = s * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return `rgb(${c.join(',')})`;
}

function num(v) {
  if (v === null || v === undefined) return NaN;
  return Number(v);
}

/** A line chart of several series over iterations; see the module comment. */
export class LineChart {
  /**
   * @param {HTMLElement} container
   * @param {{t?: Function, title: string, log?: boolean, logToggle?: boolean, yMin?: number, yMax?: number, name: string,
   *          series: (points: object[]) => {label: string, colour: string, dash?: boolean, values: number[]}[]}} options
   */
  constructor(container, options) {
    this.t = options.t || ((k) => k);
    this.opts = options;
    this.log = Boolean(options.log);
    this.points = [];
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
    this.text = document.createElement('p');
    this.text.className = 'sr-only';
    this.root.append(head, this.canvas, this.legend, this.text);
    container.append(this.root);
    this.relabel();
  }

  /** Re-read every string (after a language switch). */
  relabel() {
    this.title.textContent = this.t(this.opts.title);
    if (this.logLabel) this.logLabel.textContent = this.t('health.log');
    this.canvas.setAttribute('aria-label', this.t(this.opts.title));
    this.draw();
  }

  /** Show these metrics points (the whole series so far, oldest first). */
  update(points) {
    this.points = points;
    this.draw();
  }

  /** The series as drawn (for tests and the text summary). */
  series() {
    return this.opts.series(this.points);
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
    const all = this.series();
    this.drawLegend(all);
    const xs = this.points.map((p) => p.iteration);
    if (xs.length < 1) {
      ctx.fillStyle = INK;
      ctx.font = '12px system-ui, sans-serif';
      ctx.fillText(this.t('chart.empty'), 8, h / 2);
      this.text.textContent = this.t('chart.empty');
      return;
    }
    const tf = (v) => (this.log ? Math.log10(v) : v);
    const ok = (v) => Number.isFinite(v) && (!this.log || v > 0);
    let lo = Infinity; let hi = -Infinity;
    for (const s of all) for (const v of s.values) if (ok(v)) { lo = Math.min(lo, tf(v)); hi = Math.max(hi, tf(v)); }
    if (this.opts.yMin !== undefined && !this.log) lo = Math.min(lo, this.opts.yMin);
    if (this.opts.yMax !== undefined && !this.log) hi = Math.max(hi, this.opts.yMax);
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { lo -= this.log ? 0.5 : 0.5; hi += 0.5; }
    if (this.log) { lo = Math.floor(lo); hi = Math.ceil(hi); }
    const padL = 44; const padR = 8; const padT = 6; const padB = 18;
    const x0 = xs[0]; const x1 = xs[xs.length - 1];
    const X = (x) => padL + (x1 > x0 ? ((x - x0) / (x1 - x0)) * (w - padL - padR) : (w - padL - padR) / 2);
    const Y = (v) => padT + (1 - (tf(v) - lo) / (hi - lo)) * (h - padT - padB);
    // axes and ticks
    ctx.strokeStyle = 'rgba(0,0,0,0.15)';
    ctx.fillStyle = INK;
    ctx.font = '10px system-ui, sans-serif';
    ctx.lineWidth = 1;
    const ticks = this.log
      ? Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).filter((_, i, a) => a.length <= 7 || i % Math.ceil(a.length / 6) === 0)
      : [lo, (lo + hi) / 2, hi];
    for (const tv of ticks) {
      const y = padT + (1 - (tv - lo) / (hi - lo)) * (h - padT - padB);
      ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - padR, y); ctx.stroke();
      const label = this.log ? `1e${tv}` : (Math.abs(tv) >= 1e4 || (Math.abs(tv) < 1e-3 && tv !== 0) ? tv.toExponential(1) : String(Number(tv.toPrecision(3))));
      ctx.fillText(label, 2, y + 3);
    }
    ctx.fillText(String(x0), padL, h - 4);
    const lastLabel = String(x1);
    ctx.fillText(lastLabel, w - padR - ctx.measureText(lastLabel).width, h - 4);
    // series, thinned to about two points per pixel
    const stride = Math.max(1, Math.floor(xs.length / (2 * (w - padL - padR))));
    const idx = [];
    for (let i = 0; i < xs.length; i += stride) idx.push(i);
    if (idx[idx.length - 1] !== xs.length - 1) idx.push(xs.length - 1);
    for (const s of all) {
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = 1.6;
      ctx.setLineDash(s.dash ? [4, 3] : []);
      ctx.beginPath();
      let pen = false;
      for (const i of idx) {
        const v = s.values[i];
        if (!ok(v)) pen = false;
        else if (!pen) { ctx.moveTo(X(xs[i]), Y(v)); pen = true; } else ctx.lineTo(X(xs[i]), Y(v));
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
    const last = all.map((s) => `${s.label}: ${fmtShort(s.values[s.values.length - 1])}`).join(', ');
    const said = `${this.t(this.opts.title)} — ${this.t('chart.iteration')} ${x1}: ${last}`;
    if (this.text.textContent !== said) this.text.textContent = said;
  }

  drawLegend(all) {
    const key = all.map((s) => `${s.label}|${s.colour}`).join(';');
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren(...all.map((s) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'bpl-chart-swatch';
      sw.style.background = s.colour;
      if (s.dash) sw.classList.add('bpl-chart-swatch-dash');
      li.append(sw, document.createTextNode(s.label));
      return li;
    }));
  }
}

function fmtShort(v) {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toPrecision(3);
}

function perLayer(points, key) {
  let n = 0;
  for (const p of points) if (Array.isArray(p[key])) n = Math.max(n, p[key].length);
  return n;
}

/** The four health charts side by side; `update(points)` feeds all of them. */
export class HealthCharts {
  /**
   * @param {HTMLElement} container
   * @param {{t?: Function}} [options]
   */
  constructor(container, options = {}) {
    const t = options.t || ((k) => k);
    this.t = t;
    this.root = document.createElement('div');
    this.root.className = 'bpl-health';
    this.root.dataset.view = 'health';
    container.append(this.root);
    const pair = (a, b, dash) => (points) => [
      { label: t('chart.train'), colour: CLASS_COLOURS[1], values: points.map((p) => num(p[a])) },
      { label: t('chart.test'), colour: CLASS_COLOURS[0], dash, values: points.map((p) => num(p[b])) },
    ];
    const layers = (key) => (points) => {
      const n = perLayer(points, key);
      return Array.from({ length: n }, (_, k) => ({
        label: `L${k + 1}`,
        colour: layerColour(k + 1, n),
        values: points.map((p) => (Array.isArray(p[key]) ? num(p[key][k]) : NaN)),
      }));
    };
    this.charts = {
      loss: new LineChart(this.root, { t, name: 'loss', title: 'health.loss', logToggle: true, series: pair('train_loss', 'test_loss', true) }),
      accuracy: new LineChart(this.root, { t, name: 'accuracy', title: 'health.accuracy', yMin: 0, yMax: 1, series: pair('train_acc', 'test_acc', true) }),
      gnorm: new LineChart(this.root, { t, name: 'gnorm', title: 'health.gnorm', log: true, series: layers('gnorm') }),
      ratio: new LineChart(this.root, { t, name: 'ratio', title: 'health.ratio', log: true, series: layers('update_ratio') }),
    };
  }

  /** All metrics points so far (oldest first). */
  update(points) {
    for (const c of Object.values(this.charts)) c.update(points);
  }

  /** Re-read every string (after a language switch). */
  relabel() {
    for (const c of Object.values(this.charts)) c.relabel();
  }
}

/**
 * The page's "charts" slot: the health charts, redrawn at most once per
 * animation frame from the page model's accumulated metrics.
 */
export class ChartsPanel {
  /**
   * @param {HTMLElement} container the "charts" slot
   * @param {{i18n: {t: Function}}} options
   */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.section = document.createElement('section');
    this.section.className = 'panel bpl-health-panel';
    this.head = document.createElement('h2');
    this.section.append(this.head);
    container.append(this.section);
    this.charts = new HealthCharts(this.section, { t: (k, p) => i18n.t(k, p) });
    this.points = [];
    this.pending = false;
    this.head.textContent = i18n.t('health.title');
  }

  /** One page event: `run` and `metrics` redraw, `lang` relabels. */
  update({ kind, model }) {
    if (kind === 'lang') {
      this.head.textContent = this.i18n.t('health.title');
      this.charts.relabel();
      return;
    }
    if (kind !== 'run' && kind !== 'metrics') return;
    this.points = model.metrics;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.charts.update(this.points);
    });
  }
}
