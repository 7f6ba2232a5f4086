/**
 * A small map per hidden neuron: its activation over the input plane (or
 * along x₁ for one-input data), so a learner sees which feature each unit
 * has learned to detect. Laid out one column per layer; each map is a canvas
 * labelled with the unit's id (`L1.a[2]`) and is clickable to inspect it.
 *
 * Data: the `neurons` of a `maps` message (quantized per neuron, see
 * server/maps.py). Colour: the diverging palette, each map scaled by its own
 * largest |a| so a unit's pattern shows even when its activations are small.
 */

import { FocusView, MapView, dequantize, diverging } from './map-view.js';

/** The views of a run on a table (views/real-data-views.js), loaded with the first such run. */
const loadRealData = (i18n) => Promise.all([import('./real-data-views.js'), loadStyle('static/css/real-data.css'),
  i18n.need('later')]).then(([m]) => m.RealDataViews);
import { POS } from '../palette.js';
import { CLASS_COLOURS } from '../palette.js';
import { h } from '../dom.js';
import { loadStyle } from './lazy-slot.js';
import { classPhrase } from '../class-names.js';

/** Most points a learner may add: the server's default `max_samples` (a lower server limit is learnt from its error). */
export const MAX_POINTS = 2000;

/** One small map per hidden neuron; see the module comment. */
export class NeuronMaps {
  /**
   * @param {HTMLElement} container
   * @param {{t?: (key: string, vars?: object) => string, onPick?: (pick: {id: string, index: number[]}) => void, cell?: number}} [options]
   */
  constructor(container, options = {}) {
    this.t = options.t || ((k) => k);
    this.onPick = options.onPick || null;
    this.cell = options.cell || 56;
    this.root = document.createElement('div');
    this.root.className = 'bpl-neuron-maps';
    this.root.dataset.view = 'neuron-maps';
    container.append(this.root);
    this.shapeKey = '';
    this.canvases = new Map();
    this.note = document.createElement('p');
    this.note.className = 'bpl-neuron-note';
  }

  /** Re-read every string (after a language switch). */
  relabel() {
    for (const [key, canvas] of this.canvases) {
      canvas.setAttribute('aria-label', this.t('neurons.unit', { id: canvas.dataset.id, j: canvas.dataset.index }));
      canvas.title = key;
    }
    if (this.note.isConnected) this.note.textContent = this.t('neurons.none');
  }

  /** A new run: forget the layout. */
  setRun() {
    this.shapeKey = '';
    this.root.replaceChildren();
    this.canvases.clear();
  }

  /** Draw the neurons of a `maps` message. */
  update(maps) {
    const ids = Object.keys(maps.neurons || {});
    const key = `${maps.dims}:${maps.neuron_size}:${ids.map((id) => `${id}/${maps.neurons[id].shape[0]}`).join(',')}`;
    if (key !== this.shapeKey) this.layout(maps, ids, key);
    for (const id of ids) {
      const rows = dequantize(maps.neurons[id]);
      rows.forEach((row, j) => {
        const canvas = this.canvases.get(`${id}[${j}]`);
        if (canvas) this.paint(canvas, row, maps);
      });
    }
  }

