/**
 * The catalog of choices, as the engine declares it (engine/catalog.py) and the
 * server sends it (`GET /api/catalog`): optimizers with their hyper-parameters
 * (type, default, range) and state buffers, activations, losses, initializers,
 * schedules and their parameters, datasets, input features, norms, the run's
 * settings with their ranges, the phases. main.js loads it once at start and
 * hands it to the views in their options; the controls, the address-bar state
 * and the timeline build their lists, ranges and rules from it, so a choice
 * added to the engine reaches the page with no change here.
 *
 * Labels stay in the strings (strings-ja.js, strings-en.js), keyed by catalog
 * name ({@link labelKey}); a name without a label shows as itself.
 */

import { backoffDelay } from './socket.js';

/** Where the server serves the catalog. */
/** Relative to the page, as every URL the page asks for: a site may serve the lab under a
 * sub-path (docs/deploy.md, behind a reverse proxy). */
export const CATALOG_URL = 'api/catalog';

/** The i18n key prefix of each kind of catalog name (see {@link labelKey}). */
const LABEL_PREFIX = Object.freeze({
  dataset: 'ds.', // datasets
  choice: 'opt.', // a menu's options: optimizers, activations, losses, initializers, schedules, norms
  setting: 'adv.', // a run setting in the advanced section
  optimizerParam: 'adv.optimizer.',
  scheduleParam: 'adv.schedule.',
  state: 'insp.state.', // an optimizer's state buffer (views/inspector-update.js)
});

/** The sections whose names are offered as a menu's options (labelled `opt.<name>`). */
const MENU_SECTIONS = Object.freeze(['optimizers', 'activations', 'losses', 'initializers', 'schedules', 'norms']);

/**
 * The i18n key that labels catalog name `name` of kind `kind`: `dataset`,
 * `choice`, `setting`, `optimizerParam`, `scheduleParam` or `state`.
 * @param {string} kind
 * @param {string} name
 * @returns {string}
 */
export function labelKey(kind, name) {
  return `${LABEL_PREFIX[kind]}${name}`;
}

/**
 * The label of `name` in the current language, or `name` itself where i18n.js has none.
 * @param {{has: (key: string) => boolean, t: (key: string) => string}} i18n
 * @param {string} kind see {@link labelKey}
 * @param {string} name
 * @returns {string}
 */
export function label(i18n, kind, name) {
  const key = labelKey(kind, name);
  return i18n.has(key) ? i18n.t(key) : name;
}

/** The JSON catalog with the lookups the views need; read-only. */
export class Catalog {
  /** @param {object} json the body of `GET /api/catalog` (engine.catalog.as_json()) */
  constructor(json) {
    this.json = json;
  }

  /** The phases of one iteration, in order. */
  get phases() {
    return this.json.phases;
  }

  /** The run's settings (name, type, default, min/max with *_inclusive, step, choices, nullable, live, presets). */
  get settings() {
    return this.json.settings;
  }

  /** Every schedule's parameters (all schedules carry all of them). */
  get scheduleParams() {
    return this.json.schedule_params;
  }

  /** The input features, each `{name, text}`. */
  get features() {
    return this.json.features;
  }

  /** The names of a section ('optimizers', 'activations', 'datasets', …), in the page's order. */
  names(section) {
    return this.json[section].map((e) => e.name);
  }

  /** Entry `name` of `section`, or null. */
  entry(section, name) {
    return this.json[section].find((e) => e.name === name) || null;
  }

  /** The optimizer `name` ({name, torch, params, state, rule}), or null. */
  optimizer(name) {
    return this.entry('optimizers', name);
  }

  /**
   * The state buffers an optimizer keeps with these settings ({name, symbol, meaning, when}[];
   * a buffer with `when` only while that hyper-parameter is on: SGD's velocity with momentum).
   * @param {{name: string}} opt the optimizer's settings, e.g. {name: 'sgd', momentum: 0.9}
   */
  stateBuffers(opt) {
    const entry = this.optimizer(opt.name);
    if (!entry) return [];
    return entry.state.filter((s) => !s.when || Boolean(Number(opt[s.when]) || opt[s.when] === true));
  }

  /** The hyper-parameters optimizer `name` takes, in torch's order ([] for an unknown one). */
  optimizerParams(name) {
    const opt = this.optimizer(name);
    return opt ? opt.params : [];
  }

  /** Every hyper-parameter some optimizer takes, once each (its first declaration), in catalog order. */
  allOptimizerParams() {
    const seen = new Map();
    for (const opt of this.json.optimizers) for (const p of opt.params) if (!seen.has(p.name)) seen.set(p.name, p);
    return [...seen.values()];
  }

  /** The run setting `name`, or null. */
  setting(name) {
    return this.settings.find((p) => p.name === name) || null;
  }

