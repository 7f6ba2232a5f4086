/**
 * The output over the input plane: decision boundary (classification) or
 * regression surface, with the train and test points on top; for one-input
 * regression (sine) the fitted curve through the points instead.
 *
 * Numbers come from the server's `maps` message (8-bit quantized channels,
 * see server/maps.py) and the `run` message's data. Canvas 2D; colours from
 * the page's colour-blind-safe palette (palette.js: blue positive / class 1,
 * vermillion negative / class 0, Okabe–Ito hues for more classes).
 * Clicking a point (or ←/→ on the focused canvas) calls `onPick` so the page
 * can focus that sample; Escape clears it. In "add points" mode a click
 * instead calls `onAdd([x1, x2])` with the clicked place in input
 * coordinates, and the points added so far (`setDraft`) are drawn as
 * diamonds until they are trained on.
 */

import { CLASS_COLOURS, NEG, POS, ZERO } from '../palette.js';
import { fmt } from '../format.js';

const CLASS_RGB = CLASS_COLOURS.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));

/**
 * [r, g, b] of a value in [−1, 1] on the page's diverging palette (same
 * formula as palette.js's `diverging`, as numbers for ImageData): the sign
 * picks the hue, the magnitude its strength.
 * @param {number} v
 * @returns {number[]}
 */
export function diverging(v) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const m = Math.min(1, Math.abs(v)) ** 0.6;
  const end = v < 0 ? NEG : POS;
  return ZERO.map((c, i) => Math.round(c + (end[i] - c) * m));
}

/** CSS colour string of {@link diverging}. */
export function divergingCss(v) {
  const [r, g, b] = diverging(v);
  return `rgb(${r},${g},${b})`;
}

/**
 * Decode one quantized map ({shape:[C,G], min, max, data}) to C Float32Arrays.
 * @param {{shape:number[], min:number[], max:number[], data:string}} m
 * @returns {Float32Array[]}
 */
export function dequantize(m) {
  const [c, g] = m.shape;
  const bin = atob(m.data);
  const out = [];
  for (let k = 0; k < c; k += 1) {
    const lo = Number(m.min[k]);
    const step = (Number(m.max[k]) - lo) / 255;
    const row = new Float32Array(g);
    for (let i = 0; i < g; i += 1) row[i] = lo + bin.charCodeAt(k * g + i) * step;
    out.push(row);
  }
  return out;
}

/** Class index of a target row (one column 0/1, or one-hot). */
function classOf(t) {
  if (t.length === 1) return t[0] >= 0.5 ? 1 : 0;
  let best = 0;
  for (let k = 1; k < t.length; k += 1) if (t[k] > t[best]) best = k;
  return best;
}

/** Render quantized maps into an RGBA ImageData-like buffer for the task. */
export function paintPlane(channels, size, task, scale) {
  const px = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i += 1) {
    let rgb;
    if (task === 'multiclass') {
      let best = 0;
      for (let k = 1; k < channels.length; k += 1) if (channels[k][i] > channels[best][i]) best = k;
      const conf = channels.length > 1 ? (channels[best][i] - 1 / channels.length) / (1 - 1 / channels.length) : 1;
      const m = 0.15 + 0.6 * Math.max(0, Math.min(1, conf));
      rgb = ZERO.map((c, j) => Math.round(c + (CLASS_RGB[best % CLASS_RGB.length][j] - c) * m));
    } else if (task === 'binary') {
      rgb = diverging((channels[0][i] - 0.5) * 2 * 0.8);
    } else {
      rgb = diverging(scale > 0 ? channels[0][i] / scale : 0);
    }
    px.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  }
  return px;
}

