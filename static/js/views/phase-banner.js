/**
 * The banner naming the current phase, with its formula in MathML (or the
 * optimizer's rule) and one sentence of what the animation shows. The formulas are constants (not user
 * text), shared by both languages. The iteration is counted as everywhere on
 * the page (counting.js): the first iteration is iteration 1.
 */

import { recordIteration, stateIteration } from '../counting.js';

const frac = (num, den) => `<mfrac><mrow>${num}</mrow><mrow>${den}</mrow></mfrac>`;
const dLd = (x) => frac('<mo>∂</mo><mi>L</mi>', `<mo>∂</mo>${x}`);

/** phase → MathML body (inside <math>). */
export const FORMULAS = Object.freeze({
  forward: '<mi>z</mi><mo>=</mo><mi>a</mi><mo>·</mo><mi>W</mi><mo>+</mo><mi>b</mi><mo>,</mo><mspace width="0.8em"></mspace>'
    + '<mi>a</mi><mo>=</mo><mi>f</mi><mo stretchy="false">(</mo><mi>z</mi><mo stretchy="false">)</mo>',
  loss: `<mi>L</mi><mo>=</mo>${frac('<mn>1</mn>', '<mi>B</mi>')}<munder><mo>∑</mo><mi>i</mi></munder>`
    + '<mi>ℓ</mi><mo stretchy="false">(</mo><msub><mi>y</mi><mi>i</mi></msub><mo>,</mo><msub><mi>t</mi><mi>i</mi></msub><mo stretchy="false">)</mo>',
  backward: `<mi>δ</mi><mo>=</mo>${dLd('<mi>z</mi>')}<mo>,</mo><mspace width="0.6em"></mspace>`
    + `${dLd('<mi>W</mi>')}<mo>=</mo><msup><mi>a</mi><mi>⊤</mi></msup><mi>δ</mi><mo>,</mo><mspace width="0.6em"></mspace>`
    + `${dLd('<mi>b</mi>')}<mo>=</mo><munder><mo>∑</mo><mi>i</mi></munder><msub><mi>δ</mi><mi>i</mi></msub>`,
  update: `<mi>W</mi><mo>←</mo><mi>W</mi><mo>−</mo><mi>η</mi>${dLd('<mi>W</mi>')}`,
});

/** Plain-text forms of the formulas (for the live region and non-MathML readers). */
export const FORMULAS_TEXT = Object.freeze({
  forward: 'z = a·W + b, a = f(z)',
  loss: 'L = (1/B) Σ ℓ(y, t)',
  backward: 'δ = ∂L/∂z, ∂L/∂W = aᵀδ, ∂L/∂b = Σδ',
  update: 'W ← W − η ∂L/∂W',
});

const PHASE_LIST = Object.freeze(['forward', 'loss', 'backward', 'update']);

/** The words of "ready" under a `lesson_step`: the button that begins, of those its controls
 * show (lessons/lesson-controls.js): "Step phase", else "Step iteration" unless it plays, else
 * "Play" (a step showing only "Step iteration" said "press Play", which it hid). */
function readyKey(msg) {
  const show = msg.id && msg.controls ? msg.controls.show || [] : [];
  const a = msg.action || {};
  if (!show.length || show.includes('step_phase') || (a.do === 'step' && a.unit !== 'iteration')) return 'phase.ready';
  return show.includes('step_iteration') && a.do !== 'play' ? 'phase.readyIteration' : 'phase.readyPlay';
}

export class PhaseBanner {
  /** @param {HTMLElement} container the "banner" slot */
  constructor(container, { i18n, catalog }) {
    this.i18n = i18n;
    this.catalog = catalog;
    this.el = container;
    this.el.classList.add('banner');
    this.steps = document.createElement('ol');
    this.steps.className = 'phase-steps';
    this.stepItems = PHASE_LIST.map((p) => {
      const li = document.createElement('li');
      li.dataset.phase = p;
      this.steps.append(li);
      return li;
    });
    this.title = document.createElement('h2');
    this.title.className = 'banner-title';
    this.math = document.createElement('div');
    this.math.className = 'banner-math';
    this.say = document.createElement('p');
    this.say.className = 'banner-say';
    container.append(this.steps, this.title, this.math, this.say);
    this.phase = null;
    this.iteration = 0;
    this.shownPhase = undefined;
    this.queued = false;
    this.model = null;
  }

  /** Show the phase of the latest frame (or "ready" for a fresh run). */
  update({ kind, model, msg }) {
    if (kind === 'run' || kind === 'start') this.phase = model.lastPhase;
    else if (kind === 'follow-mode') this.following = msg.readOnly; // "ready" waits for the teacher
    else if (kind === 'lesson_step') this.readyKey = readyKey(msg);
    else if (kind === 'frame') {
      this.phase = msg.phase;
      this.iteration = recordIteration(msg.iteration);
    } else if (kind !== 'lang' && kind !== 'state' && kind !== 'start' && kind !== 'follow-mode' && kind !== 'lesson_step') return;
    if (kind === 'state' && this.phase) return;
    // Several frames can arrive per animation frame when playing fast: render once.
    this.model = model;
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.render(this.model);
    });
  }

  render(model) {
    const t = (k, p) => this.i18n.t(k, p);
    const p = this.phase;
    this.el.dataset.phase = p || 'ready';
    this.stepItems.forEach((li) => {
      li.textContent = t(`phase.${li.dataset.phase}`);
      li.classList.toggle('current', li.dataset.phase === p);
      if (li.dataset.phase === p) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
    if (!p) {
      // (a lesson step may hide "Step phase": its Play is what begins)
      this.title.textContent = t(this.following ? 'phase.readyFollow' : this.readyKey || 'phase.ready');
      this.math.replaceChildren();
      this.say.textContent = model && model.state ? t('phase.iteration', { n: stateIteration(model.state) }) : '';
      this.shownPhase = null;
      return;
    }
    this.title.textContent = `${t(`phase.${p}`)} · ${t('phase.iteration', { n: this.iteration })}`;
    const rule = p === 'update' && this.rule(model);
    if (this.shownPhase !== (rule || p)) {
      if (rule) this.math.textContent = rule;
      else this.math.innerHTML = `<math display="inline" aria-label="${FORMULAS_TEXT[p]}">${FORMULAS[p]}</math>`;
      this.shownPhase = rule || p;
    }
    this.say.textContent = t(`phase.${p}.say`);
  }

  /** The optimizer's update rule, unless plain SGD's. */
  rule(model) {
    const o = (model && model.config && model.config.optimizer) || {};
    const e = this.catalog && this.catalog.optimizer(o.name);
    if (!e || (o.name === 'sgd' && !Number(o.momentum) && !Number(o.weight_decay))) return null;
    const key = `opt.rule.${o.name}`; // (a rule with words, in the page's language)
    return `${e.torch}: ${this.i18n.has(key) ? this.i18n.t(key) : e.rule}`;
  }
}
