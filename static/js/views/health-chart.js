/**
 * Training-health charts: the loss (train and test over the whole data set, and
 * each step's own batch loss: SGD's noise beside the smooth full-data curve,
 * with the best test point — where early stopping would stop — marked),
 * accuracy, the learning rate (schedules and warm-up as they act), and per
 * layer the gradient norm ‖∂L/∂W‖ and update/weight ratio ‖ΔW‖/‖W‖ on a log
 * scale, so vanishing gradients (8 sigmoid layers: the first layers' lines lie
 * decades below the last's) and exploding ones are obvious at a glance.
 *
 * Data: the `metrics` messages (docs/protocol.md): their evaluated `points`
 * (`train_loss`, `test_loss`, accuracies, `lr`, `batch_loss`, per layer
 * `gnorm`, `update_ratio`, layer 1 first), which the page model keeps, and,
 * while playing fast, their `trace` of the iterations in between (`batch_loss`,
 * `lr`, `gnorm`: numbers training computes anyway), which this panel keeps, so
 * a run at top speed still draws a dense line; the note under the loss chart
 * says how often the costly train/test evaluation was made. A point's
 * `iteration` counts the iterations done; the batch loss is drawn one earlier
 * (its weights are those before its update, so with the whole training set as
 * the batch it lies on the train loss), and the rate as a staircase (each value
 * is the rate of the update that led to its point).
 *
 * Every chart draws a "you are here" cursor when the timeline is rewound, and
 * a comparison (chart-compare.js: another branch or an earlier run) as dotted
 * lines labelled with its name. Canvas 2D via line-chart.js; one colour per
 * layer from a perceptually ordered ramp (first layer dark, last light).
 */

import { CLASS_COLOURS, INK } from '../palette.js';
import { LineChart } from './line-chart.js';

/** Anchors of a dark-to-light ramp that stays readable on white. */
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 170, 60], [190, 160, 0]];
/** The batch loss: a light neutral under the train and test lines. */
const BATCH = '#9a9a9a';
/** A comparison's train (or only) line and its test line (Okabe–Ito green and pink). */
const CMP = CLASS_COLOURS[2];
const CMP_TEST = CLASS_COLOURS[3];
/** A comparison is dotted (and labelled), never told apart by colour alone. */
const DOT = [1.5, 3];
const PHASES = ['forward', 'loss', 'backward', 'update'];

/**
 * Colour of layer `l` (1-based) of `n` layers.
 * @param {number} l
 * @param {number} n
 * @returns {string}
 */
export function layerColour(l, n) {
  const s = n <= 1 ? 0 : (l - 1) / (n - 1);
  const x = s * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return `rgb(${c.join(',')})`;
}

function num(v) {
  if (v === null || v === undefined) return NaN;
  return Number(v);
}

const SCALARS = ['train_loss', 'test_loss', 'train_acc', 'test_acc', 'lr', 'batch_loss'];
const LAYERED = ['gnorm', 'update_ratio'];
/** Trace points the panel keeps; past it, every other one of the older half goes. */
const MAX_TRACE = 20000;
/** Redraws a second at most while the run plays fast. */
const REDRAW_HZ = 6;

/** Two lists of points ordered by iteration, as one. */
function merged(a, b) {
  if (!b.length) return a;
  if (!a.length) return b;
  const out = [];
  let i = 0; let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i].iteration <= b[j].iteration)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

/** At most `max` trace points: every other one of the older half goes (the start stays). */
export function thinned(trace, max) {
  let out = trace;
  while (out.length > max) {
    const half = out.length >> 1;
    out = out.filter((_, i) => i >= half || i % 2 === 1);
  }
  return out;
}

/**
 * The metrics points and trace points as one column `{xs, values}` per quantity
 * (per layer for `gnorm` and `update_ratio`), each from the points that carry
 * it, iterations strictly increasing (a point sent again after a rewind is the
 * same number).
 * @param {object[]} points evaluated points, by iteration
 * @param {object[]} [trace] trace points, by iteration
 */