/** Map over the input plane with the data points; see the module comment. */
export class MapView {
  /**
   * @param {HTMLElement} container
   * @param {{t?: (key: string, vars?: object) => string, onPick?: (pick: {split: string, index: number}|null) => void, size?: number}} [options]
   */
  constructor(container, options = {}) {
    this.t = options.t || ((k) => k);
    this.onPick = options.onPick || null;
    this.onAdd = options.onAdd || null;
    this.adding = false;
    this.draft = [];
    /** Keyboard cursor for adding points: fractions [x, y] of the canvas. */
    this.cursor = [0.5, 0.5];
    /** While adding points to a new data set, the current run's points are hidden. */
    this.hideData = false;
    this.cssSize = options.size || 280;
    this.run = null;
    this.maps = null;
    this.focus = null;
    this.batch = null;
    this.showTest = true;
    this.root = document.createElement('figure');
    this.root.className = 'bpl-map';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'bpl-map-canvas';
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'img');
    this.canvas.dataset.view = 'output-map';
    this.caption = document.createElement('figcaption');
    this.caption.className = 'bpl-map-caption';
    this.summary = document.createElement('p');
    this.summary.className = 'sr-only';
    this.summary.setAttribute('aria-live', 'polite');
    this.root.append(this.canvas, this.caption, this.summary);
    container.append(this.root);
    this.plane = document.createElement('canvas');
    this.canvas.addEventListener('click', (e) => this.onClick(e));
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    for (const ev of ['focus', 'blur']) this.canvas.addEventListener(ev, () => { if (this.adding) this.draw(); });
    this.resize();
  }

  /** Match the canvas backing store to its CSS size and the device pixel ratio. */
  resize() {
    const w = this.canvas.clientWidth || this.cssSize;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * ratio);
    this.canvas.height = Math.round(w * ratio);
    this.draw();
  }

  /** A new run: its data points and task (from the `run` message). */
  setRun(run) {
    this.run = run;
    this.maps = null;
    this.focus = null;
    this.batch = null;
    this.draw();
  }

  /** New maps (a `maps` message). */
  update(maps) {
    this.maps = maps;
    this.channels = dequantize(maps.output);
    if (maps.dims === 2) {
      const task = this.run ? this.run.net.task : 'binary';
      this.scale = this.regressionScale();
      const px = paintPlane(this.channels, maps.size, task, this.scale);
      this.plane.width = maps.size;
      this.plane.height = maps.size;
      this.plane.getContext('2d').putImageData(new ImageData(px, maps.size, maps.size), 0, 0);
    }
    this.draw();
  }

  /** Highlight the focused sample ({split, index}) or none. */
  setFocus(focus) {
    this.focus = focus && focus.index != null ? { split: focus.split, index: focus.index } : null;
    this.draw();
  }

  /** Clicks add points (true) or pick samples (false). */
  setAdding(on) {
    this.adding = Boolean(on);
    this.canvas.classList.toggle('is-adding', this.adding);
    this.draw();
  }

  /** Points added but not trained on yet: [[x1, x2, label], …] (drawn as diamonds). */
  setDraft(points) {
    this.draft = points || [];
    this.draw();
  }

  /**
   * [lo, hi] of both axes of the plane points are added on: the map's extent for
   * 2-D data, the usual [−6, 6] when the current run has one input.
   */
  planeExtent() {
    if (this.run && this.run.data.p_train[0] && this.run.data.p_train[0].length === 1) return [-6, 6];
    return this.maps ? this.maps.extent : this.dataExtent();
  }

  /** Input coordinates [x1, x2] of a client position on the canvas. */
  planeAt(clientX, clientY) {
    const rect = this.canvas.getBoundingClientRect();
    const [lo, hi] = this.planeExtent();
    const fx = (clientX - rect.left) / rect.width;
    const fy = (clientY - rect.top) / rect.height;
    return [lo + fx * (hi - lo), hi - fy * (hi - lo)];
  }

  drawDraft(ctx, W) {
    if (this.adding && document.activeElement === this.canvas) {
      // where Enter would put a point
      const [x, y] = this.cursor.map((f) => f * W);
      const r = Math.max(8, W / 30);
      ctx.strokeStyle = 'rgb(0,0,0)';
      ctx.lineWidth = Math.max(1.5, W / 200);
      ctx.beginPath();
      ctx.moveTo(x - r, y); ctx.lineTo(x + r, y); ctx.moveTo(x, y - r); ctx.lineTo(x, y + r);
      ctx.stroke();
    }
    if (!this.draft.length) return;
    const [lo, hi] = this.planeExtent();
    const r = Math.max(4, W / 70);
    for (const [x1, x2, label] of this.draft) {
      const x = ((x1 - lo) / (hi - lo)) * W;
      const y = ((hi - x2) / (hi - lo)) * W;
      ctx.beginPath();
      ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath();
      ctx.fillStyle = CLASS_COLOURS[label % CLASS_COLOURS.length];
      ctx.fill();
      ctx.lineWidth = Math.max(1.5, r / 3);
      ctx.strokeStyle = 'rgb(255,255,255)';
      ctx.stroke();
    }
  }

  /** Ring the samples of the current batch (train indices) or none. */
  setBatch(indices) {
    this.batch = indices ? new Set(indices) : null;
    this.draw();
  }

  regressionScale() {
    let s = 0;
    for (const row of this.channels) for (const v of row) s = Math.max(s, Math.abs(v));
    if (this.run) for (const t of this.run.data.t_train) s = Math.max(s, Math.abs(Number(t[0])));
    return s;
  }

  /** Canvas pixel (device px) of a raw point p = [x1, x2] (or [x1] with its target); a row
   * of a table with more inputs is drawn at its two columns the maps show (`maps.axes`). */
  project(p, target) {
    const W = this.canvas.width;
    const [lo, hi] = this.maps ? this.maps.extent : this.dataExtent();
    const [i, j] = p.length > 2 && this.maps && this.maps.axes ? this.maps.axes : [0, 1];
    const x = ((p[i] - lo) / (hi - lo)) * W;
    if (p.length >= 2) return [x, ((hi - p[j]) / (hi - lo)) * W];
    const [ylo, yhi] = this.curveRange();
    return [x, ((yhi - Number(target)) / (yhi - ylo)) * W];
  }

  dataExtent() {
    if (!this.run) return [-1, 1];
    let lo = Infinity; let hi = -Infinity;
    for (const p of this.run.data.p_train.concat(this.run.data.p_test)) {
      for (const v of p) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    const pad = 0.1 * (hi - lo || 2);
    return [lo - pad, hi + pad];
  }

  curveRange() {
    let lo = Infinity; let hi = -Infinity;
    if (this.channels) for (const v of this.channels[0]) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (this.run) {
      for (const t of this.run.data.t_train.concat(this.run.data.t_test)) {
        lo = Math.min(lo, Number(t[0])); hi = Math.max(hi, Number(t[0]));
      }
    }
    if (!Number.isFinite(lo)) return [-1, 1];
    const pad = 0.1 * (hi - lo || 2);
    return [lo - pad, hi + pad];
  }

  /** Redraw from the latest run, maps, focus and batch. */
  draw() {
    const ctx = this.canvas.getContext('2d');
    const W = this.canvas.width;
    ctx.clearRect(0, 0, W, W);
    if (!this.run) return;
    const dims = this.run.data.p_train[0] ? this.run.data.p_train[0].length : 2;
    if (this.maps && this.maps.dims === 2) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.plane, 0, 0, W, W);
    } else {
      ctx.fillStyle = 'rgb(250,250,250)';
      ctx.fillRect(0, 0, W, W);
    }
    if (dims === 1 && !this.hideData) this.drawCurve(ctx, W);
    if (!this.hideData) this.drawPoints(ctx, W);
    this.drawDraft(ctx, W);
    this.describe();
  }

  drawCurve(ctx, W) {
    const [ylo, yhi] = this.curveRange();
    ctx.strokeStyle = 'rgba(0,0,0,0.25)';
    ctx.lineWidth = 1;
    const y0 = ((yhi - 0) / (yhi - ylo)) * W;
    ctx.beginPath(); ctx.moveTo(0, y0); ctx.lineTo(W, y0); ctx.stroke();
    if (!this.maps || !this.channels) return;
    const row = this.channels[0];
    const n = row.length;
    ctx.strokeStyle = `rgb(${POS.join(',')})`;
    ctx.lineWidth = Math.max(2, W / 120);
    ctx.beginPath();
    for (let i = 0; i < n; i += 1) {
      const x = (i / (n - 1)) * W;
      const y = ((yhi - row[i]) / (yhi - ylo)) * W;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.stroke();
  }

  pointColour(t) {
    const task = this.run.net.task;
    if (task === 'regression') {
      return divergingCss(this.scale ? Number(t[0]) / this.scale : Number(t[0]));
    }
    return CLASS_COLOURS[classOf(t.map(Number)) % CLASS_COLOURS.length];
  }

  drawPoints(ctx, W) {
    const d = this.run.data;
    const r = Math.max(3, W / 90);
    const one = (p, t, split, i) => {
      const [x, y] = this.project(p, t[0]);
      ctx.fillStyle = this.run.net.task === 'regression' && p.length === 1 ? 'rgb(60,60,60)' : this.pointColour(t);
      ctx.beginPath();
      if (split === 'train') ctx.arc(x, y, r, 0, 2 * Math.PI);
      else ctx.rect(x - r, y - r, 2 * r, 2 * r);
      ctx.fill();
      ctx.lineWidth = Math.max(1, r / 3);
      ctx.strokeStyle = split === 'train' ? 'rgb(20,20,20)' : 'rgb(255,255,255)';
      ctx.stroke();
      if (split === 'train' && this.batch && this.batch.has(i)) {
        ctx.beginPath(); ctx.arc(x, y, r * 1.8, 0, 2 * Math.PI);
        ctx.lineWidth = Math.max(1, r / 4); ctx.strokeStyle = 'rgba(0,0,0,0.6)'; ctx.stroke();
      }
    };
    if (this.showTest) d.p_test.forEach((p, i) => one(p, d.t_test[i], 'test', i));
    d.p_train.forEach((p, i) => one(p, d.t_train[i], 'train', i));
    if (this.focus) {
      const pts = this.focus.split === 'train' ? d.p_train : d.p_test;
      const ts = this.focus.split === 'train' ? d.t_train : d.t_test;
      const p = pts[this.focus.index];
      if (p) {
        const [x, y] = this.project(p, ts[this.focus.index][0]);
        ctx.beginPath(); ctx.arc(x, y, r * 2.6, 0, 2 * Math.PI);
        ctx.lineWidth = Math.max(2, r / 1.5);
        ctx.strokeStyle = 'rgb(0,0,0)'; ctx.stroke();
        ctx.lineWidth = Math.max(1, r / 3);
        ctx.strokeStyle = 'rgb(255,255,255)'; ctx.stroke();
      }
    }
  }

  describe() {
    const it = this.maps ? this.maps.iteration : 0;
    const task = this.run.net.task;
    const key = task === 'regression' ? 'map.regression' : 'map.boundary';
    const label = this.t(key);
    const caption = `${label} · ${this.t('map.legend')}`;
    const summary = this.t('map.summary', {
      iteration: it, train: this.run.data.p_train.length, test: this.run.data.p_test.length,
    });
    // write only what changed: every DOM write costs a style and layout pass
    if (this.canvas.getAttribute('aria-label') !== label) this.canvas.setAttribute('aria-label', label);
    if (this.caption.textContent !== caption) this.caption.textContent = caption;
    if (this.summary.textContent !== summary) this.summary.textContent = summary;
  }

  /** The sample drawn nearest the canvas position (client px), within a few px. */
  pointAt(clientX, clientY) {
    if (!this.run) return null;
    const rect = this.canvas.getBoundingClientRect();
    const k = this.canvas.width / rect.width;
    const x = (clientX - rect.left) * k;
    const y = (clientY - rect.top) * k;
    let best = null; let bestD = (Math.max(3, this.canvas.width / 90) * 2.5) ** 2;
    const d = this.run.data;
    const scan = (pts, ts, split) => pts.forEach((p, i) => {
      const [px, py] = this.project(p, ts[i][0]);
      const dd = (px - x) ** 2 + (py - y) ** 2;
      if (dd < bestD) { bestD = dd; best = { split, index: i }; }
    });
    if (this.showTest) scan(d.p_test, d.t_test, 'test');
    scan(d.p_train, d.t_train, 'train');
    return best;
  }

  onClick(e) {
    if (this.adding) {
      if (this.onAdd) this.onAdd(this.planeAt(e.clientX, e.clientY));
      return;
    }
    const pick = this.pointAt(e.clientX, e.clientY);
    if (pick && this.onPick) this.onPick(pick);
  }

  onKey(e) {
    if (this.adding) {
      // arrows move the cursor, Enter or Space adds a point there
      const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (d) {
        this.cursor = this.cursor.map((f, k) => Math.max(0, Math.min(1, f + d[k] * 0.04)));
        this.draw();
      } else if ((e.key === 'Enter' || e.key === ' ') && this.onAdd) {
        const rect = this.canvas.getBoundingClientRect();
        this.onAdd(this.planeAt(rect.left + this.cursor[0] * rect.width, rect.top + this.cursor[1] * rect.height));
      } else return;
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    if (!this.run || !this.onPick) return;
    const n = this.run.data.p_train.length;
    if (e.key === 'Escape' && this.focus) {
      this.onPick(null);
    } else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const cur = this.focus && this.focus.split === 'train' ? this.focus.index : -1;
      let next = e.key === 'ArrowRight' ? (cur + 1) % n : (cur - 1 + n) % n;
      if (cur < 0) next = e.key === 'ArrowRight' ? 0 : n - 1;
      this.onPick({ split: 'train', index: next });
    } else {
      return;
    }
    e.preventDefault();
  }
}

