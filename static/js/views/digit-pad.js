/**
 * Draw a digit: a square canvas to draw on with a mouse, a finger or a pen
 * (pointer events), downsampled as scikit-learn's digits were made: the
 * drawing at 32×32, then each 4×4 block's inked pixels counted, 0…16, row by
 * row: 8×8 values. They go to the server (`draw`), which answers with the
 * network's outputs (`drawn`, re-sent as the weights change); the pad shows
 * the downsampled picture and a bar per class, the predicted one marked. The
 * page computes no network output of its own: only the downsampling, which
 * is the dataset's recipe.
 *
 * "Learn this as a 3": the learner picks the digit they meant (ten toggle
 * buttons; until they pick, the network's reading) and the learn button
 * (`#pad-learn`, `data-testid="pad-learn"`; a digit's button
 * `data-testid="pad-label-3"`) sends `learn`: the server runs one iteration on
 * the drawing with that class, its phases playing one by one, and the pad then
 * says how that class's probability moved since the click. The banner and the
 * network that play those phases are far above the pad on a desk, so the pad
 * shows them too: the four phases, the one playing marked, a sentence of what it
 * does to the drawing, and a button up to the network (a learned iteration's
 * `forward` frame is the one without `batch` indices: protocol.md, `learn`).
 */

import { h } from '../dom.js';
import { CLASS_COLOURS } from '../palette.js';

/** The four phases of the learned iteration, in order (as the banner's). */
const PHASES = Object.freeze(['forward', 'loss', 'backward', 'update']);

/** Side of the drawing before it is counted in blocks, and of a block (sklearn: 32 and 4). */
const FINE = 32;
const BLOCK = 4;

/**
 * 8×8 values 0…16 (row by row) of an RGBA image `px` (FINE×FINE): a pixel is inked
 * where its ink (alpha) is at least half, and each BLOCK×BLOCK block counts its inked ones.
 * @param {Uint8ClampedArray} px
 * @returns {number[]}
 */
export function countBlocks(px) {
  const n = FINE / BLOCK;
  const out = new Array(n * n).fill(0);
  for (let y = 0; y < FINE; y += 1) {
    for (let x = 0; x < FINE; x += 1) {
      if (px[(y * FINE + x) * 4 + 3] >= 128) out[Math.floor(y / BLOCK) * n + Math.floor(x / BLOCK)] += 1;
    }
  }
  return out;
}

/** The drawing pad, its prediction and "learn this as"; see the module comment. */
export class DigitPad {
  /**
   * @param {HTMLElement} container
   * @param {{t: (key: string, vars?: object) => string, onDraw: (pixels: number[]) => void,
   *   onLearn: (pixels: number[], label: number) => void}} options
   */
  constructor(container, { t, onDraw, onLearn }) {
    this.t = t;
    this.onDraw = onDraw;
    this.onLearn = onLearn;
    this.pixels = null;
    this.drawn = null;
    this.label = null; // the digit the learner picked (null: the network's reading)
    this.learning = null; // {label, before, iteration} since the last "learn" click
    this.cleared = false; // cleared by hand: a drawn still on its way is not taken up
    this.canvas = h('canvas', { class: 'pad-canvas', width: 256, height: 256, tabindex: '0', role: 'img' });
    this.small = h('canvas', { class: 'pad-small', width: 8, height: 8, 'aria-hidden': 'true' });
    this.fine = h('canvas', { width: FINE, height: FINE });
    this.clearBtn = h('button', { type: 'button', class: 'btn btn-small pad-clear', on: { click: () => this.clear() } });
    this.title = h('h3', { class: 'bpl-subhead' });
    this.hint = h('p', { class: 'pad-hint' });
    this.answer = h('p', { class: 'pad-answer', 'aria-live': 'polite' });
    this.bars = h('div', { class: 'pad-bars' });
    this.pick = h('span', { class: 'pad-pick-label' });
    this.digits = Array.from({ length: 10 }, (_, k) => h('button', {
      type: 'button', class: 'btn btn-small pad-digit', 'aria-pressed': 'false',
      dataset: { k: String(k), testid: `pad-label-${k}` }, on: { click: () => this.choose(k) },
    }, String(k)));
    this.learnBtn = h('button', {
      type: 'button', id: 'pad-learn', class: 'btn pad-learn-btn', dataset: { testid: 'pad-learn' },
      on: { click: () => this.learn() },
    });
    this.learnHint = h('p', { class: 'pad-hint pad-learn-hint' });
    this.learned = h('p', { class: 'pad-learned', 'aria-live': 'polite' });
    // the learned iteration's phases, as the banner far above plays them
    this.phaseItems = PHASES.map((p) => h('li', { dataset: { phase: p } }));
    this.phaseSay = h('p', { class: 'pad-phase-say', 'aria-live': 'polite' });
    this.toNet = h('button', { type: 'button', class: 'btn btn-small pad-to-net', on: { click: () => this.showNetwork() } });
    this.phaseBox = h('div', { class: 'pad-phase', dataset: { testid: 'pad-phase' } },
      h('ol', { class: 'phase-steps' }, ...this.phaseItems), this.phaseSay, this.toNet);
    this.learnBox = h('div', { class: 'pad-learn' },
      h('div', { class: 'pad-pick', role: 'group' }, this.pick, ...this.digits),
      this.learnBtn, this.learnHint, this.learned, this.phaseBox);
    this.root = h('div', { class: 'digit-pad', dataset: { view: 'digit-pad' } }, this.title,
      h('div', { class: 'pad-row' }, this.canvas, h('div', { class: 'pad-side' }, this.small, this.clearBtn)),
      this.hint, this.answer, this.bars, this.learnBox);
    this.root.hidden = true;
    container.append(this.root);
    this.bindPointer();
    this.clear(false);
  }

