/**
 * The loss landscape's map (views/landscape-view.js draws the panel around it): two
 * stacked canvases, the heat map below — one colour a grid point, so the colour under
 * the current point is the current loss — and above it the contour lines, the path,
 * the next step's arrow, the current point's ring and the axes (redrawn alone while
 * the arrow grows). The plot covers half a cell beyond the outer grid points, so each
 * cell's centre is its grid point and the plot's centre is the current point.
 *
 * Data: a `landscape` message (docs/protocol.md). Colour: the page's colour-blind-safe
 * palette (palette.js), low loss the positive hue (blue valleys), high loss the
 * negative one (vermillion hills), on a log scale between the grid's min and max.
 * What it drew is on the upper canvas's data attributes (`current`, `plot`,
 * `pathPoints`, `arrow`, `grow`: device pixels), for tests and tools.
 */

import { INK, NEG, POS, ZERO } from '../palette.js';
import { h } from '../dom.js';
import { sig } from '../format.js';

/** Contour lines drawn, evenly spaced on the colour scale's log axis. */
const CONTOURS = 9;
/** A projected step shorter than this (CSS px) is lengthened so it can be seen (the legend says by how much). */
const MIN_ARROW_PX = 22;

/**
 * [r, g, b] of a position s ∈ [0, 1] on the loss scale: 0 (lowest) the palette's
 * positive hue, ½ its neutral, 1 (highest) the negative hue, the strength
 * growing away from the middle as palette.js's diverging scale does.
 * @param {number} s
 * @returns {number[]}
 */
export function lossRgb(s) {
  if (!Number.isFinite(s)) return [128, 128, 128];
  const v = 1 - 2 * Math.min(1, Math.max(0, s));
  const m = Math.min(1, Math.abs(v)) ** 0.6;
  const end = v < 0 ? NEG : POS;
  return ZERO.map((c, i) => Math.round(c + (end[i] - c) * m));
}

/**
 * The colour scale of a landscape message: loss → s ∈ [0, 1], logarithmic
 * between the grid's finite min and max (a loss of 0 counts as max·10⁻⁹).
 * @param {{min: number|null, max: number|null}} msg
 * @returns {(loss: number) => number}
 */
export function lossScale(msg) {
  const hi = Number(msg.max);
  if (!Number.isFinite(hi)) return () => NaN;
  const floor = Math.max(hi * 1e-9, Number.MIN_VALUE);
  const lo = Math.max(Number(msg.min), floor);
  const a = Math.log(lo);
  const span = Math.log(Math.max(hi, floor)) - a;
  return (v) => {
    const x = Number(v);
    if (!Number.isFinite(x)) return NaN;
    return span > 0 ? (Math.log(Math.max(x, floor)) - a) / span : 0.5;
  };
}

/**
 * Contour segments of a grid at `level` (marching squares): a list of
 * [x0, y0, x1, y1] in grid coordinates (column j, row i).
 * @param {number[][]} grid rows of values
 * @param {number} level
 */
export function contourSegments(grid, level) {
  const out = [];
  const n = grid.length;
  const m = n ? grid[0].length : 0;
  const at = (a, b, va, vb) => (va === vb ? 0.5 : (level - va) / (vb - va));
  for (let i = 0; i + 1 < n; i += 1) {
    for (let j = 0; j + 1 < m; j += 1) {
      const v = [grid[i][j], grid[i][j + 1], grid[i + 1][j + 1], grid[i + 1][j]];
      if (!v.every(Number.isFinite)) continue;
      const edges = [];
      // top, right, bottom, left edges of the cell, each crossed once or not at all
      const corners = [[j, i], [j + 1, i], [j + 1, i + 1], [j, i + 1]];
      for (let e = 0; e < 4; e += 1) {
        const va = v[e]; const vb = v[(e + 1) % 4];
        if ((va < level) !== (vb < level)) {
          const f = at(0, 1, va, vb);
          const [xa, ya] = corners[e]; const [xb, yb] = corners[(e + 1) % 4];
          edges.push([xa + (xb - xa) * f, ya + (yb - ya) * f]);
        }
      }
      if (edges.length === 2) out.push([...edges[0], ...edges[1]]);
      else if (edges.length === 4) out.push([...edges[0], ...edges[1]], [...edges[2], ...edges[3]]);
    }
  }
  return out;
}

