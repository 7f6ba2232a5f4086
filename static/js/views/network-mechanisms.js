/**
 * The mechanisms of a layer drawn on the network (issue 13, "Mechanisms drawn"),
 * from the engine's own marks in the forward frame (engine/units.py):
 *
 * - residual skips: one curved path per residual layer, from the column of
 *   layer l − 1 over the weights to layer l, ending in "+" (a = f(z) + a_prev);
 * - batch norm: a "BN" badge under each normalised layer; hovering, focusing or
 *   clicking it shows every unit's μ and σ (this batch's statistics, `Ll.mu`,
 *   `Ll.sigma`) and γ, β (the parameters in use) beside the unit;
 * - dropout: each unit greyed by the share of this iteration's batch for which
 *   its mask switched it off (`Ll.dropped`; a whole grey disc with a cross when
 *   off for every sample, so a batch of one shows exactly the units dropped);
 * - dead ReLU units (`Ll.dead`: 0 for every sample) get a dashed ring, saturated
 *   sigmoid/tanh units (`Ll.saturated`: f′ < 1% of its maximum for every sample)
 *   a double ring: shapes, not colours, tell them apart.
 *
 * A legend under the network names the marks this run can show, with how many
 * units carry each now. The node tooltip adds the unit's marks
 * ({@link NetworkMechanisms#tipNotes}). The optimizer's state is drawn by
 * {@link OptimizerStateStrip} (optimizer-state.js), built here (through
 * optimizer-state-slot.js, which fetches it for an optimizer that keeps state).
 *
 * The network view (network-view.js) owns the SVG and calls build() after each
 * layout, paint(model) after each repaint and relabel() on a language change.
 * Nothing here animates, so reduced motion needs nothing more.
 */

import { fmt } from '../format.js';
import { INK } from '../palette.js';
import { OptimizerStateSlot } from './optimizer-state-slot.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

/** SVG path of the share `f` (0…1) of a disc of radius r at (cx, cy), clockwise from 12 o'clock. */
export function sectorPath(cx, cy, r, f) {
  if (!(f > 0)) return '';
  if (f >= 1) return `M${cx - r},${cy}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z`;
  const a = 2 * Math.PI * f;
  const x = cx + r * Math.sin(a);
  const y = cy - r * Math.cos(a);
  return `M${cx},${cy}L${cx},${cy - r}A${r},${r} 0 ${f > 0.5 ? 1 : 0},1 ${x.toFixed(2)},${y.toFixed(2)}Z`;
}

/** Marks on the network drawing; see the module docstring. */
export class NetworkMechanisms {
  /**
   * @param {{svg: SVGSVGElement, container: HTMLElement, i18n: object, catalog: object}} options
   */
  constructor({ svg, container, i18n, catalog }) {
    this.svg = svg;
    this.i18n = i18n;
    // keys that join the network's own legend line (network-view.js appends this)
    this.legend = document.createElement('span');
    this.legend.className = 'mech-legend';
    this.legend.hidden = true;
    this.strip = new OptimizerStateSlot({ i18n, catalog }); // the strip, fetched for an optimizer with state
    container.append(this.strip.root);
    this.layout = null;
    this.model = null;
    this.pinned = new Set(); // BN layers whose numbers stay shown (clicked)
  }

