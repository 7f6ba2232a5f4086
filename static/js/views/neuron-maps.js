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

import { FocusView, MapView, dequantize, diverging, POSITIVE } from './map-view.js';

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
    ctx.strokeStyle = `rgb(${POSITIVE.join(',')})`;
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
 */
export class MapsPanel {
  /**
   * @param {HTMLElement} container the "maps" slot
   * @param {{i18n: {t: Function}, act: (name: string, arg?: any) => void}} options
   */
  constructor(container, { i18n, act }) {
    const t = (k, p) => i18n.t(k, p);
    this.t = t;
    this.section = document.createElement('section');
    this.section.className = 'panel bpl-maps';
    this.head = document.createElement('h2');
    this.section.append(this.head);
    container.append(this.section);
    this.map = new MapView(this.section, { t, onPick: (pick) => act('focus', pick) });
    this.focus = new FocusView(this.section, { t, onClear: () => act('focus', null) });
    this.neuronHead = document.createElement('h3');
    this.neuronHead.className = 'bpl-subhead';
    this.section.append(this.neuronHead);
    this.neurons = new NeuronMaps(this.section, { t, onPick: (pick) => act('inspect', pick) });
    this.relabel();
  }

  relabel() {
    this.head.textContent = this.t('map.title');
    this.neuronHead.textContent = this.t('neurons.title');
    if (this.map.run) this.map.draw();
  }

  /** One page event. */
  update({ kind, msg }) {
    if (kind === 'run') {
      this.map.setRun(msg);
      this.neurons.setRun();
      this.focus.update(null);
    } else if (kind === 'maps') {
      this.map.update(msg);
      this.neurons.update(msg);
    } else if (kind === 'focus') {
      this.map.setFocus(msg.index == null ? null : msg);
      this.focus.update(msg);
    } else if (kind === 'frame' && msg.phase === 'forward' && msg.values.batch) {
      this.map.setBatch(msg.values.batch);
    } else if (kind === 'lang') {
      this.relabel();
      this.neurons.relabel();
      this.focus.render();
    }
  }
}