  bindPointer() {
    const c = this.canvas;
    c.style.touchAction = 'none'; // a finger draws instead of scrolling the page
    let last = null;
    const at = (e) => {
      const r = c.getBoundingClientRect();
      return [((e.clientX - r.left) / r.width) * c.width, ((e.clientY - r.top) / r.height) * c.height];
    };
    c.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      c.setPointerCapture(e.pointerId);
      last = at(e);
      this.stroke(last, last);
    });
    c.addEventListener('pointermove', (e) => {
      if (!last) return;
      const p = at(e);
      this.stroke(last, p);
      last = p;
    });
    const end = () => {
      if (!last) return;
      last = null;
      this.send();
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
  }

  /** Ink a line from `a` to `b` (canvas px); the prediction follows at most ten times a second. */
  stroke(a, b) {
    const ctx = this.canvas.getContext('2d');
    ctx.strokeStyle = '#111';
    ctx.lineCap = 'round';
    ctx.lineWidth = this.canvas.width / 7; // a pen as thick as the digits' strokes (a block of 4 inked)
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
    const now = performance.now();
    if (!this.lastSent || now - this.lastSent > 100) this.send();
  }

  /** Downsample the drawing (the module comment) and ask for the network's prediction. */
  send() {
    this.lastSent = performance.now();
    this.cleared = false;
    this.learning = null; // another drawing: what was learned is not about this one
    const f = this.fine.getContext('2d', { willReadFrequently: true }); // read at every stroke
    f.clearRect(0, 0, FINE, FINE);
    f.drawImage(this.canvas, 0, 0, FINE, FINE);
    this.pixels = countBlocks(f.getImageData(0, 0, FINE, FINE).data);
    this.paintSmall();
    this.onDraw(this.pixels);
  }

  /** The 8×8 picture the network sees, ink dark as the pad's. */
  paintSmall() {
    const s = this.small.getContext('2d');
    const img = s.createImageData(8, 8);
    this.pixels.forEach((v, i) => {
      const g = Math.round(255 - (v / 16) * 255);
      img.data.set([g, g, g, 255], i * 4);
    });
    s.putImageData(img, 0, 0);
  }

  /** Start again: an empty pad, and the server forgets the drawing (`render` false: building). */
  clear(render = true) {
    this.canvas.getContext('2d').clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.small.getContext('2d').clearRect(0, 0, 8, 8);
    const had = this.pixels !== null;
    this.pixels = null;
    this.drawn = null;
    this.label = null;
    this.learning = null;
    if (!render) return;
    this.cleared = true;
    if (had) this.onDraw([]);
    this.render();
  }

  /** The learner says which digit the drawing is (again: back to the network's reading). */
  choose(k) {
    this.label = this.label === k ? null : k;
    this.render();
  }

  /** The digit "learn" uses: the one picked, else the network's reading. */
  get target() {
    if (this.label !== null) return this.label;
    return this.drawn ? this.drawn.predicted : null;
  }

  /** "Learn this as k": one iteration on the drawing with that class (the server plays it). */
  learn() {
    const k = this.target;
    if (!this.pixels || k === null) return;
    const d = this.drawn;
    this.label = k; // kept: the learner may learn it again as the same digit
    this.learning = { label: k, before: d ? d.outputs[k] : null, iteration: d ? d.iteration : -1,
      played: null, phase: null }; // the learned iteration's number and phase, once it plays
    this.onLearn(this.pixels, k);
    this.render();
  }

  /** A `frame`: while learning, the learned iteration's phase (its forward has no `batch`). */
  frame(msg) {
    const l = this.learning;
    if (!l) return;
    if (msg.phase === 'forward' && msg.values && !('batch' in msg.values)) l.played = msg.iteration;
    if (l.played === null || msg.iteration !== l.played) return;
    const first = l.phase === null;
    l.phase = msg.phase;
    this.renderPhase();
    if (first) {
      // the phases appear under the button: scrolled into sight if the window ends above them
      const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
      this.phaseBox.scrollIntoView({ block: 'nearest', behavior: still ? 'auto' : 'smooth' });
    }
  }

  /** Up to the banner and the network, where the phase plays in full. */
  showNetwork() {
    const banner = document.querySelector('[data-slot="banner"]');
    if (!banner) return;
    const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    banner.scrollIntoView({ block: 'start', behavior: still ? 'auto' : 'smooth' });
  }

  /** Shown for a run whose inputs are a picture of `image` [8, 8]; hidden otherwise. */
  setRun(image) {
    this.root.hidden = !(image && image[0] * image[1] === 64);
    this.drawn = null;
    this.learning = null;
    this.render();
  }

  /** The server's `drawn` answer (also after the weights changed, and a class's teacher's). */
  update(drawn) {
    if (!this.pixels && Array.isArray(drawn.pixels) && drawn.pixels.length === 64 && !this.cleared) {
      this.pixels = drawn.pixels.slice(); // the session's drawing (a reload, or a class's teacher's)
      this.paintSmall();
    }
    if (!this.pixels) return;
    this.drawn = drawn;
    this.render();
  }

  render() {
    const t = this.t;
    this.title.textContent = t('pad.title');
    this.hint.textContent = t('pad.hint');
    this.clearBtn.textContent = t('pad.clear');
    this.canvas.setAttribute('aria-label', t('pad.title'));
    this.pick.textContent = t('pad.learnPick');
    this.pick.parentElement.setAttribute('aria-label', t('pad.learnPick'));
    this.learnHint.textContent = t('pad.learnHint');
    const k = this.target;
    this.digits.forEach((b, j) => {
      b.setAttribute('aria-pressed', String(j === this.label));
      b.classList.toggle('is-target', j === k);
      b.title = t('pad.learn', { k: j });
    });
    this.learnBtn.textContent = t('pad.learn', { k: k === null ? '?' : k });
    this.learnBtn.disabled = !this.pixels || k === null;
    const d = this.drawn;
    this.renderLearned(d);
    this.renderPhase();
    if (!d || !this.pixels) {
      this.answer.textContent = '';
      this.bars.replaceChildren();
      return;
    }
    this.answer.textContent = t('pad.answer', { k: d.predicted, p: Math.round(100 * d.outputs[d.predicted]) });
    this.bars.replaceChildren(...d.outputs.map((p, j) => {
      const bar = h('span', { class: 'pad-bar-fill' });
      bar.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      bar.style.background = CLASS_COLOURS[j % CLASS_COLOURS.length];
      const cls = ['pad-bar', j === d.predicted ? 'is-predicted' : '', j === k ? 'is-target' : ''].filter(Boolean).join(' ');
      return h('div', { class: cls, dataset: { k: String(j), p: String(p) } },
        h('span', { class: 'pad-bar-k' }, String(j)), h('span', { class: 'pad-bar-track' }, bar),
        h('span', { class: 'pad-bar-p' }, `${Math.round(100 * p)}%`));
    }));
  }

  /** The learned iteration's phases: the one playing marked, and what it does to the drawing. */
  renderPhase() {
    const l = this.learning;
    const p = l && l.phase;
    this.phaseBox.hidden = !p;
    this.phaseBox.dataset.phase = p || '';
    if (!p) return;
    const t = this.t;
    this.phaseItems.forEach((li) => {
      li.textContent = t(`phase.${li.dataset.phase}`);
      li.classList.toggle('current', li.dataset.phase === p);
      if (li.dataset.phase === p) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
    this.phaseSay.textContent = t(`pad.phase.${p}`, { k: l.label });
    this.toNet.textContent = t('pad.toNet');
  }

  /** Since a "learn" click: learning, then how the class's probability moved (before → now). */
  renderLearned(d) {
    const l = this.learning;
    this.learned.hidden = !l;
    if (!l) return;
    const pct = (p) => (p === null || p === undefined ? '?' : String(Math.round(100 * p)));
    if (!d || d.iteration <= l.iteration) {
      this.learned.textContent = this.t('pad.learning', { k: l.label });
      return;
    }
    this.learned.textContent = this.t('pad.learned', { k: l.label, before: pct(l.before), after: pct(d.outputs[l.label]) });
  }
}
