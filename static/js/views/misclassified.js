/**
 * The examples the network gets wrong, beside the confusion matrix of a run on a
 * table: each with its true class, the class it predicts and the probability the
 * network gave that guess; a digit drawn as its 8×8 picture (unit-images.js's
 * painter, ink on white as the pad draws), another table's first few inputs in its
 * own units. A click on a wrong cell of the confusion matrix shows that pair's
 * examples only.
 *
 * Numbers come from the `maps` message's `misclassified` (server/run/classes.py):
 * the same forward pass as the confusion matrix beside it, at most 24 examples,
 * every kind of mistake in turn, the most confident first.
 */

import { h } from '../dom.js';
import { className, columnName } from '../class-names.js';
import { pct, sig } from '../format.js';
import { ink, paintImage } from './unit-images.js';

/** A picture's largest pixel value (scikit-learn's digits: 0…16). */
const INK_MAX = 16;
/** Inputs written out for a row that is not a picture (the server sends at most 8). */
const VALUES_SHOWN = 4;

/** The network's mistakes on the test split; see the module comment. */
export class Misclassified {
  /**
   * @param {HTMLElement} container
   * @param {{t: (key: string, vars?: object) => string, i18n: {t: Function, has: Function},
   *   onClear: () => void}} options
   */
  constructor(container, { t, i18n, onClear }) {
    this.t = t;
    this.i18n = i18n; // (the input columns' names in the page's language)
    this.features = [];
    this.config = null; // the run's settings: a CSV's class names
    this.data = null;
    this.counts = null;
    this.pair = null;
    this.title = h('h3', { class: 'bpl-subhead' });
    this.summary = h('p', { class: 'wrong-summary' });
    this.allBtn = h('button', { type: 'button', class: 'btn btn-small wrong-all', on: { click: () => onClear() } });
    this.filterLine = h('p', { class: 'wrong-filter' }, h('span', {}), ' ', this.allBtn);
    this.list = h('ul', { class: 'wrong-list' });
    this.legend = h('p', { class: 'wrong-legend' });
    this.root = h('div', { class: 'misclassified', dataset: { view: 'misclassified' } },
      this.title, this.summary, this.filterLine, this.list, this.legend);
    this.root.hidden = true;
    container.append(this.root);
  }

  /** A new run (`run` message): the inputs' names; nothing to show until its maps. */
  setRun(run) {
    this.features = run.net.features;
    this.config = run.config;
    this.data = null;
    this.pair = null;
    this.root.hidden = true;
  }

  /** New maps: their mistakes and the confusion counts they go with. */
  update(maps) {
    this.data = maps.misclassified || null;
    this.counts = maps.confusion ? maps.confusion.counts : null;
    if (this.pair && !(this.counts && this.counts[this.pair[0]][this.pair[1]])) this.pair = null;
    this.render();
  }

  /** Show only the examples of true class `pair[0]` predicted as `pair[1]` (null: all). */
  filter(pair) {
    this.pair = pair;
    this.render();
  }

  render() {
    const m = this.data;
    this.root.hidden = !m;
    if (!m) return;
    const t = this.t;
    const split = t(m.split === 'train' ? 'conf.train' : 'conf.test');
    this.title.textContent = t('wrong.title', { split });
    const pair = this.pair;
    const shown = pair ? m.examples.filter((e) => e.true === pair[0] && e.pred === pair[1]) : m.examples;
    this.root.dataset.filter = pair ? `${pair[0]}-${pair[1]}` : '';
    this.summary.textContent = m.wrong === 0 ? t('wrong.none', { split })
      : t('wrong.summary', { shown: m.examples.length, wrong: m.wrong });
    this.filterLine.hidden = !pair;
    if (pair) {
      // more kinds of mistake than the list holds: a pair may have none in it; say so
      this.filterLine.firstChild.textContent = t(shown.length ? 'wrong.filter' : 'wrong.filterNone',
        { true: this.name(pair[0]), pred: this.name(pair[1]), shown: shown.length, count: this.counts[pair[0]][pair[1]],
          sent: m.examples.length });
      this.allBtn.textContent = t('wrong.all');
    }
    this.list.classList.toggle('is-image', m.image);
    this.list.replaceChildren(...shown.map((e) => this.item(e, m)));
    this.legend.hidden = m.wrong === 0;
    this.legend.textContent = t(m.image ? 'wrong.legendImage' : 'wrong.legend');
  }

  /** Class `k` as the run names it (a CSV's own label, or the number). */
  name(k) {
    return className(this.config, k, this.t);
  }

  /** One mistake: its picture or its first inputs, "true → predicted" and the probability. */
  item(e, m) {
    const t = this.t;
    const p = m.probability ? pct(e.p) : sig(e.p, 3);
    const detail = t(m.probability ? 'wrong.detail' : 'wrong.detailOut',
      { true: this.name(e.true), pred: this.name(e.pred), p });
    const head = h('span', { class: 'wrong-pair' }, h('span', { class: 'wrong-true' }, this.name(e.true)),
      ' → ', h('b', { class: 'wrong-pred' }, this.name(e.pred)));
    const prob = h('span', { class: 'wrong-p' }, p);
    const li = h('li', { class: 'wrong-item', title: detail, 'data-index': String(e.index),
      'data-true': String(e.true), 'data-pred': String(e.pred) });
    if (m.image) {
      const side = Math.round(Math.sqrt(e.values.length));
      const c = h('canvas', { class: 'wrong-image', width: side, height: side, role: 'img', 'aria-label': detail });
      paintImage(c, side, side, (i) => ink(e.values[i], INK_MAX));
      li.append(c, h('span', { class: 'wrong-caption' }, head, prob));
      return li;
    }
    const names = this.features.map((n) => columnName(this.i18n, this.config, n));
    const values = e.values.slice(0, VALUES_SHOWN).map((v, j) => `${names[j] || `x${j + 1}`} ${sig(v, 4)}`);
    li.setAttribute('title', `${detail}\n${e.values.map((v, j) => `${names[j] || `x${j + 1}`}: ${sig(v, 4)}`).join('\n')}`);
    const more = m.columns - Math.min(VALUES_SHOWN, e.values.length);
    li.append(h('span', { class: 'wrong-caption' }, head, prob),
      h('span', { class: 'wrong-values' }, values.join(' · ') + (more > 0 ? ` ${t('wrong.more', { n: more })}` : '')));
    return li;
  }
}
