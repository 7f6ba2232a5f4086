/**
 * What a map of real data needs beside it: which two inputs the map shows
 * (two menus; the others are held at their mean, and the caption says so),
 * the train/test split and whether the inputs are standardised, and the
 * confusion matrix the server sends with the maps (classification only). Shown for
 * data with more than two inputs (real data) and for a learner's own CSV (the split
 * and the matrix even when its two inputs are the whole map); the toy planes show it
 * all on the map.
 *
 * Numbers come from the `run` message (the inputs' names, the split) and the
 * `maps` message (`axes`, `confusion`: counts of true class i predicted as j,
 * computed by the engine). Native HTML: two selects and a table; the diagonal
 * is tinted with the palette's positive hue, mistakes with its negative one,
 * strength by the share of the row (colour-blind safe, and every cell also
 * says its number). A wrong cell with examples is a button: it picks that pair
 * (`onCell`), whose examples views/misclassified.js then shows alone.
 */

import { NEG, POS, ZERO } from '../palette.js';
import { h } from '../dom.js';
import { className, columnName } from '../class-names.js';

/** A background for a cell holding share `s` (0…1) of its row: right (diagonal) or wrong. */
function tint(s, right) {
  const end = right ? POS : NEG;
  const m = Math.min(1, s) ** 0.7 * 0.85;
  return `rgb(${ZERO.map((c, i) => Math.round(c + (end[i] - c) * m)).join(',')})`;
}

/** The axes menus, the split line and the confusion matrix of a run on a table. */
export class TableData {
  /**
   * @param {HTMLElement} container where it goes (after the map)
   * @param {{t: (key: string, vars?: object) => string, i18n: {t: Function, has: Function},
   *   onAxes: (axes: number[]) => void,
   *   onCell?: (pair: number[]|null) => void}} options
   */
  constructor(container, { t, i18n, onAxes, onCell }) {
    this.t = t;
    this.i18n = i18n; // (the input columns' names in the page's language)
    this.onAxes = onAxes;
    this.onCell = onCell || (() => {});
    this.picked = null; // [true, predicted] of the wrong cell picked, or null
    this.run = null;
    this.maps = null;
    this.menus = [0, 1].map((k) => h('select', { id: `map-axis-${k}`, class: 'map-axis',
      on: { change: () => this.pick() } }));
    this.labels = [0, 1].map((k) => h('label', { for: `map-axis-${k}` }));
    this.axesBar = h('div', { class: 'map-axes', role: 'group', dataset: { view: 'map-axes' } },
      h('span', { class: 'map-axes-title' }), this.labels[0], this.menus[0], this.labels[1], this.menus[1]);
    this.held = h('p', { class: 'map-held' });
    this.plane = h('p', { class: 'map-plane' }); // (two inputs: which is which axis)
    this.split = h('p', { class: 'map-split' });
    this.confTitle = h('h3', { class: 'bpl-subhead' });
    this.confSummary = h('p', { class: 'conf-summary' });
    this.table = h('table', { class: 'conf-table', on: {
      click: (e) => this.pickCell(e.target.closest('td[data-pair]')),
      keydown: (e) => {
        if (e.key !== 'Enter' && e.key !== ' ') return;
        const cell = e.target.closest('td[data-pair]');
        if (!cell) return;
        e.preventDefault();
        this.pickCell(cell);
      },
    } });
    // (ten classes of three-digit counts can outgrow a narrow column: the table then
    // scrolls in its box rather than losing its last columns under the edge)
    this.conf = h('div', { class: 'conf', dataset: { view: 'confusion' } }, this.confTitle,
      h('div', { class: 'conf-scroll' }, this.table), this.confSummary);
    this.root = h('div', { class: 'table-data' }, this.axesBar, this.held, this.plane, this.split, this.conf);
    // a projector folds the menus and the line above away (the map stays large): one short
    // line still says which two inputs the map shows (css/views.css shows it only there)
    this.brief = h('p', { class: 'map-brief', dataset: { testid: 'map-brief' } });
    this.brief.hidden = true;
    container.append(this.brief, this.root);
    this.root.hidden = true;
  }

  /** A new run (`run` message): the inputs' names for the menus, the split. */
  setRun(run) {
    this.run = run;
    this.maps = null;
    this.picked = null;
    const names = this.names(run);
    // more inputs than a plane holds (a real table): the map shows two of them
    const many = names.length > 2 && Boolean(run.data.p_train[0]) && run.data.p_train[0].length > 2;
    this.many = many;
    // a learner's own CSV, even of two columns (its map is the whole plane): the split,
    // the standardisation and the confusion matrix its mistakes' list points to
    this.shown = many || Boolean(run.config.table);
    for (const menu of this.menus) {
      menu.replaceChildren(...names.map((n, i) => h('option', { value: String(i) }, n)));
    }
    this.root.hidden = !this.shown;
    this.axesBar.hidden = !many;
    this.held.hidden = !many;
    this.brief.hidden = true; // until the maps say which two inputs they show
    this.split.hidden = !this.shown;
    this.conf.hidden = true;
    this.render();
  }