/**
 * The focused sample's numbers as text: its raw point, target, every layer's
 * activations (evaluation mode, from the server's `focus` message), the output
 * and its loss; a hint how to pick one when none is focused.
 */
export class FocusView {
  /**
   * @param {HTMLElement} container
   * @param {{t?: (key: string, vars?: object) => string, onClear?: () => void}} [options]
   */
  constructor(container, options = {}) {
    this.t = options.t || ((k) => k);
    this.onClear = options.onClear || null;
    this.msg = null;
    this.root = document.createElement('div');
    this.root.className = 'bpl-focus';
    this.root.dataset.view = 'focus';
    this.root.setAttribute('aria-live', 'polite');
    container.append(this.root);
    this.render();
  }

  /** A `focus` message (index null: none). */
  update(msg) {
    this.msg = msg && msg.index != null ? msg : null;
    this.render();
  }

  render() {
    const t = this.t;
    const msg = this.msg;
    if (!msg) {
      const p = document.createElement('p');
      p.className = 'bpl-insp-note bpl-focus-hint';
      p.textContent = t('focus.hint');
      this.root.replaceChildren(p);
      return;
    }
    const head = document.createElement('p');
    head.className = 'bpl-focus-head';
    const list = (v) => `(${[].concat(v).map((x) => fmt(Number(x), 3)).join(', ')})`;
    head.textContent = t('focus.line', {
      split: t(`insp.split.${msg.split}`), index: msg.index, p: list(msg.p), t: list(msg.t),
      y: list(msg.values.y), loss: fmt(Number(msg.loss)),
    });
    const table = document.createElement('table');
    table.className = 'bpl-insp-table bpl-focus-table';
    const cap = document.createElement('caption');
    cap.textContent = t('focus.values', { iteration: msg.iteration });
    table.append(cap);
    for (const key of Object.keys(msg.values).filter((k) => /^L\d+\.a$/.test(k))) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = key;
      tr.append(th);
      const vals = [].concat(msg.values[key]);
      for (const v of vals.slice(0, 16)) {
        const td = document.createElement('td');
        td.textContent = fmt(Number(v), 3);
        tr.append(td);
      }
      if (vals.length > 16) {
        const td = document.createElement('td');
        td.textContent = '…';
        tr.append(td);
      }
      table.append(tr);
    }
    const clear = document.createElement('button');
    clear.type = 'button';
    clear.className = 'btn bpl-focus-clear';
    clear.textContent = t('insp.toBatch');
    clear.addEventListener('click', () => this.onClear && this.onClear());
    this.root.replaceChildren(head, table, clear);
  }
}