/** The map of one landscape message; see the module comment. */
export class LandscapeMap {
  /**
   * @param {{axisName: (k: number) => string, onKey?: (e: KeyboardEvent) => void}} options
   *   `axisName(0)`/`(1)`: the axes' names in the page's words
   */
  constructor({ axisName, onKey }) {
    this.axisName = axisName;
    this.msg = null;
    this.grow = 1;
    this.scale = () => NaN;
    this.heat = document.createElement('canvas'); // the grid, one pixel a point
    this.heatVersion = 0;
    this.baseKey = '';
    this.geometry = null;
    this.base = h('canvas', { class: 'ls-canvas ls-heat', 'aria-hidden': 'true' });
    this.canvas = h('canvas', { class: 'ls-canvas ls-over', tabindex: '0', role: 'img', dataset: { view: 'landscape-map' },
      on: { keydown: (e) => onKey && onKey(e) } });
    this.root = h('div', { class: 'ls-stack' }, this.base, this.canvas);
  }

  /** A new message: its heat map is painted once, here. */
  setMessage(msg) {
    this.msg = msg;
    const n = msg.size;
    const scale = lossScale(msg);
    const img = new ImageData(n, n);
    for (let i = 0; i < n; i += 1) {
      for (let j = 0; j < n; j += 1) {
        const [r, g, b] = lossRgb(scale(msg.loss[i][j]));
        img.data.set([r, g, b, 255], (i * n + j) * 4);
      }
    }
    this.heat.width = n;
    this.heat.height = n;
    this.heat.getContext('2d').putImageData(img, 0, 0);
    this.heatVersion += 1;
    this.scale = scale;
  }

  /** Whether the map is on the page and has something to draw. */
  get shown() {
    return Boolean(this.msg) && this.canvas.isConnected && this.canvas.clientWidth > 0;
  }

  /** How much the arrow is lengthened to be seen (1: drawn to scale). */
  arrowScale() {
    const a = this.shown ? this.layout().arrow : null;
    return a ? a.scale : 1;
  }

  /** Path points the current slice and zoom leave outside the picture. */
  outside() {
    const m = this.msg;
    if (!m) return 0;
    const lim = Number(m.span) * m.size / (m.size - 1);
    return m.path.xy.filter((p) => p[0] !== null && (Math.abs(p[0]) > lim || Math.abs(p[1]) > lim)).length;
  }

  /** Whether the whole path lies within the current point's ring at this zoom. */
  tiny() {
    const m = this.msg;
    if (!m || m.path.xy.length < 2 || !this.shown) return false;
    const L = this.layout();
    return m.path.xy.every(([x, y]) => x === null || Math.hypot(L.toX(Number(x)) - L.cx, L.toY(Number(y)) - L.cy) < 5 * L.px);
  }

