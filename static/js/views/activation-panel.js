/**
 * The activation curve of one layer (chosen in a menu; activation-view.js
 * loads this when the panel comes near the screen): f and f′ as the engine
 * computes them (`GET /api/activation`, engine/activations.py: the page never
 * re-implements an activation), with this batch's values marked on them — one
 * dot per sample × unit at (z, a) on f and at (z, f′(z)) on f′ once the
 * backward pass has computed f′ (the backward frame's `Ll.dfz`) — and the
 * curve's flat ends shaded: saturated (sigmoid, tanh: |f′| below 1 % of its
 * largest, the saturation metric's rule) or dead (ReLU, z ≤ 0: f′ = 0). The
 * share of this batch's z in them is written as a number, with the units that
 * are there for the whole batch. Leaky ReLU, GELU and swish show their slopes
 * where the dots are. With a norm, f is applied to z̃ (the frame's `Ll.zn`).
 * Fast play sends batch means only: they are ticks under the curve (a mean of
 * f(z) is not on f).
 */

import { sig, pct } from '../format.js';
import { label } from '../catalog.js';
import { layerColour } from './health-chart.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Plot geometry in SVG units. */
const G = Object.freeze({ w: 360, h: 292, left: 42, right: 10, fTop: 20, fH: 128, dTop: 176, dH: 84, axisY: 280 });
/** z ranges the curve is drawn over (the smallest that holds every z). */
const RANGES = Object.freeze([4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024, 4096, 10000]);
const CURVE_POINTS = 241;
const MAX_DOTS = 2000;

function svgEl(tag, attrs = {}, parent = null, text = null) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  if (parent) parent.append(e);
  return e;
}

/** Whether z lies in one of the curve's flat ends (`regions` of the endpoint). */
export function inFlat(z, regions) {
  return regions.some((r) => (r.lo === null ? z <= r.hi : z >= r.lo));
}

/** The engine's curves, fetched once per activation, α and range. */
class CurveSource {
  constructor() {
    this.cache = new Map();
  }

  /** A promise of the curve of `name` (α `alpha`, null: its own) over [−R, R]. */
  get(name, alpha, R) {
    const key = `${name}|${alpha}|${R}`;
    if (!this.cache.has(key)) {
      const q = new URLSearchParams({ name, lo: String(-R), hi: String(R), n: String(CURVE_POINTS) });
      if (alpha !== null && alpha !== undefined) q.set('alpha', String(alpha));
      const p = fetch(`api/activation?${q}`).then((r) => {
        if (!r.ok) throw new Error(`activation curve: HTTP ${r.status}`);
        return r.json();
      });
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return this.cache.get(key);
  }
}

/** The activation panel in the "activation" slot, built by activation-view.js when seen. */
export class ActivationPanel {
  /**
   * @param {HTMLElement} container the "activation" slot
   * @param {{i18n: object, catalog: import('../catalog.js').Catalog}} options
   */
  constructor(container, { i18n, catalog }) {
    this.i18n = i18n;
    this.catalog = catalog;
    this.t = (k, p) => i18n.t(k, p);
    this.curves = new CurveSource();
    /** activation|α → how far from 0 its flat ends begin (once a curve told) */
    this.edges = new Map();
    this.layer = 1;
    this.model = null;
    this.pending = false;
    this.curve = null;
    const h = (tag, cls) => {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      return e;
    };
    this.section = h('section', 'panel bpl-act');
    this.section.dataset.view = 'activation';
    const head = h('div', 'bpl-act-head');
    this.title = h('h2');
    this.title.id = 'bpl-act-h';
    this.section.setAttribute('aria-labelledby', 'bpl-act-h');
    const pick = h('label', 'bpl-act-pick');
    this.pickText = h('span');
    this.select = h('select', 'bpl-act-layer');
    this.select.addEventListener('change', () => {
      this.layer = Number(this.select.value);
      this.schedule();
    });
    pick.append(this.pickText, this.select);
    head.append(this.title, pick);
    this.svg = svgEl('svg', { class: 'act-svg', viewBox: `0 0 ${G.w} ${G.h}`, role: 'img' });
    this.share = h('p', 'bpl-act-share');
    this.units = h('p', 'bpl-act-units');
    this.legend = h('ul', 'bpl-act-legend');
    this.note = h('p', 'bpl-act-note');
    // until the first run is drawn, the lines the placeholder reserved keep their height
    // (empty, the panel was 60 px shorter for a moment: what was below it jumped up and back)
    this.share.textContent = this.units.textContent = this.note.textContent = '\u00a0';
    this.section.append(head, this.svg, this.share, this.units, this.legend, this.note);
    container.replaceChildren(this.section);
  }

