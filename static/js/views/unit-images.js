/**
 * What a first-layer unit has learned, for inputs that are the pixels of a
 * picture (the catalog's `image`, digits: 8×8): each unit's incoming weights
 * W[:, j] drawn as one small image, and in the backward phase its gradient
 * ∂L/∂W[:, j] instead, so a learner sees which pixels backprop is about to
 * change. Sign is the palette's hue (blue positive, vermillion negative),
 * strength the magnitude over that image's own largest value.
 *
 * Numbers come from the run model (`params['L1.W']`, the backward frame's
 * `L1.dW`), computed by the engine. Canvas 2D, one small canvas a unit,
 * drawn pixelated.
 */

import { NEG, POS, ZERO } from '../palette.js';
import { h } from '../dom.js';

/** [r, g, b] of a value in [−1, 1] (palette.js's diverging formula, as numbers). */
function rgb(v) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const m = Math.min(1, Math.abs(v)) ** 0.6;
  const end = v < 0 ? NEG : POS;
  return ZERO.map((c, i) => Math.round(c + (end[i] - c) * m));
}

/**
 * Paint a `rows`×`cols` image on `canvas` (one canvas pixel a value, drawn pixelated by
 * CSS), pixel `i` (row by row) in the colour `colour(i)` gives, [r, g, b].
 * @param {HTMLCanvasElement} canvas
 * @param {number} rows
 * @param {number} cols
 * @param {(i: number) => number[]} colour
 */
export function paintImage(canvas, rows, cols, colour) {
  const px = new Uint8ClampedArray(rows * cols * 4);
  for (let i = 0; i < rows * cols; i += 1) px.set([...colour(i), 255], i * 4);
  canvas.getContext('2d').putImageData(new ImageData(px, cols, rows), 0, 0);
}

/** [r, g, b] of a picture's pixel `v` of 0…`max`: ink dark on white, as the digit pad draws. */
export function ink(v, max) {
  const g = Math.round(255 - (Math.min(max, Math.max(0, v)) / max) * 255);
  return [g, g, g];
}

/** The first layer's units as images of their weights (or gradients); see the module comment. */
export class UnitImages {
  /**
   * @param {HTMLElement} container
   * @param {{t: (key: string, vars?: object) => string}} options
   */
  constructor(container, { t }) {
    this.t = t;
    this.image = null;
    this.phase = null;
    this.title = h('h3', { class: 'bpl-subhead' });
    this.note = h('p', { class: 'unit-images-note' });
    this.grid = h('div', { class: 'unit-images-grid' });
    this.root = h('div', { class: 'unit-images', dataset: { view: 'unit-images' } }, this.title, this.grid, this.note);
    this.root.hidden = true;
    container.append(this.root);
  }

  /** A new run: `image` is [rows, cols] when its inputs are a picture's pixels, else null. */
  setRun(image, units) {
    this.image = image;
    this.phase = null;
    this.root.hidden = !image;
    if (!image) return;
    this.canvases = Array.from({ length: units }, (_, j) => {
      const c = h('canvas', { width: image[1], height: image[0], class: 'unit-image', 'data-unit': String(j) });
      return c;
    });
    this.grid.replaceChildren(...this.canvases.map((c, j) => h('figure', { class: 'unit-image-fig' }, c,
      h('figcaption', {}, String(j + 1)))));
    this.relabel();
  }

  relabel() {
    if (!this.image) return;
    const grad = this.phase === 'backward';
    this.title.textContent = this.t(grad ? 'units.grad' : 'units.title', { rows: this.image[0], cols: this.image[1] });
    this.note.textContent = this.t('units.note');
    this.canvases.forEach((c, j) => c.setAttribute('title', this.t('units.unit', { j: j + 1 })));
  }

  /** Redraw from the model: the gradient right after a backward frame, else the weights. */
  update(model, phase) {
    if (!this.image || !model) return;
    if (phase) this.phase = phase;
    const grad = this.phase === 'backward' && model.frames && model.frames.backward
      && model.frames.backward['L1.dW'];
    const M = grad || (model.params && model.params['L1.W']);
    const [rows, cols] = this.image;
    // (another run's weights: an event of this run replayed once the view had loaded, with
    // the page's model already on the next run; that run's own event follows)
    if (!M || M.length !== rows * cols || !M[0] || M[0].length !== this.canvases.length) return;
    this.root.dataset.showing = grad ? 'dW' : 'W';
    this.canvases.forEach((c, j) => {
      let scale = 1e-12;
      for (let i = 0; i < rows * cols; i += 1) scale = Math.max(scale, Math.abs(M[i][j]));
      paintImage(c, rows, cols, (i) => rgb(M[i][j] / scale));
    });
    this.relabel();
  }
}