export function columns(points, trace = []) {
  const out = emptyColumns();
  extend(out, merged(points, trace));
  return out;
}

/** The first and last iteration any series of `colsList` has a number at, or null (a
 * point without one, the batch loss before any batch, draws nothing and spans nothing). */
function xSpan(colsList) {
  let a = Infinity; let b = -Infinity;
  const take = ({ xs, values }) => {
    let i = 0;
    while (i < xs.length && !Number.isFinite(values[i])) i++;
    let j = xs.length - 1;
    while (j > i && !Number.isFinite(values[j])) j--;
    if (i >= xs.length) return;
    if (xs[i] < a) a = xs[i];
    if (xs[j] > b) b = xs[j];
  };
  for (const cols of colsList) {
    if (!cols) continue;
    for (const k of SCALARS) take(cols[k]);
    for (const k of LAYERED) for (const c of cols[k]) take(c);
  }
  return a <= b ? [a, b] : null;
}

function emptyColumns() {
  const out = { last: {} };
  for (const k of SCALARS) { out[k] = { xs: [], values: [] }; out.last[k] = -Infinity; }
  for (const k of LAYERED) { out[k] = []; out.last[k] = -Infinity; }
  return out;
}

/** Append `points` (by iteration) to columns `out`. */
function extend(out, points) {
  const { last } = out;
  for (const p of points) {
    const it = p.iteration;
    for (const k of SCALARS) {
      if (!(k in p)) continue;
      const x = k === 'batch_loss' ? it - 1 : it; // measured before the point's update
      if (x <= last[k]) continue;
      last[k] = x;
      out[k].xs.push(x);
      out[k].values.push(num(p[k]));
    }
    for (const k of LAYERED) {
      const v = p[k];
      if (!Array.isArray(v) || it <= last[k]) continue;
      last[k] = it;
      v.forEach((g, l) => {
        if (!out[k][l]) out[k][l] = { xs: [], values: [] };
        out[k][l].xs.push(it);
        out[k][l].values.push(num(g));
      });
    }
  }
}

/** The lowest finite test loss: `{x, y}`, or null. */
export function bestTest(cols) {
  const { xs, values } = cols.test_loss;
  let best = null;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isFinite(values[i]) && (best === null || values[i] < best.y)) best = { x: xs[i], y: values[i] };
  }
  return best;
}

/** The iteration of the first finite test loss, or null. */
function firstTest(cols) {
  const { xs, values } = cols.test_loss;
  const i = values.findIndex(Number.isFinite);
  return i < 0 ? null : xs[i];
}

/** The iterations whose test (else train) loss was evaluated. */
const evaluated = (cols) => (cols.test_loss.xs.length ? cols.test_loss.xs : cols.train_loss.xs);

