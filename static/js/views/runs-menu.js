/**
 * "Earlier runs": this tab's runs that a reset, a new setting or an opened file
 * replaced. Starting over never destroys a run: the server keeps the last few
 * (`run.runs`, newest first: id, iterations reached, settings) and each is one
 * click, or one Enter, away (`act('switch-run', id)`; the run shown then takes
 * its place in the list). The panel stays hidden while there is no earlier
 * run, and while the page follows a class's run (the list is the teacher's).
 */

import { h } from '../dom.js';
import { label } from '../catalog.js';
import { LATE, settingWords, UNSAID } from './chart-compare.js';

/**
 * One line for an earlier run: "XOR · 4-4 · tanh · SGD 0.03 · 812 iterations" (dataset,
 * neurons per hidden layer, their activations, optimizer and learning rate, length), and
 * the `extra` settings in which the runs (`all`: every run's settings) differ.
 * @param {{t: (key: string, params?: object) => string, has: (key: string) => boolean}} i18n
 * @param {{iterations: number, settings: object}} run an entry of `run.runs`
 * @returns {string}
 */
export function runSummary(i18n, run, extra = [], all = []) {
  const s = run.settings;
  const parts = [i18n.t('cmp.run', { id: run.id }), label(i18n, 'dataset', s.dataset)];
  if (s.hidden.length) {
    parts.push(s.hidden.join('-'));
    const acts = s.layer_activations && s.layer_activations.length ? s.layer_activations : [s.activation];
    parts.push([...new Set(acts)].map((a) => label(i18n, 'choice', a)).join('/'));
  } else {
    parts.push(i18n.t('runs.noHidden'));
  }
  parts.push(`${label(i18n, 'choice', s.optimizer.name)} ${s.lr}`);
  for (const key of extra) if (key in s) parts.push(settingWords(i18n, key, s[key], all.map((a) => a && a[key])));
  parts.push(i18n.t(run.iterations === 1 ? 'runs.iteration' : 'runs.iterations', { n: run.iterations }));
  return parts.join(' · ');
}

/** What every summary says already (runSummary's parts). */
const SAID = new Set(['dataset', 'hidden', 'activation', 'layer_activations', 'optimizer', 'lr']);

/**
 * The settings, beyond what a summary says, in which `runs` (and the run shown, `config`)
 * differ: said in each row, so runs that differ only in their initialization or
 * normalization are told apart (at most three).
 */
export function differing(runs, config) {
  const all = config ? [...runs.map((r) => r.settings), config] : runs.map((r) => r.settings);
  const keys = new Set(all.flatMap((x) => Object.keys(x)));
  return [...keys].filter((k) => !SAID.has(k) && !UNSAID.includes(k)
    && new Set(all.map((x) => JSON.stringify(x[k] ?? null))).size > 1)
    .sort((a, b) => LATE.includes(a) - LATE.includes(b)).slice(0, 3);
}

/** The earlier-runs panel. */
export class RunsMenu {
  /**
   * @param {HTMLElement} container the "runs" slot
   * @param {{i18n: object, act: (name: string, arg?: any) => void}} options
   */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.act = act;
    this.runs = [];
    this.config = null; // the run shown's settings (what the rows differ from)
    this.following = false;
    this.list = h('ul', { class: 'runs-list' });
    this.section = h('section', { class: 'panel runs', 'aria-labelledby': 'runs-h', hidden: true },
      h('div', { class: 'runs-head' },
        h('h2', { id: 'runs-h', dataset: { i18n: 'runs.title' } }),
        h('p', { class: 'hint runs-hint', dataset: { i18n: 'runs.hint' } })),
      this.list);
    container.append(this.section);
    this.render();
  }

  render() {
    this.i18n.apply(this.section);
    // the keyboard stays where it was when the list is redrawn under it
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.run : null;
    const extra = differing(this.runs, this.config);
    const all = [...this.runs.map((r) => r.settings), this.config];
    this.list.replaceChildren(...this.runs.map((run) => {
      const text = runSummary(this.i18n, run, extra, all);
      return h('li', {},
        h('button', {
          type: 'button', class: 'btn runs-item', dataset: { run: String(run.id) },
          'aria-label': this.i18n.t('runs.back', { run: text }),
          on: { click: () => this.act('switch-run', run.id) },
        }, h('span', { class: 'runs-back', 'aria-hidden': 'true' }, '↩'), h('span', { class: 'runs-text' }, text)));
    }));
    if (focused !== null) {
      const again = this.list.querySelector(`[data-run="${focused}"]`) || this.list.querySelector('button');
      if (again) again.focus();
    }
    this.section.hidden = this.following || this.runs.length === 0;
  }

  /** `run` brings the list (`runs`), `lang` relabels, `follow-mode` hides it while following. */
  update({ kind, msg }) {
    if (kind === 'run') {
      this.runs = Array.isArray(msg.runs) ? msg.runs : [];
      this.config = msg.config || null;
      this.render();
    } else if (kind === 'lang') this.render();
    else if (kind === 'follow-mode') {
      this.following = msg.readOnly;
      this.render();
    }
  }
}