  /** The run's input columns by name, in the page's language (a CSV's: its headers). */
  names(run) {
    return run.net.features.map((n) => columnName(this.i18n, run.config, n));
  }

  /** New maps: the axes they show and the confusion matrix they carry. */
  update(maps) {
    this.maps = maps;
    const counts = maps.confusion && maps.confusion.counts;
    if (this.picked && !(counts && counts[this.picked[0]][this.picked[1]])) this.picked = null;
    this.render();
  }

  /** A wrong cell clicked: pick its pair, or unpick it when it was picked. */
  pickCell(cell) {
    if (!cell) return;
    const pair = cell.dataset.pair.split('-').map(Number);
    this.pickPair(this.picked && String(this.picked) === String(pair) ? null : pair);
  }

  /** Pick the pair [true, predicted] (null: none) and say so to `onCell`. */
  pickPair(pair) {
    this.picked = pair;
    this.onCell(pair);
    this.render();
  }

  pick() {
    const axes = this.menus.map((m) => Number(m.value));
    if (axes[0] === axes[1]) return; // the same input twice is no plane: wait for the other menu
    this.onAxes(axes);
  }

  render() {
    if (!this.run) return;
    const t = this.t;
    const names = this.names(this.run);
    this.menus.forEach((menu) => [...menu.options].forEach((o, i) => { o.textContent = names[i]; }));
    this.axesBar.firstChild.textContent = t('map.axes');
    this.labels[0].textContent = t('map.axisX');
    this.labels[1].textContent = t('map.axisY');
    const axes = this.maps && this.maps.axes;
    if (this.many && axes) {
      this.menus.forEach((m, k) => { if (m !== document.activeElement) m.value = String(axes[k]); });
      this.held.textContent = t('map.held', { x: names[axes[0]], y: names[axes[1]], n: names.length - 2 });
      this.brief.textContent = t('map.brief', { x: names[axes[0]], y: names[axes[1]], n: names.length - 2 });
    }
    this.brief.hidden = !(this.many && axes);
    // two inputs are the whole plane: no menus, but the axes are named
    this.plane.hidden = this.many || names.length !== 2 || !this.i18n.has('map.plane');
    if (!this.plane.hidden) this.plane.textContent = t('map.plane', { x: names[0], y: names[1] });
    const d = this.run.data;
    const std = this.run.config.standardize ? t('map.standardized') : t('map.raw');
    this.split.textContent = `${t('map.split', { train: d.p_train.length, test: d.p_test.length })} · ${std}`;
    this.renderConfusion(this.maps && this.maps.confusion);
  }

  renderConfusion(conf) {
    // a table's run (the toy planes show their classes on the map itself)
    this.conf.hidden = !conf || !this.shown;
    this.root.hidden = !this.shown;
    if (!conf || !this.shown) return;
    const t = this.t;
    const k = conf.counts.length;
    const name = (i) => className(this.run.config, i, t); // a CSV's own class names ("cat")
    this.confTitle.textContent = t('conf.title', { split: t(conf.split === 'train' ? 'conf.train' : 'conf.test') });
    const head = h('tr', {}, h('th', { scope: 'col', class: 'conf-corner' },
      // rows are the true class, columns the predicted one; with ten classes the corner is
      // narrow: its two halves on two lines, the arrows saying which is which
      h('span', {}, `${t('conf.true')} ↓`), h('span', { class: 'conf-sep' }, ' \\ '), h('span', {}, `${t('conf.pred')} →`)),
    ...Array.from({ length: k }, (_, j) => h('th', { scope: 'col' }, name(j))));
    let right = 0; let total = 0;
    const rows = conf.counts.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return h('tr', {}, h('th', { scope: 'row' }, name(i)), ...row.map((c, j) => {
        total += c;
        if (i === j) right += c;
        const pickable = i !== j && c > 0;
        const picked = pickable && this.picked && this.picked[0] === i && this.picked[1] === j;
        const cell = h('td', { class: i === j ? 'conf-right' : 'conf-wrong',
          title: t(pickable ? 'conf.cellPick' : 'conf.cell', { true: name(i), pred: name(j), count: c }),
          'data-pair': pickable ? `${i}-${j}` : null, tabindex: pickable ? '0' : null,
          role: pickable ? 'button' : null, 'aria-pressed': pickable ? String(Boolean(picked)) : null }, String(c));
        cell.style.background = c ? tint(c / Math.max(1, n), i === j) : '';
        if (c && c / Math.max(1, n) > 0.55) cell.style.color = '#fff';
        return cell;
      }));
    });
    this.table.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
    this.table.classList.toggle('is-many', k > 5); // ten digits fit the column
    const pct = total ? ((100 * right) / total).toFixed(1) : '0';
    this.confSummary.textContent = t('conf.summary', { right, total, pct });
  }
}