/** Iterations between the latest evaluated points (the median of the last few gaps), or null. */
export function evaluationGap(cols) {
  const xs = evaluated(cols);
  const gaps = [];
  for (let i = Math.max(1, xs.length - 6); i < xs.length; i++) gaps.push(xs[i] - xs[i - 1]);
  if (!gaps.length) return null;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

/** A first stretch of points evaluated at least twice as often as the latest `gap` (a
 * lesson's play charts its first 50 iterations so, steps by hand each one): `until` its last
 * iteration, `gap` its median; null unless it is 4 gaps long. */
export function denseStart(cols, gap) {
  const xs = evaluated(cols);
  // the spaced points: from xs[j] on, every gap over half the latest (but the last: a pause's)
  let j = xs.length - 2;
  while (j > 0 && xs[j] - xs[j - 1] > gap / 2) j--;
  if (j < 4 || j >= xs.length - 2) return null;
  const gaps = xs.slice(1, j + 1).map((x, i) => x - xs[i]).sort((a, b) => a - b);
  return { until: xs[j], gap: gaps[Math.floor(gaps.length / 2)] };
}

/** The charts side by side; `update(data)` feeds all of them (see ChartsPanel.data). */
export class HealthCharts {
  /**
   * @param {HTMLElement} container
   * @param {{t?: Function}} [options]
   */
  constructor(container, options = {}) {
    const t = options.t || ((k) => k);
    this.t = t;
    this.root = document.createElement('div');
    this.root.className = 'bpl-health';
    this.root.dataset.view = 'health';
    container.append(this.root);
    const cmpLabel = (d, name) => (name ? `${name} · ${d.cmp.label}` : d.cmp.label);
    const pair = (a, b) => (d) => {
      const series = [
        { key: 'train', label: t('chart.train'), colour: CLASS_COLOURS[1], ...d.cols[a] },
        { key: 'test', label: t('chart.test'), colour: CLASS_COLOURS[0], dash: [4, 3], ...d.cols[b] },
      ];
      if (d.cmp) {
        series.push({ key: 'cmp-train', label: cmpLabel(d, t('chart.train')), colour: CMP, dash: DOT, width: 2, ...d.cmp.cols[a] });
        series.push({ key: 'cmp-test', label: cmpLabel(d, t('chart.test')), colour: CMP_TEST, dash: DOT, width: 2, ...d.cmp.cols[b] });
      }
      return series;
    };
    const loss = (d) => {
      const series = pair('train_loss', 'test_loss')(d);
      // under the others: the noisy line is the background the smooth ones are read against
      series.splice(2, 0, { key: 'batch', label: t('chart.batch'), colour: BATCH, width: 1, z: -1, robust: true, ...d.cols.batch_loss });
      const best = bestTest(d.cols);
      const at = best && { loss: best.y.toPrecision(3), n: best.x };
      // (a run whose test loss never fell below its first point: early stopping would
      // keep the starting weights, and "stop at 0" would read as a fault of the chart;
      // one whose latest point is its lowest: still falling, early stopping goes on)
      const kind = best && best.x === firstTest(d.cols) ? 'chart.bestStart'
        : best && best.x === d.cols.test_loss.xs.at(-1) ? 'chart.bestLast' : 'chart.best';
      const markers = best && d.cols.test_loss.xs.length > 1
        ? [{ ...best, colour: CLASS_COLOURS[0], label: t('chart.bestMark'), said: t(kind, at), short: t(`${kind}Short`, at) }]
        : [];
      return { series, markers };
    };
    const layers = (key) => (d) => {
      const own = d.cols[key];
      const n = own.length;
      const series = own.map((c, k) => ({ key: `L${k + 1}`, label: `L${k + 1}`, colour: layerColour(k + 1, n), ...c }));
      const groups = [];
      if (d.cmp && d.cmp.cols[key].length) {
        const theirs = d.cmp.cols[key];
        theirs.forEach((c, k) => series.push({
          key: `cmp-L${k + 1}`, label: `L${k + 1} · ${d.cmp.label}`, colour: layerColour(k + 1, theirs.length), dash: DOT, width: 1.4, legend: false, ...c,
        }));
        groups.push({ label: cmpLabel(d, ''), colour: INK, dash: DOT });
      }
      return { series, groups };
    };
    const rate = (d) => {
      const series = [{ key: 'lr', label: 'η', colour: INK, step: true, ...d.cols.lr }];
      if (d.cmp) series.push({ key: 'cmp-lr', label: cmpLabel(d, 'η'), colour: CMP, dash: DOT, width: 2, step: true, ...d.cmp.cols.lr });
      return { series };
    };
    const note = (d) => {
      const gap = evaluationGap(d.cols);
      if (gap === null) return '';
      const round = (g) => Number(g.toPrecision(g < 100 ? 1 : 2));
      const dense = gap > 2 ? denseStart(d.cols, gap) : null;
      if (dense) return t(dense.gap > 1 ? 'chart.evalDense' : 'chart.evalDenseEach', { k: dense.until, m: round(dense.gap), n: round(gap) });
      return gap > 1 ? t('chart.evalEvery', { n: round(gap) }) : t('chart.evalEach');
    };
    const data = { cols: columns([]), cmp: null, cursor: null };
    this.charts = {
      loss: new LineChart(this.root, { t, data, name: 'loss', title: 'health.loss', logToggle: true, marks: true, build: loss, note }),
      accuracy: new LineChart(this.root, { t, data, name: 'accuracy', title: 'health.accuracy', yMin: 0, yMax: 1, build: (d) => ({ series: pair('train_acc', 'test_acc')(d) }) }),
      lr: new LineChart(this.root, { t, data, name: 'lr', title: 'health.lr', logToggle: true, yMin: 0, build: rate }),
      gnorm: new LineChart(this.root, { t, data, name: 'gnorm', title: 'health.gnorm', log: true, build: layers('gnorm') }),
      ratio: new LineChart(this.root, { t, data, name: 'ratio', title: 'health.ratio', log: true, build: layers('update_ratio') }),
    };
  }

  /** `{cols, cmp: {cols, label}|null, cursor}` for every chart, on one iteration axis
   * (each chart's own series start where they start: the batch loss before the first
   * update, a rate at 1, an accuracy at its first evaluation). */
  update(data) {
    const span = xSpan([data.cols, data.cmp && data.cmp.cols]);
    const d = span ? { ...data, span } : data;
    for (const c of Object.values(this.charts)) c.update(d);
  }

  /** Re-read every string (after a language switch). */
  relabel() {
    for (const c of Object.values(this.charts)) c.relabel();
  }
}

/** localStorage key: the chart presentation mode shows. */
const PROJECTOR_CHART_KEY = 'bpl.projectorChart';

/**
 * The page's "charts" slot: the health charts with the "Compare with" menu,
 * redrawn at most once per animation frame from the page model's metrics, the
 * comparison's series and where the timeline stands.
 */
export class ChartsPanel {
  /**
   * @param {HTMLElement} container the "charts" slot
   * @param {{i18n: {t: Function}, act?: Function}} options
   */
  constructor(container, { i18n, act = () => {} }) {
    this.i18n = i18n;
    this.act = act;
    this.section = document.createElement('section');
    this.section.className = 'panel bpl-health-panel';
    const top = document.createElement('div');
    top.className = 'bpl-health-top';
    this.head = document.createElement('h2');
    top.append(this.head);
    this.section.append(top);
    container.append(this.section);
    // the "Compare with" menu loads once there is something to compare with (an earlier
    // run, another branch, a teacher's comparison): until then it would offer nothing
    this.top = top;
    this.menu = null;
    this.menuLoading = null;
    this.known = { branches: [], current: null, runs: [], config: null, following: false };
    this.charts = new HealthCharts(this.section, { t: (k, p) => i18n.t(k, p) });
    this.buildProjectorPick(top);
    this.points = [];
    this.trace = [];
    this.cols = null;
    this.colsKey = null;
    this.compare = null; // {of, cols}
    this.timeline = null;
    this.runIds = null;
    this.cursor = null;
    this.pending = false;
    this.timer = null;
    this.drewAt = -Infinity;
    this.seen = null;
    this.head.textContent = i18n.t('health.title');
  }

  /** The one chart a projector shows (presentation mode hides the others, css/screens.css):
   * the teacher picks it here; the choice is remembered on this browser. A lesson step
   * that talks about a chart (its `chart`) shows that one while it is open; the teacher
   * may still pick another. */
  buildProjectorPick(top) {
    const names = Object.keys(this.charts.charts);
    let saved = null;
    try {
      saved = window.localStorage.getItem(PROJECTOR_CHART_KEY);
    } catch { /* storage blocked: the loss chart */ }
    this.pick = document.createElement('select');
    this.pick.id = 'chart-projector';
    for (const name of names) this.pick.append(new Option('', name));
    /** The teacher's own pick (what a projector shows outside a lesson step's chart). */
    this.picked = names.includes(saved) ? saved : 'loss';
    this.pick.value = this.picked;
    this.pick.addEventListener('change', () => {
      this.picked = this.pick.value;
      this.showOnProjector(this.pick.value);
      try {
        window.localStorage.setItem(PROJECTOR_CHART_KEY, this.pick.value);
      } catch { /* not remembered */ }
    });
    this.pickLabel = document.createElement('label');
    this.pickLabel.htmlFor = this.pick.id;
    const box = document.createElement('div');
    box.className = 'bpl-projector-pick';
    box.append(this.pickLabel, this.pick);
    top.append(box);
    this.relabelPick();
    this.showOnProjector(this.pick.value);
  }

  relabelPick() {
    this.pickLabel.textContent = this.i18n.t('chart.onProjector');
    // short names: on a projector the menu is the chart's title, in a narrow column
    for (const o of this.pick.options) o.textContent = this.i18n.t(`health.pick.${o.value}`);
  }

  showOnProjector(name) {
    for (const [n, chart] of Object.entries(this.charts.charts)) chart.root.classList.toggle('is-projected', n === name);
  }

  /** A `lesson_step`: the chart its step talks about on the projector, or (no chart, or the
   * lesson left) the teacher's own pick again. */
  onLessonStep(msg) {
    const name = msg.id && msg.chart && this.charts.charts[msg.chart] ? msg.chart : this.picked;
    this.pick.value = name;
    this.showOnProjector(name);
  }

  /** One page event: the run, its metrics, a comparison, the timeline and state, the language. */
  update({ kind, msg, model }) {
    if (kind === 'lang') {
      this.head.textContent = this.i18n.t('health.title');
      this.relabelPick();
      if (this.menu) this.menu.render();
      this.charts.relabel();
      this.schedule();
      return;
    }
    if (kind === 'follow-mode') {
      this.know({ following: msg.readOnly });
      return;
    }
    if (kind === 'lesson_step') {
      this.onLessonStep(msg);
      return;
    }
    if (kind === 'run') {
      this.trace = [];
      this.onRun(msg, model);
    } else if (kind === 'compare') {
      this.setCompare({ of: msg.compare, cols: columns(msg.points, msg.trace || []) });
    } else if (kind === 'timeline') this.onTimeline(msg);
    else if (kind === 'metrics') this.takeTrace(msg);
    else if (kind !== 'state') return;
    const cursor = this.cursorAt(model.state);
    if (kind === 'state' && cursor === this.cursor && model.fast) return; // (nothing new)
    this.cursor = cursor;
    this.points = model.metrics;
    this.schedule(model.fast && kind === 'metrics');
  }

  onRun(msg, model) {
    const ids = JSON.stringify((msg.runs || []).map((r) => r.id));
    const replaced = this.runIds !== null && ids !== this.runIds; // configure, reset, load, switch_run
    this.runIds = ids;
    this.know({ runs: msg.runs || [], config: model.config, session: msg.session });
    const of = this.compare && this.compare.of;
    if (!of || !this.menu) return;
    if (replaced && of.branch !== undefined) this.setCompare(null); // the old run's branches
    else if (!this.menu.valid(of)) this.setCompare(null);
    else if (of.branch !== undefined && !this.menu.following) this.act('series', of); // it may have grown
  }

  onTimeline(msg) {
    const before = this.timeline ? this.timeline.branch : null;
    this.timeline = msg;
    this.know({ branches: msg.branches || [], current: msg.branch });
    const of = this.compare && this.compare.of;
    if (!of || of.branch === undefined || !this.menu) return;
    if (of.branch === msg.branch && before !== null && before !== msg.branch && !this.menu.following) {
      this.act('series', { branch: before }); // checked out the compared branch: compare with the one left
    } else if (!this.menu.valid(of) && !this.menu.following) this.setCompare(null);
  }

  /** A `metrics` message's trace (the page model keeps its evaluated points). */
  takeTrace(msg) {
    if (msg.replace) this.trace = [];
    if (!msg.trace || !msg.trace.length) return;
    const known = this.trace.length ? this.trace[this.trace.length - 1].iteration : -Infinity;
    for (const p of msg.trace) if (p.iteration > known) this.trace.push(p);
    if (this.trace.length > MAX_TRACE) this.trace = thinned(this.trace, MAX_TRACE * 0.75);
  }

  setCompare(compare) {
    this.compareSeq = (this.compareSeq || 0) + 1; // (a later choice supersedes one waiting)
    if (compare && !this.menu) { // (its label is the menu's words)
      const seq = this.compareSeq;
      this.loadMenu().then(() => { if (this.compareSeq === seq && this.menu) this.setCompare(compare); });
      return;
    }
    this.compare = compare;
    if (this.menu) this.menu.show(compare ? compare.of : null);
    this.schedule();
  }

  /** What the page knows for the menu: branches, the branch shown, earlier runs, settings,
   * following a class. The menu is loaded when there is something else to compare with. */
  know(facts) {
    for (const [k, v] of Object.entries(facts)) if (v !== undefined) this.known[k] = v;
    if (this.menu) this.menu.know(facts);
    else if (this.known.runs.length || this.known.branches.some((b) => b.id !== this.known.current)) this.loadMenu();
  }

  loadMenu() {
    if (!this.menuLoading) {
      // (the later words: a run's settings said in short, views/chart-compare.js settingWords)
      this.menuLoading = Promise.all([import('./chart-compare.js'), this.i18n.need('later')]).then(([{ CompareMenu }]) => {
        const menu = new CompareMenu(this.top, { i18n: this.i18n, act: this.act, pick: (of) => { if (!of) this.setCompare(null); } });
        this.top.insertBefore(menu.root, this.head.nextSibling); // (beside the title, as before)
        menu.know(this.known);
        this.menu = menu;
      }).catch(() => { this.menuLoading = null; }); // (tried again when next wanted)
    }
    return this.menuLoading;
  }

  /** Where the cursor stands (iterations done, a phase a quarter), or null at the run's end. */
  cursorAt(state) {
    const tl = this.timeline;
    if (!tl || !state) return null;
    const phase = Math.max(0, PHASES.indexOf(state.next_phase));
    const at = state.iteration + phase / 4;
    return at < tl.length ? at : null;
  }

  /** The data every chart draws. */
  data() {
    const p = this.points;
    const tr = this.trace;
    const was = this.seen;
    // the series only grew (play, steps): extend the columns; else (a new series, the
    // page model's oldest points dropped, the trace thinned) build them again
    const grew = was && was.p === p && was.tr === tr && p[0] === was.p0 && tr[0] === was.t0
      && p.length >= was.np && tr.length >= was.nt
      && p[was.np - 1] === was.pLast && tr[was.nt - 1] === was.tLast;
    if (!grew) this.cols = columns(p, tr);
    else if (p.length > was.np || tr.length > was.nt) extend(this.cols, merged(p.slice(was.np), tr.slice(was.nt)));
    this.seen = { p, tr, np: p.length, nt: tr.length, p0: p[0], t0: tr[0], pLast: p[p.length - 1], tLast: tr[tr.length - 1] };
    const cmp = this.compare ? { cols: this.compare.cols, label: this.menu.label(this.compare.of) } : null;
    return { cols: this.cols, cmp, cursor: this.cursor };
  }

  /** Redraw on the next animation frame; while the run plays fast, at most
   * `REDRAW_HZ` times a second (new points come with every state). */
  schedule(fast = false) {
    if (!fast && this.timer) { // a pause, a step: now, not after the wait
      clearTimeout(this.timer);
      this.timer = null;
      this.pending = false;
    }
    if (this.pending) return;
    this.pending = true;
    const draw = () => requestAnimationFrame(() => {
      this.pending = false;
      this.drewAt = performance.now();
      this.charts.update(this.data());
    });
    const wait = fast ? 1000 / REDRAW_HZ - (performance.now() - this.drewAt) : 0;
    if (wait > 0) {
      this.timer = setTimeout(() => { this.timer = null; draw(); }, wait);
    } else draw();
  }
}