  layout(maps, ids, key) {
    this.shapeKey = key;
    this.root.replaceChildren();
    this.canvases.clear();
    if (!ids.length) {
      this.note.textContent = this.t('neurons.none');
      this.root.append(this.note);
      return;
    }
    for (const id of ids) {
      const col = document.createElement('div');
      col.className = 'bpl-neuron-layer';
      const head = document.createElement('div');
      head.className = 'bpl-neuron-head';
      head.textContent = id.replace('.a', '');
      col.append(head);
      const n = maps.neurons[id].shape[0];
      col.classList.toggle('is-wide', n > 8); // digits' 32 units: rows of maps, not one long column
      for (let j = 0; j < n; j += 1) {
        const canvas = document.createElement('canvas');
        const size = maps.dims === 2 ? maps.neuron_size : 64;
        canvas.width = size;
        canvas.height = maps.dims === 2 ? size : 32;
        canvas.className = 'bpl-neuron-map';
        canvas.style.width = `${this.cell}px`;
        canvas.style.height = `${maps.dims === 2 ? this.cell : this.cell / 2}px`;
        canvas.dataset.id = id;
        canvas.dataset.index = String(j);
        canvas.tabIndex = 0;
        canvas.setAttribute('role', 'button');
        canvas.setAttribute('aria-label', this.t('neurons.unit', { id, j }));
        const pick = () => this.onPick && this.onPick({ id, index: [j] });
        canvas.addEventListener('click', pick);
        canvas.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); }
        });
        col.append(canvas);
        this.canvases.set(`${id}[${j}]`, canvas);
      }
      this.root.append(col);
    }
  }

  paint(canvas, row, maps) {
    const ctx = canvas.getContext('2d');
    let s = 0;
    for (const v of row) s = Math.max(s, Math.abs(v));
    if (maps.dims === 2) {
      const size = maps.neuron_size;
      const img = ctx.createImageData(size, size);
      for (let i = 0; i < size * size; i += 1) {
        const [r, g, b] = diverging(s > 0 ? row[i] / s : 0);
        img.data.set([r, g, b, 255], i * 4);
      }
      ctx.putImageData(img, 0, 0);
      return;
    }
    const W = canvas.width; const H = canvas.height;
    ctx.fillStyle = 'rgb(250,250,250)';
    ctx.fillRect(0, 0, W, H);
    ctx.strokeStyle = `rgb(${POS.join(',')})`;
    ctx.lineWidth = 2;
    ctx.beginPath();
    row.forEach((v, i) => {
      const x = (i / (row.length - 1)) * W;
      const y = H / 2 - (s > 0 ? v / s : 0) * (H / 2 - 2);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

/**
 * The page's "maps" slot: the output map and the per-neuron maps, fed by the
 * page's events (`run`, `maps`, `focus`, forward `frame`s, `lang`). Picking a
 * point asks the server to focus that sample; picking a neuron map opens the
 * inspector on that unit.
 *
 * "Add points" mode: each click on the map adds a point of the chosen class
 * (0 or 1) at that place; "Train on my points" starts a run on them
 * (RunSettings dataset `custom` with `points` [[x1, x2, label], …]), "Clear"
 * removes them. At least two points are needed and at most the server's
 * `max_samples`; problems are said beside the buttons.
 */
export class MapsPanel {
  /**
   * @param {HTMLElement} container the "maps" slot
   * @param {{i18n: {t: Function, need: Function}, act: (name: string, arg?: any) => void}} options
   */
  constructor(container, { i18n, act, catalog }) {
    const t = (k, p) => i18n.t(k, p);
    this.i18n = i18n;
    this.catalog = catalog || null;
    this.realOptions = { t, i18n, act, catalog: this.catalog };
    this.t = t;
    this.act = act;
    this.model = null;
    this.points = [];
    this.trained = 0;
    this.maxPoints = MAX_POINTS;
    this.cls = 1;
    this.problem = null;
    this.section = document.createElement('section');
    this.section.className = 'panel bpl-maps';
    this.head = document.createElement('h2');
    this.section.append(this.head);
    container.append(this.section);
    this.map = new MapView(this.section, { t, onPick: (pick) => act('focus', pick), onAdd: (p) => this.add(p) });
    this.buildAddBar();
    // real data: the map's two inputs, the split, the confusion matrix, and for a picture's
    // pixels a pad to draw one and each first-layer unit as an image (loaded when needed)
    this.realHost = document.createElement('div');
    this.section.append(this.realHost);
    this.real = null;
    this.realWaiting = null; // the events that came while it loads
    this.focus = new FocusView(this.section, { t, onClear: () => act('focus', null) });
    this.neuronHead = document.createElement('h3');
    this.neuronHead.className = 'bpl-subhead';
    this.section.append(this.neuronHead);
    this.neurons = new NeuronMaps(this.section, { t, onPick: (pick) => act('inspect', pick) });
    this.relabel();
  }

  buildAddBar() {
    const t = this.t;
    this.addBtn = h('button', { type: 'button', class: 'btn btn-small pts-add', 'aria-pressed': 'false',
      on: { click: () => this.setAdding(!this.map.adding) } });
    this.clsBtns = [0, 1].map((k) => {
      const sw = h('span', { class: 'dot-swatch' });
      sw.style.background = CLASS_COLOURS[k];
      const b = h('button', { type: 'button', class: 'btn btn-small pts-class', dataset: { cls: String(k) },
        'aria-pressed': String(k === this.cls), on: { click: () => this.setClass(k) } }, sw, h('span'));
      return b;
    });
    this.trainBtn = h('button', { type: 'button', class: 'btn btn-small pts-train', on: { click: () => this.train() } });
    this.clearBtn = h('button', { type: 'button', class: 'btn btn-small pts-clear', on: { click: () => this.clear() } });
    this.status = h('p', { class: 'pts-status', 'aria-live': 'polite' });
    this.classGroup = h('div', { class: 'pts-classes', role: 'group' }, this.clsBtns);
    this.addBar = h('div', { class: 'pts-bar', dataset: { view: 'add-points' } },
      this.addBtn, this.classGroup, this.trainBtn, this.clearBtn, this.status);
    // which colour is which class (classification runs)
    this.classLegend = h('p', { class: 'pts-legend' });
    this.map.root.after(this.classLegend, this.addBar);
    void t;
  }

  renderLegend() {
    const net = this.model && this.model.net;
    const items = [];
    if (net && net.task !== 'regression') {
      for (let k = 0; k < net.n_classes; k += 1) {
        const sw = h('span', { class: 'dot-swatch' });
        sw.style.background = CLASS_COLOURS[k % CLASS_COLOURS.length];
        // a learner's CSV names its classes ("cat", "dog"): the legend says those names
        items.push(h('span', { class: 'pts-legend-item' }, sw, classPhrase(this.t, this.model.config, k)));
      }
    }
    this.classLegend.replaceChildren(...items);
    this.classLegend.hidden = items.length === 0;
  }

  /** Turn "add points" mode on or off (also from the dataset menu's "my points"). */
  setAdding(on) {
    this.map.setAdding(on);
    this.problem = null;
    this.syncAdd();
    if (on) this.map.canvas.scrollIntoView({ block: 'nearest' });
  }

  setClass(k) {
    this.cls = k;
    this.syncAdd();
  }

  /** One click on the map in add mode: a point of the chosen class at p = [x1, x2]. */
  add(p) {
    if (this.points.length >= this.maxPoints) {
      this.problem = ['pts.tooMany', { max: this.maxPoints }];
    } else {
      this.points.push([Number(p[0].toFixed(3)), Number(p[1].toFixed(3)), this.cls]);
      this.problem = null;
    }
    this.syncAdd();
  }

  /** Start a run on the added points (the current run's other settings kept). */
  train() {
    if (this.points.length < 2) {
      this.problem = ['pts.tooFew', {}];
      this.syncAdd();
      return;
    }
    const m = this.model;
    if (!m || !m.config) return;
    const cfg = structuredClone(m.config);
    cfg.dataset = 'custom';
    cfg.points = this.points.map((q) => q.slice());
    cfg.layer_activations = [];
    this.problem = null;
    this.map.setAdding(false);
    this.awaiting = true;
    this.act('configure', cfg);
    this.syncAdd();
  }

  clear() {
    this.points = [];
    this.trained = 0;
    this.problem = null;
    this.syncAdd();
  }

  /** Buttons, status and the map's draft points after any change. */
  syncAdd() {
    const t = this.t;
    const adding = this.map.adding;
    const custom = Boolean(this.model && this.model.config && this.model.config.dataset === 'custom');
    this.addBtn.setAttribute('aria-pressed', String(adding));
    this.addBtn.textContent = t(adding ? 'pts.adding' : 'pts.add');
    // a table's map is a slice through many inputs: points placed on it would be a new 2-D set
    this.addBtn.hidden = Boolean(this.real && this.real.many) && !adding;
    this.clsBtns.forEach((b, k) => {
      b.setAttribute('aria-pressed', String(k === this.cls));
      b.lastChild.textContent = t('data.class', { k });
    });
    this.classGroup.setAttribute('aria-label', t('pts.class'));
    this.classGroup.hidden = !adding;
    const fresh = this.points.length - this.trained;
    this.trainBtn.textContent = t('pts.train', { n: this.points.length });
    this.trainBtn.hidden = !(adding || fresh > 0);
    this.clearBtn.textContent = t('pts.clear');
    this.clearBtn.hidden = this.points.length === 0;
    let msg = '';
    if (this.problem) msg = t(this.problem[0], this.problem[1]);
    else if (adding) msg = t('pts.hint', { n: this.points.length, max: this.maxPoints });
    this.status.textContent = msg;
    this.status.classList.toggle('is-problem', Boolean(this.problem));
    this.map.hideData = adding && !custom;
    this.map.setDraft(this.points.slice(this.trained));
  }

  relabel() {
    this.head.textContent = this.t('map.title');
    this.neuronHead.textContent = this.t('neurons.title');
    if (this.map.run) this.map.draw();
  }

  /** Real data's views: loaded with the first run on a table (rows of more than two
   * values, or a learner's own CSV), then fed every event; the events of the wait are
   * replayed once loaded, from the latest run's on (the page's model is that run's by
   * then: an earlier run's events would be drawn with its numbers). */
  updateReal(event) {
    if (this.real) {
      this.real.update(event);
      return;
    }
    const wanted = event.kind === 'run' && (Boolean(event.msg.config.table)
      || (event.msg.data.p_train[0] && event.msg.data.p_train[0].length > 2));
    if (this.realWaiting) {
      this.realWaiting.push(event);
      return;
    }
    if (!wanted) return;
    this.realWaiting = [event];
    loadRealData(this.i18n).then((RealDataViews) => {
      this.real = new RealDataViews(this.realHost, this.realOptions);
      const waiting = this.realWaiting;
      this.realWaiting = null;
      const last = waiting.findLastIndex((e) => e.kind === 'run');
      for (const e of waiting.slice(Math.max(0, last))) this.real.update(e);
      this.syncAdd();
    });
  }

  /** One page event. */
  update(event) {
    const { kind, msg, model } = event;
    this.model = model;
    this.updateReal(event);
    if (kind === 'run') {
      this.awaiting = false;
      this.map.setRun(msg);
      this.neurons.setRun();
      this.focus.update(null);
      if (msg.config.dataset === 'custom') {
        this.points = msg.config.points.map((q) => q.slice());
        this.trained = this.points.length;
      } else this.trained = 0;
      this.problem = null;
      this.syncAdd();
      this.renderLegend();
    } else if (kind === 'error' && this.awaiting) {
      // the server refused the points (more than its max_samples, …): say so beside the buttons
      this.awaiting = false;
      const limit = /max_samples=(\d+)/.exec(String(msg.message));
      if (limit) this.maxPoints = Math.min(this.maxPoints, Number(limit[1]));
      this.problem = ['pts.refused', { message: msg.message }];
      this.syncAdd();
    } else if (kind === 'maps') {
      this.map.update(msg);
      this.neurons.update(msg);
    } else if (kind === 'focus') {
      this.map.setFocus(msg.index == null ? null : msg);
      this.focus.update(msg);
    } else if (kind === 'frame') {
      if (msg.phase === 'forward' && msg.values.batch) this.map.setBatch(msg.values.batch);
    } else if (kind === 'lang') {
      this.relabel();
      this.neurons.relabel();
      this.focus.render();
      this.syncAdd();
      this.renderLegend();
    }
  }
}
