/**
 * What the page knows about the run, built only from server messages.
 *
 * Views read it and never write it: main.js feeds every message to
 * {@link RunModel#apply}. It keeps the run's shapes, settings and data, the
 * latest weights, the current iteration's phase frames, the play state and
 * the metrics series, and answers per-element questions (a neuron's batch
 * mean activation, an edge's weight and gradient) by stable id; in fast play
 * the server sends compact frames (`compact: true`: batch means as "<id>.mean"
 * instead of per-sample arrays), which answer the same questions. The browser
 * never recomputes the maths: every number here came from the engine.
 */

import { columnMean } from './format.js';
import { pointAfter } from './counting.js';

/** The four phases, in order. */
export const PHASES = Object.freeze(['forward', 'loss', 'backward', 'update']);

const MAX_METRICS = 20000;

/** Split a DOM/model element id such as "L1.W.0.2" or "L2.a.3" into its parts. */
export function parseElementId(id) {
  const m = /^L(\d+)\.(W|b|a)\.(\d+)(?:\.(\d+))?$/.exec(id);
  if (!m) return null;
  const l = Number(m[1]);
  if (m[2] === 'W') return { kind: 'edge', l, i: Number(m[3]), j: Number(m[4]) };
  if (m[2] === 'b') return { kind: 'bias', l, j: Number(m[3]) };
  return { kind: 'node', l, j: Number(m[3]) };
}

/** The run as the page sees it. */
export class RunModel {
  constructor() {
    this.session = null;
    this.config = null;
    this.net = null;
    this.data = null;
    this.params = {};
    this.state = { playing: false, speed: 2, iteration: 0, epoch: 0, next_phase: 'forward', halted: null };
    this.frames = {};
    this.lastPhase = null;
    this.frameIteration = -1;
    /** Set by a `state` back at the run's start with a phase shown (main.js then says 'start'). */
    this.startedOver = false;
    this.metrics = [];
    this.predictions = [];
    this.lastError = null;
    this.runCount = 0;
    /** The focused sample's `focus` message (its forward values), or null: batch means. */
    this.focus = null;
    /** The latest applied hand edit's `edit` message (its output, losses), until the next frame. */
    this.edit = null;
    /** The last 'play', 'pause' or 'learn' this page sent until a `state` answers it
     * (a learn: the one that pauses after its step), or null. */
    this.asked = null;
  }

  /** Take one server message into the model; returns the event kind for the views. */
  apply(msg) {
    // another branch's or run's series (the answer to `series`): never this run's
    if (msg.type === 'metrics' && msg.compare) return 'compare';
    switch (msg.type) {
      case 'run':
        this.session = msg.session;
        this.config = msg.config;
        this.net = msg.net;
        this.data = msg.data;
        this.params = { ...msg.params };
        this.frames = {};
        this.lastPhase = null;
        this.frameIteration = -1;
        this.metrics = [];
        this.predictions = new Array(msg.data.p_train.length).fill(null);
        this.lastError = null;
        this.focus = null;
        this.edit = null;
        this.runCount += 1;
        if (msg.state) this.state = msg.state;
        return 'run';
      case 'state':
        // back at the very start (a rewind or a step back to iteration 0, before its
        // forward pass): no phase is shown any more (the page says so: main.js 'start')
        if (this.lastPhase !== null && msg.iteration === 0 && msg.next_phase === 'forward') {
          this.frames = {};
          this.lastPhase = null;
          this.frameIteration = -1;
          this.edit = null;
          this.startedOver = true;
        }
        this.state = msg;
        if (msg.playing === (this.asked === 'play')) this.asked = null; // (answered)
        return 'state';
      case 'frame':
        this.applyFrame(msg);
        return 'frame';
      case 'metrics':
        // replace: the whole series (a branch switch, a loaded run once indexed)
        if (msg.replace) this.metrics = [];
        this.metrics.push(...msg.points);
        if (this.metrics.length > MAX_METRICS) this.metrics.splice(0, this.metrics.length - MAX_METRICS);
        return 'metrics';
      case 'timeline':
        // the settings in effect where the run is shown (a `set` changes them mid-run)
        if (msg.settings && this.config) this.config = { ...this.config, ...msg.settings };
        return 'timeline';
      case 'error':
        this.lastError = msg;
        return 'error';
      case 'focus':
        this.focus = msg.index == null || !msg.values ? null : msg;
        return 'focus';
      case 'edit':
        if (msg.applied) this.applyEdit(msg);
        return 'edit';
      default:
        return msg.type;
    }
  }

  /** An applied hand edit: its new parameter arrays and the output it gives on the last batch. */
  applyEdit(msg) {
    if (msg.params) for (const [key, value] of Object.entries(msg.params)) this.params[key] = value;
    if (msg.batch && msg.batch.indices) {
      msg.batch.indices.forEach((idx, r) => {
        if (msg.batch.y && msg.batch.y[r]) this.predictions[idx] = msg.batch.y[r];
      });
    }
    this.edit = msg;
  }