  /**
   * Where things go on the canvas (device pixels): the square plot, the map from
   * (α, β) to pixels (the plot covers half a cell beyond the outer grid points, so each
   * cell's centre is its grid point and the centre pixel is the current point), and the
   * arrow's vector, lengthened to MIN_ARROW_PX when shorter (`scale`).
   */
  layout() {
    const m = this.msg;
    const canvas = this.canvas;
    const px = window.devicePixelRatio || 1;
    const W = Math.round((canvas.clientWidth || 300) * px);
    const font = (parseFloat(getComputedStyle(canvas).fontSize) || 12) * px;
    const left = Math.round(font * 1.9);
    const top = Math.round(font * 1.5);
    const bottom = Math.round(font * 2.6);
    const side = Math.max(10, Math.min(W - left - Math.round(6 * px), W - top - bottom));
    const n = m.size;
    const ext = Number(m.span) * n / (n - 1);
    const toX = (a) => left + ((a + ext) / (2 * ext)) * side;
    const toY = (b) => top + ((ext - b) / (2 * ext)) * side;
    let arrow = null;
    const st = m.step;
    if (st && st.xy[0] !== null && st.xy[1] !== null) {
      let dx = (Number(st.xy[0]) / (2 * ext)) * side;
      let dy = -(Number(st.xy[1]) / (2 * ext)) * side;
      const len = Math.hypot(dx, dy);
      let scale = 1;
      if (len > 0 && len < MIN_ARROW_PX * px) {
        scale = (MIN_ARROW_PX * px) / len;
        dx *= scale;
        dy *= scale;
      }
      if (len > 0) arrow = { dx, dy, scale };
    }
    return { W, px, font, x0: left, y0: top, side, ext, n, toX, toY, cx: toX(0), cy: toY(0), arrow };
  }

  /** Draw the map: heat, contours, axes, path, the current point and the arrow. */
  draw() {
    const canvas = this.canvas;
    if (!this.shown) return;
    const L = this.layout();
    const { W, px, x0, y0, side, n, toX, toY, cx, cy } = L;
    for (const c of [canvas, this.base]) {
      if (c.width !== W || c.height !== W) {
        c.width = W;
        c.height = W;
      }
    }
    const key = `${W}:${this.heatVersion}`;
    if (this.baseKey !== key) { // the heat map only changes with a message or a resize
      const b = this.base.getContext('2d');
      b.clearRect(0, 0, W, W);
      b.imageSmoothingEnabled = true;
      b.drawImage(this.heat, x0, y0, side, side);
      this.baseKey = key;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, W, W);
    ctx.save();
    ctx.beginPath();
    ctx.rect(x0, y0, side, side);
    ctx.clip();
    this.drawContours(ctx, (j) => x0 + ((j + 0.5) / n) * side, (i) => y0 + ((i + 0.5) / n) * side, px);
    const path = this.drawPath(ctx, toX, toY, px);
    const line = L.arrow ? this.drawArrow(ctx, cx, cy, L.arrow, px) : null;
    ctx.restore();
    // the current point: a ring at the centre
    ctx.beginPath();
    ctx.arc(cx, cy, 5 * px, 0, 2 * Math.PI);
    ctx.fillStyle = '#ffffff';
    ctx.fill();
    ctx.lineWidth = 2.5 * px;
    ctx.strokeStyle = INK;
    ctx.stroke();
    this.drawAxes(ctx, L);
    this.geometry = { width: W, plot: [x0, y0, side], current: [cx, cy], path, arrow: line };
    canvas.dataset.current = `${cx.toFixed(1)},${cy.toFixed(1)}`;
    canvas.dataset.pathPoints = String(path.length);
    canvas.dataset.arrow = line ? line.map((v) => v.toFixed(2)).join(',') : '';
    canvas.dataset.plot = [x0, y0, side].join(',');
    canvas.dataset.grow = String(this.grow);
  }

  drawContours(ctx, colX, rowY, px) {
    const m = this.msg;
    const scale = this.scale;
    const grid = m.loss.map((row) => row.map((v) => scale(v)));
    ctx.strokeStyle = 'rgba(27,27,27,0.45)';
    ctx.lineWidth = 1 * px;
    ctx.beginPath();
    for (let k = 1; k < CONTOURS; k += 1) {
      for (const [xa, ya, xb, yb] of contourSegments(grid, k / CONTOURS)) {
        ctx.moveTo(colX(xa), rowY(ya));
        ctx.lineTo(colX(xb), rowY(yb));
      }
    }
    ctx.stroke();
  }

