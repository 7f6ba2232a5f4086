/**
 * "Compare with": the charts' choice of a second series to overlay — another
 * branch of this run (the `timeline` lists them) or one of this tab's earlier
 * runs (`run.runs`) — and the words that label it ("Branch 1 · lr 0.3 from
 * iteration 40", "Run 2 · sigmoid, Xavier"), so sigmoid against ReLU or SGD
 * against Adam reads on the charts by name.
 *
 * Picking one asks the server for its series (`act('series', {branch} | {run})`,
 * answered by a `metrics` message with `compare`); the panel keeps the answer
 * while it still names something this page knows: a branch of this run, an
 * earlier run still in the list. A page following a class shows its teacher's
 * comparison and cannot pick (the menu is disabled). The tab keeps the choice
 * ({@link KEPT}): a reload of the same session asks for it again.
 */

import { h } from '../dom.js';
import { tabGet, tabSet } from '../tab-store.js';
import { label } from '../catalog.js';
import { describeChange } from './timeline.js';

/** Settings named by their value's label alone (a menu's choice). */
const CHOICE = Object.freeze({ dataset: 'dataset', activation: 'choice', output_activation: 'choice', loss: 'choice', init: 'choice', norm: 'choice' });
/** Settings that say little on their own: last, if at all. */
export const LATE = Object.freeze(['seed', 'n_samples', 'noise', 'test_fraction', 'points']);
/** Settings that are data, not words ("table [object Object]", a list of points): never said. */
export const UNSAID = Object.freeze(['table', 'points', 'features']);

/** Whether two settings' values are the same. */
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** A run setting's value in words: "sigmoid", "8-8-8", "Adam", "lr 0.1"; a choice of
 * nothing with its setting's name ("Normalization: none": "none" alone said nothing).
 * An optimizer or a schedule is its name and, by their own labels, those of its
 * parameters in which it differs from `others` (the same setting of the runs it is told
 * apart from) of the same name: "Step (Decay factor γ 0.1)", not every parameter. */
export function settingWords(i18n, key, value, others = []) {
  if (key in CHOICE && (value === 'none' || value == null)) return `${label(i18n, 'setting', key)}: ${label(i18n, 'choice', 'none')}`;
  if (key in CHOICE) return label(i18n, CHOICE[key], value);
  if (key === 'hidden') return value.length ? value.join('-') : i18n.t('cmp.noHidden');
  if (key === 'layer_activations') return value.map((a) => label(i18n, 'choice', a)).join('/');
  if (value && typeof value === 'object' && !Array.isArray(value) && value.name) {
    const kind = key === 'schedule' ? 'scheduleParam' : 'optimizerParam';
    const alike = others.filter((o) => o && o.name === value.name);
    const extra = Object.entries(value).filter(([k, v]) => k !== 'name' && alike.some((o) => !same(o[k], v)))
      .map(([k, v]) => `${label(i18n, kind, k)} ${v}`);
    return extra.length ? `${label(i18n, 'choice', value.name)} (${extra.join(', ')})` : label(i18n, 'choice', value.name);
  }
  return valueWords(i18n, key, value);
}

/** A setting that is a number or a switch, in short words with its value: "batch 10",
 * 「バッチ 10」, "full batch" (0), "seed 3" (`cmp.set.<key>`, and `.zero` for a 0 that
 * means something else, `.on` / `.off` for a switch; strings-*-later.js); else the
 * setting's own label and its value, never its id ("batch_size 0" on a Japanese page). */
function valueWords(i18n, key, value) {
  const base = `cmp.set.${key}`;
  const shown = Array.isArray(value) ? value.join(',') : value;
  const special = typeof value === 'boolean' ? `${base}.${value ? 'on' : 'off'}` : value === 0 ? `${base}.zero` : null;
  if (special && i18n.has(special)) return i18n.t(special);
  if (i18n.has(base)) return i18n.t(base, { v: shown });
  return `${label(i18n, 'setting', key)} ${shown}`;
}

/**
 * How settings `other` differ from `mine`, in words, most telling first (at most three):
 * "sigmoid, Xavier"; first those fewest of the other runs (`all`) share, so two runs that
 * differ from this one alike are told apart (by their rates, say). Empty when they do
 * not differ.
 * @param {{t: Function, has: Function}} i18n
 * @param {object} other
 * @param {object|null} mine
 * @param {object[]} all the other runs' settings
 * @returns {string}
 */
export function settingsDiff(i18n, other, mine, all = []) {
  const keys = Object.keys(other).filter((k) => !UNSAID.includes(k) && (!mine || !same(other[k], mine[k])));
  const alike = (k) => all.filter((a) => a !== other && same(a[k], other[k])).length;
  keys.sort((a, b) => alike(a) - alike(b) || LATE.includes(a) - LATE.includes(b));
  const others = [mine, ...all.filter((a) => a !== other)];
  return keys.slice(0, 3).map((k) => settingWords(i18n, k, other[k], others.map((o) => o && o[k]))).join(', ');
}

