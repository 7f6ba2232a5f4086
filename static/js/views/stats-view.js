/**
 * The numbers as text: iteration, epoch, the batch loss of the iteration
 * shown, and train/test loss and accuracy with the iteration they were
 * measured after (accuracy only where there are classes: a regression run has its
 * losses) (counting.js: metrics points are taken after an iteration's
 * update, and fast play samples them, so the latest point at or before the
 * iteration shown may be an earlier one's: the panel says which, so two
 * viewers of the same point read the same numbers under the same label; before
 * any update, the `state`'s).
 * Being plain text, they are what screen readers and tests read.
 */

import { h } from '../dom.js';
import { fmt, pct } from '../format.js';
import { stateEpoch, stateIteration } from '../counting.js';

const STATS = Object.freeze(['iteration', 'epoch', 'batch_loss', 'train_loss', 'test_loss', 'train_acc', 'test_acc']);

/** The last of `points` (ordered by iteration) with iteration ≤ `it`, or undefined. */
export function pointAt(points, it) {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].iteration <= it) lo = mid + 1;
    else hi = mid;
  }
  return points[lo - 1];
}

/** Stats list view. */
export class StatsView {
  /** @param {HTMLElement} container the "stats" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.dts = new Map();
    this.dds = new Map();
    const dl = h('dl', { class: 'stats' });
    for (const k of STATS) {
      const dt = h('dt', { dataset: { i18n: `stat.${k}` } });
      const dd = h('dd', { id: `stat-${k.replace('_', '-')}`, dataset: { stat: k } }, '—');
      dl.append(h('div', { class: `stat stat-${k}` }, dt, dd));
      this.dts.set(k, dt);
      this.dds.set(k, dd);
    }
    // where train/test come from: "measured after iteration 900"
    this.at = h('p', { class: 'stats-at', id: 'stat-at' });
    container.append(dl, this.at);
    this.container = container;
    this.batchLoss = undefined;
    this.edited = null;
    this.model = null;
    i18n.apply(container);
  }

  /** Refresh the numbers that `kind` can change. */
  update({ kind, model, msg }) {
    if (kind === 'lang') {
      this.i18n.apply(this.container);
      if (this.model) this.render(this.model);
      return;
    }
    if (kind === 'run' || kind === 'start') this.batchLoss = undefined; // (start: no batch yet)
    if (kind === 'frame' && msg.phase === 'forward') this.batchLoss = undefined; // a new iteration's batch
    if (kind === 'frame' && msg.phase === 'loss') this.batchLoss = msg.values['loss.total'];
    // A hand edit's reply carries the losses the new weights give: show them until the next metrics.
    if (kind === 'edit' && msg.applied) {
      if (msg.batch) this.batchLoss = msg.batch.loss;
      this.edited = { train_loss: msg.train_loss, test_loss: msg.test_loss, train_acc: msg.train_acc, test_acc: msg.test_acc };
    } else if (kind === 'metrics' || kind === 'run' || kind === 'start') this.edited = null;
    if (!['run', 'start', 'state', 'metrics', 'frame', 'edit'].includes(kind)) return;
    this.model = model;
    this.render(model);
  }

  render(model) {
    const t = (k, p) => this.i18n.t(k, p);
    // the point at or before the weights in use: after a rewind, not the run's latest
    const point = this.edited ? null : pointAt(model.metrics, model.state.iteration);
    const start = this.edited || point ? null : model.state.start;
    const last = this.edited || point || start || {};
    const set = (k, text) => {
      const dd = this.dds.get(k);
      if (dd.textContent !== text) dd.textContent = text;
    };
    const shown = stateIteration(model.state);
    set('iteration', String(shown));
    set('epoch', String(stateEpoch(model.state)));
    set('batch_loss', fmt(this.batchLoss));
    set('train_loss', fmt(last.train_loss));
    set('test_loss', fmt(last.test_loss));
    // a regression run has no accuracy (its losses are what it has): no rows of dashes
    const regression = Boolean(model.net && model.net.task === 'regression');
    for (const k of ['train_acc', 'test_acc']) {
      const row = this.dds.get(k).parentElement;
      if (row.hidden !== regression) row.hidden = regression;
    }
    set('train_acc', last.train_acc === undefined || last.train_acc === null ? '—' : pct(last.train_acc));
    set('test_acc', last.test_acc === undefined || last.test_acc === null ? '—' : pct(last.test_acc));
    let at = '';
    if (this.edited) at = t('stat.atEdit');
    else if (start || (point && point.iteration === 0)) at = t('stat.atStart');
    else if (point) at = t(point.iteration === shown && !model.state.playing ? 'stat.atThis' : 'stat.at', { n: point.iteration });
    if (this.at.textContent !== at) this.at.textContent = at;
    this.at.dataset.iteration = point && !this.edited ? String(point.iteration) : '';
  }
}