  /** One page event: run rebuilds the layer menu; frames, language and a new curve redraw. */
  update({ kind, model }) {
    this.model = model;
    if (kind === 'run') this.buildMenu(model);
    if (kind === 'lang') this.relabelMenu();
    if (kind === 'run' || kind === 'frame' || kind === 'lang' || kind === 'state') this.schedule();
  }

  /** The layers with an element-wise activation of the catalog (a softmax output has none). */
  layers(model) {
    const acts = model.net ? model.net.activations : [];
    return acts.map((a, k) => ({ l: k + 1, act: a, output: k === acts.length - 1 }))
      .filter((x) => this.catalog.entry('activations', x.act));
  }

  buildMenu(model) {
    const layers = this.layers(model);
    if (!layers.some((x) => x.l === this.layer)) this.layer = layers.length ? layers[0].l : 1;
    this.menuLayers = layers;
    this.relabelMenu();
  }

  relabelMenu() {
    const layers = this.menuLayers || [];
    this.select.replaceChildren(...layers.map((x) => {
      const o = document.createElement('option');
      o.value = String(x.l);
      const f = label(this.i18n, 'choice', x.act);
      o.textContent = x.output ? this.t('act.outputOpt', { f }) : this.t('act.layerOpt', { l: x.l, f });
      return o;
    }));
    this.select.value = String(this.layer);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  /** This layer's values in the current frames: z (or z̃), a, f′(z) per sample × unit. */
  values(model) {
    const l = this.layer;
    const fwd = model.frames.forward;
    const bwd = model.frames.backward;
    if (!fwd) return { kind: 'none' };
    const cfg = model.config || {};
    const z = fwd[`L${l}.zn`] || fwd[`L${l}.z`];
    if (Array.isArray(z) && Array.isArray(z[0])) {
      const output = l === model.depth;
      return {
        kind: 'rows', z, a: fwd[`L${l}.a`],
        // a = f(z̃) unless dropout or a residual connection changed it after f
        aOnCurve: output || (!cfg.dropout && !cfg.residual),
        df: bwd ? bwd[`L${l}.dfz`] : undefined,
        norm: Boolean(fwd[`L${l}.zn`]),
      };
    }
    const mean = fwd[`L${l}.z.mean`];
    return Array.isArray(mean) ? { kind: 'means', z: mean } : { kind: 'none' };
  }

  draw() {
    const model = this.model;
    if (!model || !model.net) return;
    const t = this.t;
    this.title.textContent = t('act.title');
    this.pickText.textContent = t('act.layer');
    const entry = (this.menuLayers || []).find((x) => x.l === this.layer);
    if (!entry) {
      this.svg.replaceChildren();
      this.share.textContent = t('act.none');
      return;
    }
    const vals = this.values(model);
    let zmax = 0;
    if (vals.kind === 'rows') for (const row of vals.z) for (const v of row) if (Number.isFinite(v)) zmax = Math.max(zmax, Math.abs(v));
    if (vals.kind === 'means') for (const v of vals.z) if (Number.isFinite(v)) zmax = Math.max(zmax, Math.abs(v));
    const alpha = model.config ? model.config.alpha : null;
    const want = {};
    this.wanted = want;
    // the range holds every z and shows where the curve turns flat (its ends' edges)
    const edges = this.edges.get(`${entry.act}|${alpha}`) || 0;
    const R = RANGES.find((r) => r >= Math.max(zmax * 1.08, edges * 1.3)) || RANGES[RANGES.length - 1];
    this.curves.get(entry.act, alpha, R).then((curve) => {
      const far = Math.max(0, ...curve.regions.map((r) => Math.abs(r.lo === null ? r.hi : r.lo)));
      this.edges.set(`${entry.act}|${alpha}`, far);
      if (this.wanted !== want) return;
      if (far * 1.3 > R && R < RANGES[RANGES.length - 1] && far !== edges) {
        this.draw(); // now that the edges are known, a range that shows them
        return;
      }
      this.paint(entry, curve, R, vals);
    }, () => {
      this.share.textContent = t('act.failed');
    });
  }

  /** Draw the curve, its flat ends, the dots and the numbers. */
  paint(entry, curve, R, vals) {
    const t = this.t;
    const svg = this.svg;
    svg.replaceChildren();
    const x0 = G.left;
    const x1 = G.w - G.right;
    const X = (z) => x0 + ((z + R) / (2 * R)) * (x1 - x0);
    const span = (arr) => {
      let lo = Math.min(...arr);
      let hi = Math.max(...arr);
      if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
      const pad = (hi - lo) * 0.06;
      return [lo - pad, hi + pad];
    };
    const [fLo, fHi] = span(curve.f);
    const [dLo, dHi] = span([0, ...curve.df]);
    const Yf = (v) => G.fTop + (1 - (v - fLo) / (fHi - fLo)) * G.fH;
    const Yd = (v) => G.dTop + (1 - (v - dLo) / (dHi - dLo)) * G.dH;
    Object.assign(svg.dataset, {
      zlo: String(-R), zhi: String(R), px0: String(x0), px1: String(x1), act: curve.name, layer: String(entry.l),
    });
    svg.setAttribute('aria-label', t('act.aria', { f: label(this.i18n, 'choice', entry.act), l: entry.l }));
    // the flat ends, over both panels
    for (const r of curve.regions) {
      const a = X(r.lo === null ? -R : Math.max(-R, r.lo));
      const b = X(r.hi === null ? R : Math.min(R, r.hi));
      if (b - a < 0.5) continue;
      const g = svgEl('g', { class: `act-region act-${r.kind}` }, svg);
      svgEl('rect', { x: a, y: G.fTop, width: b - a, height: G.dTop + G.dH - G.fTop }, g);
      // the label inside the region against its inner edge; a narrow one's from the plot's edge.
      // It heads f′'s panel: f′ is near 0 in a flat end, so that curve and its dots lie at the
      // panel's foot there, while f may run along either top (σ's upper end) or bottom
      const left = r.lo === null;
      const wide = b - a >= 56;
      const lx = left ? (wide ? b - 3 : a + 2) : (wide ? a + 3 : b - 2);
      const anchor = left === wide ? 'end' : 'start';
      svgEl('text', { x: lx, y: G.dTop + 11, 'text-anchor': anchor, class: 'act-region-label' }, g, t(`act.kind.${r.kind}`));
    }
    // axes: z = 0 and the zero lines
    const axis = svgEl('g', { class: 'act-axis' }, svg);
    if (fLo < 0 && fHi > 0) svgEl('line', { x1: x0, x2: x1, y1: Yf(0), y2: Yf(0) }, axis);
    svgEl('line', { x1: x0, x2: x1, y1: Yd(0), y2: Yd(0) }, axis);
    svgEl('line', { x1: X(0), x2: X(0), y1: G.fTop, y2: G.dTop + G.dH }, axis);
    const ticks = svgEl('g', { class: 'act-ticks' }, svg);
    for (const z of [-R, -R / 2, 0, R / 2, R]) {
      svgEl('text', { x: X(z), y: G.axisY, 'text-anchor': z === -R ? 'start' : z === R ? 'end' : 'middle' }, ticks, sig(z));
    }
    svgEl('text', { x: x1, y: G.axisY + 11, 'text-anchor': 'end', class: 'act-axis-name' }, ticks, vals.norm ? 'z̃' : 'z');
    // f: its lowest and highest value over the range drawn; f′: 0, its highest (and lowest if below 0)
    const dMin = Math.min(...curve.df);
    const marks = [[Math.min(...curve.f), Yf], [Math.max(...curve.f), Yf], [0, Yd], [Math.max(...curve.df), Yd]];
    if (dMin < -0.02 * (dHi - dLo)) marks.push([dMin, Yd]);
    const tiny = 1e-9 * (fHi - fLo); // σ's 4e−223 at z = −512 is 0 to the eye
    for (const [v, Y] of marks) {
      svgEl('text', { x: x0 - 4, y: Y(v) + 3, 'text-anchor': 'end' }, ticks, sig(Math.abs(v) < tiny ? 0 : v, 2));
    }
    svgEl('text', { x: x0 + 4, y: G.fTop - 6, class: 'act-panel-name' }, svg, `f(z) = ${curve.formula}`);
    svgEl('text', { x: x0 + 4, y: G.dTop - 6, class: 'act-panel-name' }, svg, 'f′(z)');
    const line = (ys, Y, cls) => {
      const d = curve.z.map((z, k) => `${k ? 'L' : 'M'}${X(z).toFixed(2)},${Y(ys[k]).toFixed(2)}`).join(' ');
      svgEl('path', { d, class: cls }, svg);
    };
    line(curve.f, Yf, 'act-curve act-f');
    line(curve.df, Yd, 'act-curve act-df');
    this.paintDots(curve, vals, X, Yf, Yd);
    this.paintNumbers(entry, curve, vals);
  }

  paintDots(curve, vals, X, Yf, Yd) {
    const svg = this.svg;
    const n = vals.kind === 'rows' ? vals.z[0].length : vals.kind === 'means' ? vals.z.length : 0;
    const dots = svgEl('g', { class: 'act-dots' }, svg);
    const ddots = svgEl('g', { class: 'act-dots act-ddots' }, svg);
    if (vals.kind === 'means') {
      vals.z.forEach((z, j) => {
        const tick = svgEl('line', { x1: X(z), x2: X(z), y1: G.fTop + G.fH - 8, y2: G.fTop + G.fH, class: 'act-tick' }, dots);
        tick.style.stroke = layerColour(j + 1, n);
        tick.dataset.z = String(z);
      });
    } else if (vals.kind === 'rows') {
      const B = vals.z.length;
      const every = Math.max(1, Math.ceil((B * n) / MAX_DOTS));
      for (let r = 0; r < B; r += every) {
        for (let j = 0; j < n; j++) {
          const z = vals.z[r][j];
          if (!Number.isFinite(z)) continue;
          const colour = layerColour(j + 1, n);
          const a = vals.aOnCurve && vals.a ? vals.a[r][j] : onCurve(curve.z, curve.f, z);
          const dot = svgEl('circle', { cx: X(z).toFixed(2), cy: Yf(a).toFixed(2), r: 3.2 }, dots);
          dot.style.fill = colour;
          Object.assign(dot.dataset, { z: String(z), y: String(a), row: String(r), unit: String(j) });
          const df = vals.df && vals.df[r] ? vals.df[r][j] : undefined;
          if (typeof df === 'number') {
            const dd = svgEl('circle', { cx: X(z).toFixed(2), cy: Yd(df).toFixed(2), r: 3.2 }, ddots);
            dd.style.fill = colour;
            Object.assign(dd.dataset, { z: String(z), y: String(df), row: String(r), unit: String(j) });
          }
        }
      }
    }
    this.legend.replaceChildren(...Array.from({ length: n }, (_, j) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'bpl-act-swatch';
      sw.style.background = layerColour(j + 1, n);
      li.append(sw, document.createTextNode(this.t('act.unit', { j: j + 1 })));
      return li;
    }));
  }