  /** The path as drawn: [{iteration, x, y}] in canvas pixels, the current point last. */
  drawPath(ctx, toX, toY, px) {
    const m = this.msg;
    const pts = [];
    m.path.xy.forEach((p, k) => {
      if (p[0] === null || p[1] === null) return;
      pts.push({ iteration: m.path.iterations[k], x: toX(Number(p[0])), y: toY(Number(p[1])) });
    });
    ctx.lineJoin = 'round';
    for (let k = 1; k < pts.length; k += 1) {
      const a = pts[k - 1]; const b = pts[k];
      ctx.beginPath();
      // iterations the path skips (not replayed yet) are a dashed jump
      ctx.setLineDash(b.iteration - a.iteration > 1 ? [4 * px, 3 * px] : []);
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.strokeStyle = INK;
      ctx.globalAlpha = 0.35 + 0.65 * (k / pts.length);
      ctx.lineWidth = 1.6 * px;
      ctx.stroke();
    }
    ctx.setLineDash([]);
    pts.forEach((p, k) => {
      ctx.globalAlpha = 0.35 + 0.65 * ((k + 1) / pts.length);
      ctx.beginPath();
      ctx.arc(p.x, p.y, 2.4 * px, 0, 2 * Math.PI);
      ctx.fillStyle = INK;
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    return pts;
  }

  /** The next step from (cx, cy), grown by this.grow; returns its full line [x0, y0, x1, y1]. */
  drawArrow(ctx, cx, cy, { dx, dy }, px) {
    const g = this.grow;
    const ex = cx + dx * g; const ey = cy + dy * g;
    const ang = Math.atan2(dy, dx);
    const head = 7 * px;
    for (const [colour, width] of [['#ffffff', 4.5 * px], [INK, 2.2 * px]]) {
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(cx, cy);
      ctx.lineTo(ex, ey);
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(ex, ey);
      ctx.lineTo(ex - head * Math.cos(ang - 0.45), ey - head * Math.sin(ang - 0.45));
      ctx.lineTo(ex - head * Math.cos(ang + 0.45), ey - head * Math.sin(ang + 0.45));
      ctx.closePath();
      if (colour === INK) ctx.fill(); else ctx.stroke();
    }
    return [cx, cy, cx + dx, cy + dy];
  }

  /** The frame, ticks at −span, 0 and +span (for two weights, their values), the axes' names. */
  drawAxes(ctx, { px, font, x0, y0, side, toX, toY }) {
    const m = this.msg;
    const span = Number(m.span);
    ctx.strokeStyle = INK;
    ctx.lineWidth = 1 * px;
    ctx.strokeRect(x0 + 0.5 * px, y0 + 0.5 * px, side - px, side - px);
    ctx.fillStyle = INK;
    ctx.font = `${Math.round(font * 0.85)}px system-ui, sans-serif`;
    const origin = m.axes.map((a) => (a.kind === 'weight' ? Number(a.value) : 0));
    const edge = font * 1.2;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const a of [-span, 0, span]) {
      const x = toX(a);
      ctx.fillRect(x - 0.5 * px, y0 + side, 1 * px, 4 * px);
      ctx.fillText(sig(origin[0] + a, 3), Math.min(Math.max(x, x0 + edge), x0 + side - edge), y0 + side + 5 * px);
    }
    ctx.fillText(`${this.axisName(0)} →`, x0 + side / 2, y0 + side + 5 * px + font * 1.05);
    // β: its name above the plot, its ticks' values turned along the axis
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    ctx.fillText(`↑ ${this.axisName(1)}`, x0, y0 - 3 * px);
    ctx.save();
    ctx.translate(x0 - 6 * px, y0 + side / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    for (const b of [-span, 0, span]) {
      const u = toY(-b) - (y0 + side / 2);
      ctx.fillRect(u - 0.5 * px, 2 * px, 1 * px, 4 * px);
      ctx.fillText(sig(origin[1] + b, 3), Math.min(Math.max(u, -side / 2 + edge), side / 2 - edge), 0);
    }
    ctx.restore();
  }
}