/** The label of a comparison `of` ({branch} or {run}) from what the page knows. */
export function compareLabel(i18n, of, { branches = [], runs = [], config = null } = {}) {
  if (of.branch !== undefined) {
    const b = branches.find((x) => x.id === of.branch);
    const name = i18n.t('cmp.branch', { id: of.branch });
    if (!b || !b.change) return b && b.parent === null ? i18n.t('cmp.root', { id: of.branch }) : name;
    return `${name} · ${describeChange(b.change)} ${i18n.t('cmp.from', { it: b.fork.iteration + 1 })}`;
  }
  const r = runs.find((x) => x.id === of.run);
  const name = i18n.t('cmp.run', { id: of.run });
  const diff = r ? settingsDiff(i18n, r.settings, config, runs.map((x) => x.settings)) : '';
  return diff ? `${name} · ${diff}` : name;
}

/** sessionStorage key of the comparison shown in this tab: {session, of}. */
export const KEPT = 'bpl-compare';

/** The "Compare with" menu of the charts panel. */
export class CompareMenu {
  /**
   * @param {HTMLElement} container where the menu goes
   * @param {{i18n: object, act: Function, pick: (of: object|null) => void}} options
   *   `pick` is told what was picked (null: nothing) before the server answers
   */
  constructor(container, { i18n, act, pick }) {
    this.i18n = i18n;
    this.act = act;
    this.pick = pick;
    this.branches = [];
    this.current = null; // the branch shown
    this.runs = [];
    this.config = null;
    this.following = false;
    this.chosen = null;
    this.session = null; // (the run's, from its `run`: a class's is none)
    this.restored = false; // (the kept choice was asked for, or set aside)
    this.select = h('select', { id: 'chart-compare', class: 'bpl-compare-select', on: { change: () => this.changed() } });
    this.labelEl = h('label', { for: 'chart-compare' });
    this.root = h('div', { class: 'bpl-compare', hidden: true }, this.labelEl, this.select);
    container.append(this.root);
  }

  /** What the page knows: the branches (timeline), the earlier runs and settings (run). */
  know({ branches, current, runs, config, following, session }) {
    if (branches !== undefined) this.branches = branches;
    if (current !== undefined) this.current = current;
    if (runs !== undefined) this.runs = runs;
    if (config !== undefined) this.config = config;
    if (following !== undefined) this.following = following;
    if (session !== undefined) this.session = session;
    this.render();
    this.restore();
  }

  /** The comparison shown (from the server's answer, or cleared). */
  show(of) {
    this.chosen = of;
    this.keep(of);
    this.render();
  }

  /** Keep `of` as this tab's comparison (not a class's: that is its teacher's). */
  keep(of) {
    if (this.following || !this.session) return;
    tabSet(KEPT, of ? JSON.stringify({ session: this.session, of }) : null);
  }

  /** After a reload: ask again for the comparison the tab kept for this session, once
   * the page knows what it names (the branches come with the first timeline). */
  restore() {
    if (this.restored || this.following || this.chosen || !this.session) return;
    let kept = null;
    try { kept = JSON.parse(tabGet(KEPT)); } catch { kept = null; }
    if (!kept || kept.session !== this.session) this.restored = true;
    else if (this.valid(kept.of)) {
      this.restored = true;
      this.act('series', kept.of);
    } else if (this.current !== null) this.restored = true; // (the timeline came: it names nothing here)
  }

  /** Whether `of` names something this page can still compare with. */
  valid(of) {
    if (!of) return false;
    if (of.branch !== undefined) return of.branch !== this.current && this.branches.some((b) => b.id === of.branch);
    return this.runs.some((r) => r.id === of.run);
  }

  label(of) {
    return compareLabel(this.i18n, of, { branches: this.branches, runs: this.runs, config: this.config });
  }

  options() {
    const t = (k) => this.i18n.t(k);
    const out = [h('option', { value: '' }, t('cmp.none'))];
    const others = this.branches.filter((b) => b.id !== this.current);
    if (others.length) {
      out.push(h('optgroup', { label: t('cmp.branches') },
        others.map((b) => h('option', { value: `b${b.id}` }, this.label({ branch: b.id })))));
    }
    if (this.runs.length) {
      out.push(h('optgroup', { label: t('cmp.runs') },
        this.runs.map((r) => h('option', { value: `r${r.id}` }, this.label({ run: r.id })))));
    }
    return out;
  }

  render() {
    this.labelEl.textContent = this.i18n.t('cmp.with');
    const focused = document.activeElement === this.select;
    const value = !this.chosen ? '' : this.chosen.branch !== undefined ? `b${this.chosen.branch}` : `r${this.chosen.run}`;
    const key = JSON.stringify([this.branches, this.current, this.runs, this.config, this.i18n.lang]);
    if (key !== this.optionsKey) {
      this.optionsKey = key;
      this.select.replaceChildren(...this.options());
    }
    this.select.value = value;
    if (this.select.value !== value) { // a follower's teacher compares with what its menu lacks
      this.select.append(h('option', { value }, this.label(this.chosen)));
      this.select.value = value;
      this.optionsKey = null;
    }
    this.select.disabled = this.following;
    this.root.hidden = this.select.options.length <= 1;
    if (focused) this.select.focus();
  }

  changed() {
    const v = this.select.value;
    const of = !v ? null : v[0] === 'b' ? { branch: Number(v.slice(1)) } : { run: Number(v.slice(1)) };
    this.chosen = of;
    this.restored = true; // (a pick before the kept one came back wins)
    this.keep(of);
    this.pick(of);
    if (of) this.act('series', of);
  }
}