  /** The share of z in the flat ends, and the units there for the whole batch. */
  paintNumbers(entry, curve, vals) {
    const t = this.t;
    const regions = curve.regions;
    const notes = [];
    if (vals.kind === 'none') notes.push(t('act.empty'));
    if (vals.kind === 'means') notes.push(t('act.fast'));
    if (vals.kind === 'rows' && !vals.df) notes.push(t('act.noDf'));
    if (vals.kind === 'rows' && vals.norm) notes.push(t('act.norm'));
    this.note.textContent = notes.join(' ');
    this.note.hidden = !notes.length;
    delete this.section.dataset.share;
    this.units.textContent = '';
    if (vals.kind !== 'rows') {
      this.share.textContent = regions.length ? t('act.region', { kind: t(`act.kind.${regions[0].kind}`) }) : t('act.noFlat');
      return;
    }
    const B = vals.z.length;
    const n = vals.z[0].length;
    let flat = 0;
    let negative = 0;
    const unitFlat = new Array(n).fill(0);
    for (const row of vals.z) {
      row.forEach((z, j) => {
        if (inFlat(z, regions)) { flat += 1; unitFlat[j] += 1; }
        if (z < 0) negative += 1;
      });
    }
    const total = B * n;
    if (!regions.length) {
      this.share.textContent = entry.act === 'leaky_relu'
        ? `${t('act.noFlat')} ${t('act.leak', { share: pct(negative / total), alpha: sig(curve.alpha) })}`
        : t('act.noFlat');
      this.section.dataset.share = '0';
      return;
    }
    const kind = regions.some((r) => r.kind === 'dead') ? 'dead' : 'saturated';
    const edges = regions.map((r) => (r.lo === null ? `z ≤ ${sig(r.hi)}` : `z ≥ ${sig(r.lo)}`)).join(t('act.or'));
    this.share.textContent = t(`act.share.${kind}`, { share: pct(flat / total), n: total, edges });
    this.section.dataset.share = String(flat / total);
    this.section.dataset.kind = kind;
    const whole = unitFlat.filter((c) => c === B).length;
    this.units.textContent = t(`act.units.${kind}`, { k: whole, n });
  }
}

/** The curve's value at z, read off its samples (to place a mark where f was not sent). */
function onCurve(zs, ys, z) {
  if (z <= zs[0]) return ys[0];
  if (z >= zs[zs.length - 1]) return ys[ys.length - 1];
  let lo = 0;
  let hi = zs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (zs[mid] <= z) lo = mid; else hi = mid;
  }
  const s = (z - zs[lo]) / (zs[hi] - zs[lo]);
  return ys[lo] + s * (ys[hi] - ys[lo]);
}