  /** The schedule parameter `name`, or null. */
  scheduleParam(name) {
    return this.scheduleParams.find((p) => p.name === name) || null;
  }

  /** The parameters schedule `name` reads (warm-up included). */
  scheduleUses(name) {
    const e = this.entry('schedules', name);
    return e ? e.uses || [] : [];
  }

  /**
   * The choice setting whose entries read setting `name` (the initializers that
   * read init_scale) and those entries' names; null when no entry reads it.
   * @returns {{setting: string, names: string[]}|null}
   */
  readers(name) {
    for (const p of this.settings) {
      if (p.type !== 'str' || typeof p.choices !== 'string') continue;
      const names = this.json[p.choices].filter((e) => (e.uses || []).includes(name)).map((e) => e.name);
      if (names.length) return { setting: p.name, names };
    }
    return null;
  }

  /** The names a choice parameter allows: its section's, or the values it lists. */
  choices(param) {
    if (typeof param.choices === 'string') return this.names(param.choices);
    return param.choices || [];
  }

  /** Whether activation `name` takes an α (Leaky ReLU's slope, ELU's scale). */
  takesAlpha(name) {
    const e = this.entry('activations', name);
    return Boolean(e) && e.alpha !== undefined && e.alpha !== null;
  }

  /** The task of dataset `name` ('binary', 'multiclass' or 'regression'), or null. */
  task(name) {
    const d = this.entry('datasets', name);
    return d ? d.task : null;
  }

  /** The loss a run uses: its `loss` setting, or for 'auto' the one its dataset's task gets. */
  lossOf(config) {
    return config.loss === 'auto' ? this.json.auto_loss[this.task(config.dataset)] ?? null : config.loss;
  }

  /** Whether the run's output activation is its own choice (the loss implies none). */
  choosesOutput(config) {
    const loss = this.entry('losses', this.lossOf(config));
    return Boolean(loss) && !loss.output;
  }

  /** How feature `name` is written (x₁², sin x₁), or the name itself. */
  featureText(name) {
    const f = this.entry('features', name);
    return f ? f.text : name;
  }

  /** The learning rates a menu offers. */
  lrPresets() {
    const lr = this.setting('lr');
    return lr && lr.presets ? lr.presets : [];
  }

  /**
   * The attributes of a number input for `param`: min, max and step. An open end
   * is moved in by one step where there is one (`0 < γ ≤ 1`, step 0.01: min 0.01);
   * without a step the server refuses the end itself, naming the range.
   * @returns {{min?: number, max?: number, step: number|string}}
   */
  inputRange(param) {
    const step = param.step ?? (param.type === 'int' ? 1 : 'any');
    const inward = typeof step === 'number' ? step : 0;
    const out = { step };
    if (param.min !== undefined) out.min = param.min_inclusive === false ? param.min + inward : param.min;
    if (param.max !== undefined) out.max = param.max_inclusive === false ? param.max - inward : param.max;
    return out;
  }

  /**
   * Every i18n key the page asks for to label a catalog name, as [key, kind, name]:
   * datasets, every menu's options (and the 'auto' loss), the optimizers' and the
   * schedules' parameters, the optimizers' state buffers. The run settings are
   * labelled by the controls (views/controls-view.js, `settingLabelKey`).
   * @returns {Array<[string, string, string]>}
   */
  labelKeys() {
    const out = [];
    const add = (kind, name) => out.push([labelKey(kind, name), kind, name]);
    for (const name of this.names('datasets')) add('dataset', name);
    const menu = new Set(MENU_SECTIONS.flatMap((s) => this.names(s)));
    for (const p of this.settings) if (p.type === 'str' && Array.isArray(p.choices)) p.choices.forEach((c) => menu.add(c));
    for (const name of menu) add('choice', name);
    for (const p of this.allOptimizerParams()) add('optimizerParam', p.name);
    for (const p of this.scheduleParams) add('scheduleParam', p.name);
    const states = new Set(this.json.optimizers.flatMap((o) => o.state.map((s) => s.name)));
    for (const name of states) add('state', name);
    return out;
  }
}

/**
 * Fetch the catalog from the server, trying again with growing delays while it
 * cannot be reached (the page has nothing to offer before it arrives).
 * @param {{get?: (url: string) => Promise<Response>, wait?: (n: number) => number}} [io]
 * @returns {Promise<Catalog>}
 */
export async function loadCatalog({ get = (url) => fetch(url), wait = (n) => backoffDelay(n, 500, 10000, Math.random) } = {}) {
  for (let n = 0; ; n += 1) {
    try {
      const res = await get(CATALOG_URL);
      if (res.ok) return new Catalog(await res.json());
    } catch {
      /* offline or restarting: try again */
    }
    await new Promise((resolve) => setTimeout(resolve, wait(n)));
  }
}