  applyFrame(msg) {
    this.edit = null;
    // playing, the frames move the position on between `state`s (protocol.md, state)
    const [it, next] = pointAfter(msg.iteration, msg.phase);
    const s = this.state;
    if (s.playing && (it > s.iteration || (it === s.iteration && next > PHASES.indexOf(s.next_phase)))) {
      this.state = { ...s, iteration: it, next_phase: PHASES[next] };
    }
    if (msg.phase === 'forward' || msg.iteration !== this.frameIteration) this.frames = {};
    this.frames[msg.phase] = msg.values;
    this.frameIteration = msg.iteration;
    this.lastPhase = msg.phase;
    const v = msg.values;
    // (a compact frame has no per-sample output: predictions keep the last full frame's)
    if (msg.phase === 'forward' && v.batch) {
      const out = v[`L${this.depth}.a`];
      v.batch.forEach((idx, r) => {
        if (out && out[r]) this.predictions[idx] = out[r];
      });
    }
    if (msg.phase === 'update') {
      for (let l = 1; l <= this.depth; l++) {
        for (const p of ['W', 'b', 'gamma', 'beta']) if (v[`L${l}.${p}`]) this.params[`L${l}.${p}`] = v[`L${l}.${p}`];
      }
    }
  }

  /** Number of weight layers (the output layer's index). */
  get depth() {
    return this.net ? this.net.sizes.length - 1 : 0;
  }

  /** Whether the server is producing whole iterations faster than phases can be shown. */
  get fast() {
    return this.state.playing && this.state.speed > 4;
  }

  /** A named value of the current iteration, searching the phases from latest to earliest. */
  value(key) {
    for (let k = PHASES.length - 1; k >= 0; k--) {
      const f = this.frames[PHASES[k]];
      if (f && key in f) return f[key];
    }
    return undefined;
  }

  /** Weight W⁽ˡ⁾[i][j] now. */
  weight(l, i, j) {
    const W = this.params[`L${l}.W`];
    return W ? W[i][j] : undefined;
  }

  /** Bias b⁽ˡ⁾[j] now. */
  bias(l, j) {
    const b = this.params[`L${l}.b`];
    return b ? b[j] : undefined;
  }

  /**
   * Batch mean of column j of a (B, n) value such as "L1.a", or undefined if not sent yet.
   * Compact frames (fast play) carry the server's batch means as "L1.a.mean" (n,) instead.
   */
  nodeMean(key, j) {
    const m = this.value(`${key}.mean`);
    if (Array.isArray(m)) return j === undefined ? m : m[j];
    return columnMean(this.value(key), j);
  }

  /**
   * What a neuron shows: the focused sample's value of "L{l}.z"/"L{l}.a" (from its
   * `focus` message) when a sample is focused, else the batch mean of the current frames.
   */
  nodeValue(key, j) {
    if (this.focus) {
      const row = this.focus.values[key];
      return row ? row[j] : undefined;
    }
    return this.nodeMean(key, j);
  }

  /** The numbers the page shows for an element id (see {@link parseElementId}). */
  describe(id) {
    const p = parseElementId(id);
    if (!p) return null;
    if (p.kind === 'edge') {
      const dW = this.frames.backward && this.frames.backward[`L${p.l}.dW`];
      const step = this.frames.update && this.frames.update[`L${p.l}.W.step`];
      return { ...p, w: this.weight(p.l, p.i, p.j), dW: dW ? dW[p.i][p.j] : undefined, step: step ? step[p.i][p.j] : undefined };
    }
    if (this.focus) {
      return {
        ...p,
        sample: this.focus.index,
        split: this.focus.split,
        z: p.l > 0 ? this.nodeValue(`L${p.l}.z`, p.j) : undefined,
        a: this.nodeValue(`L${p.l}.a`, p.j),
        b: p.l > 0 ? this.bias(p.l, p.j) : undefined,
      };
    }
    return {
      ...p,
      z: p.l > 0 ? this.nodeMean(`L${p.l}.z`, p.j) : undefined,
      a: this.nodeMean(`L${p.l}.a`, p.j),
      delta: p.l > 0 ? this.nodeMean(`L${p.l}.delta`, p.j) : undefined,
      b: p.l > 0 ? this.bias(p.l, p.j) : undefined,
    };
  }
}

/**
 * The optimizer in force: the timeline's settings' (an optimizer changed mid-run with
 * `set`), else the run's.
 * @returns {{name: string}}
 */
export function optimizerInForce(settings, model) {
  if (settings && settings.optimizer) return settings.optimizer;
  return (model && model.config && model.config.optimizer) || { name: 'sgd' };
}