  /**
   * Draw the marks' elements for a fresh layout.
   * @param {object} model the run model
   * @param {{pos: number[][][], r: number, width: number, height: number}} layout
   */
  build(model, layout) {
    this.model = model;
    this.layout = layout;
    const { pos, r } = layout;
    const net = model.net;
    const n = pos.length - 1;
    const layerHas = (key, l) => Boolean(net && net[key] && net[key][l - 1] && net[key][l - 1] !== 'none');
    // skips under the nodes, marks above them
    const gSkips = svgEl('g', { class: 'mech-skips' });
    this.svg.insertBefore(gSkips, this.svg.firstChild);
    const gMarks = svgEl('g', { class: 'mech-marks' }, this.svg);
    this.skips = [];
    for (let l = 1; l <= n; l++) {
      if (!layerHas('residual', l)) continue;
      const [x1, y1] = pos[l - 1][0];
      const [x2, y2] = pos[l][0];
      const top = Math.max(6, Math.min(y1, y2) - r - 30);
      const dx = (x2 - x1) * 0.35;
      const g = svgEl('g', { class: 'skip', 'data-layer': String(l), tabindex: '0', role: 'img' }, gSkips);
      svgEl('path', {
        class: 'skip-edge', d: `M${x1},${y1 - r - 2}C${x1 + dx},${top} ${x2 - dx},${top} ${x2},${y2 - r - 6}`,
        stroke: INK,
      }, g);
      svgEl('path', { class: 'skip-head', d: `M${x2 - 4},${y2 - r - 11}L${x2},${y2 - r - 3}L${x2 + 4},${y2 - r - 11}Z` }, g);
      // the curve's highest point is ¾ of the way up to its control points: the words above it
      const peak = 0.25 * (Math.min(y1, y2) - r - 2) + 0.75 * top;
      const label = svgEl('text', { class: 'skip-label', x: (x1 + x2) / 2, y: Math.max(9, peak - 4), 'text-anchor': 'middle' }, g);
      const title = svgEl('title', {}, g);
      this.skips.push({ g, l, label, title });
    }
    // per unit: dropout sector, dead/saturated rings
    this.units = pos.map((col, l) => (l === 0 ? null : col.map(([x, y], j) => {
      const u = { l, j, x, y };
      if (layerHas('dropout', l)) {
        u.drop = svgEl('path', { class: 'mech-drop', d: '', 'data-unit': `L${l}.${j}` }, gMarks);
        u.cross = svgEl('path', {
          class: 'mech-drop-cross', d: `M${x - r * 0.6},${y - r * 0.6}L${x + r * 0.6},${y + r * 0.6}M${x + r * 0.6},${y - r * 0.6}L${x - r * 0.6},${y + r * 0.6}`,
          visibility: 'hidden',
        }, gMarks);
      }
      u.dead = svgEl('circle', { class: 'mech-dead', cx: x, cy: y, r: r + 3.5, visibility: 'hidden', 'data-unit': `L${l}.${j}` }, gMarks);
      u.sat = svgEl('g', { class: 'mech-sat', visibility: 'hidden', 'data-unit': `L${l}.${j}` }, gMarks);
      svgEl('circle', { cx: x, cy: y, r: r + 3 }, u.sat);
      svgEl('circle', { cx: x, cy: y, r: r + 6 }, u.sat);
      return u;
    })));
    // batch norm: a badge under the column, the numbers beside each unit
    this.badges = [];
    for (let l = 1; l < n; l++) {
      if (!net || !net.norm || net.norm[l - 1] !== 'batch') continue;
      const col = pos[l];
      const [x, yLast] = col[col.length - 1];
      const g = svgEl('g', { class: 'bn-badge', 'data-layer': String(l), tabindex: '0', role: 'button', 'aria-expanded': 'false' }, gMarks);
      svgEl('rect', { x: x - 15, y: yLast + r + 6, width: 30, height: 15, rx: 4 }, g);
      svgEl('text', { x, y: yLast + r + 17, 'text-anchor': 'middle' }, g).textContent = 'BN';
      const numbers = svgEl('g', { class: 'bn-numbers', visibility: 'hidden', 'data-layer': String(l) }, gMarks);
      const rows = col.map(([ux, uy], j) => {
        const text = svgEl('text', { x: ux + r + 5, y: uy - 2, class: 'bn-unit', 'data-unit': String(j) }, numbers);
        const t1 = svgEl('tspan', { x: ux + r + 5 }, text);
        const t2 = svgEl('tspan', { x: ux + r + 5, dy: '1.1em' }, text);
        const spans = {};
        for (const [k, sym, parent] of [['mu', 'μ', t1], ['sigma', 'σ', t1], ['gamma', 'γ', t2], ['beta', 'β', t2]]) {
          svgEl('tspan', {}, parent).textContent = `${parent.childNodes.length ? '  ' : ''}${sym} `;
          spans[k] = svgEl('tspan', { 'data-value': k }, parent);
        }
        return spans;
      });
      const title = svgEl('title', {}, g);
      const badge = { g, l, numbers, rows, title };
      const show = (on) => {
        const visible = on || this.pinned.has(l);
        numbers.setAttribute('visibility', visible ? 'visible' : 'hidden');
        g.setAttribute('aria-expanded', String(visible));
      };
      g.addEventListener('pointerenter', () => show(true));
      g.addEventListener('pointerleave', () => show(false));
      g.addEventListener('focus', () => show(true));
      g.addEventListener('blur', () => show(false));
      const toggle = () => {
        if (this.pinned.has(l)) this.pinned.delete(l);
        else this.pinned.add(l);
        show(true);
      };
      g.addEventListener('click', toggle);
      g.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          ev.stopPropagation();
          toggle();
        }
      });
      this.badges.push(badge);
    }
    this.strip.build(model, layout);
    this.relabel();
    this.paint(model);
  }

  /** The frame's marks of layer l ('mu', 'dropped', …), or undefined. */
  mark(model, key, l) {
    const f = model.frames && model.frames.forward;
    return f ? f[`L${l}.${key}`] : undefined;
  }

  /** Paint every mark from the model's current frames. */
  paint(model) {
    this.model = model;
    if (!this.layout || !model || !model.net) return;
    const r = this.layout.r;
    const counts = { dead: 0, saturated: 0, dropped: 0 };
    const kinds = new Set();
    const focus = Boolean(model.focus); // one sample in evaluation mode: no dropout there
    for (const col of this.units) {
      if (!col) continue;
      for (const u of col) {
        const dead = this.mark(model, 'dead', u.l);
        const sat = this.mark(model, 'saturated', u.l);
        const dropped = this.mark(model, 'dropped', u.l);
        if (dead) kinds.add('dead');
        if (sat) kinds.add('saturated');
        const isDead = Boolean(dead && dead[u.j] > 0);
        const isSat = Boolean(sat && sat[u.j] > 0);
        u.dead.setAttribute('visibility', isDead ? 'visible' : 'hidden');
        u.sat.setAttribute('visibility', isSat ? 'visible' : 'hidden');
        if (isDead) counts.dead += 1;
        if (isSat) counts.saturated += 1;
        if (u.drop) {
          kinds.add('dropout');
          const f = dropped && !focus ? Number(dropped[u.j]) : 0;
          u.drop.setAttribute('d', sectorPath(u.x, u.y, r, f));
          u.drop.dataset.dropped = String(f);
          u.cross.setAttribute('visibility', f >= 1 ? 'visible' : 'hidden');
          if (f >= 1) counts.dropped += 1;
        }
      }
    }
    for (const b of this.badges) {
      kinds.add('bn');
      const mu = this.mark(model, 'mu', b.l);
      const sigma = this.mark(model, 'sigma', b.l);
      const gamma = model.params[`L${b.l}.gamma`];
      const beta = model.params[`L${b.l}.beta`];
      b.rows.forEach((spans, j) => {
        spans.mu.textContent = mu ? fmt(mu[j], 2) : '…';
        spans.sigma.textContent = sigma ? fmt(sigma[j], 2) : '…';
        spans.gamma.textContent = gamma ? fmt(gamma[j], 2) : '…';
        spans.beta.textContent = beta ? fmt(beta[j], 2) : '…';
      });
    }
    if (this.skips.length) kinds.add('skip');
    this.kinds = kinds;
    this.counts = counts;
    this.paintLegend();
    this.strip.paint(model);
  }

  relabel() {
    const t = (k, p) => this.i18n.t(k, p);
    for (const s of this.skips || []) {
      s.label.textContent = t('mech.skipShort');
      s.title.textContent = t('mech.skip', { l: s.l, p: s.l - 1 });
      s.g.setAttribute('aria-label', t('mech.skip', { l: s.l, p: s.l - 1 }));
    }
    for (const b of this.badges || []) {
      b.title.textContent = t('mech.bnBadge', { l: b.l });
      b.g.setAttribute('aria-label', t('mech.bnBadge', { l: b.l }));
    }
    this.paintLegend();
    this.strip.relabel();
  }

  /** Legend entries for the marks this run can show, with how many units carry each now. */
  paintLegend() {
    const kinds = this.kinds || new Set();
    const c = this.counts || { dead: 0, saturated: 0, dropped: 0 };
    // repainted on every frame while playing: rebuilt only when its words change
    const key = JSON.stringify([[...kinds], c, this.i18n.lang]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren();
    this.legend.hidden = kinds.size === 0;
    const t = (k, p) => this.i18n.t(k, p);
    // each key with its words, kept together when the legend wraps
    // short words on the line, the whole sentence as its title (and for screen readers)
    const item = (kind, short, long) => {
      const s = document.createElement('span');
      s.className = `mech-key mech-key-${kind}`;
      s.setAttribute('aria-hidden', 'true');
      const l = document.createElement('span');
      l.dataset.legend = kind;
      l.textContent = short;
      const pair = document.createElement('span');
      pair.className = 'mech-item';
      pair.title = long;
      pair.setAttribute('aria-label', long);
      pair.append(s, l);
      this.legend.append(pair);
    };
    if (kinds.has('skip')) item('skip', t('mech.keySkip'), t('mech.legendSkip'));
    if (kinds.has('bn')) item('bn', t('mech.keyBn'), t('mech.legendBn'));
    if (kinds.has('dropout')) item('dropout', t('mech.keyDrop'), t('mech.legendDrop'));
    if (kinds.has('dead')) item('dead', t('mech.keyDead', { n: c.dead }), t('mech.legendDead', { n: c.dead }));
    if (kinds.has('saturated')) item('saturated', t('mech.keySat', { n: c.saturated }), t('mech.legendSat', { n: c.saturated }));
  }

  /** Lines the node tooltip adds for unit j of layer l: its marks in words. */
  tipNotes(l, j) {
    const m = this.model;
    if (!m || !m.frames || l < 1) return [];
    const t = (k, p) => this.i18n.t(k, p);
    const notes = [];
    const mu = this.mark(m, 'mu', l);
    const sigma = this.mark(m, 'sigma', l);
    if (mu && sigma) {
      const g = m.params[`L${l}.gamma`];
      const b = m.params[`L${l}.beta`];
      notes.push(['bn', `μ = ${fmt(mu[j])}, σ = ${fmt(sigma[j])}, γ = ${fmt(g ? g[j] : undefined)}, β = ${fmt(b ? b[j] : undefined)}  (${t('mech.tipBn')})`]);
    }
    const dropped = this.mark(m, 'dropped', l);
    const batch = m.frames.forward && m.frames.forward.batch;
    if (dropped && !m.focus) {
      const B = batch ? batch.length : 0;
      notes.push(['dropout', B ? t('mech.tipDrop', { k: Math.round(dropped[j] * B), b: B }) : t('mech.tipDropShare', { p: fmt(dropped[j] * 100, 0) })]);
    }
    const dead = this.mark(m, 'dead', l);
    if (dead && dead[j] > 0) notes.push(['dead', t('mech.tipDead')]);
    const sat = this.mark(m, 'saturated', l);
    if (sat && sat[j] > 0) notes.push(['saturated', t('mech.tipSat')]);
    return notes;
  }
}
