/**
 * The control panel: run buttons (step phase, step iteration, play/pause,
 * reset, speed), the main network settings (dataset, hidden layers, neurons,
 * activation, learning rate) and a compact "advanced" section covering the
 * rest of RunSettings. Every list, range and rule of "what matters when" comes
 * from the catalog (options.catalog, see catalog.js); this module only lays the
 * settings out and labels them through i18n.js. It never talks to the server: it calls
 * `act(name, arg)` and main.js turns that into messages. Settings are always
 * sent as a whole RunSettings built from the run's current config. While the
 * page follows a class's run (read-only) every control is disabled at once by
 * the fieldset around them; the advanced section still unfolds, to read.
 */

import { h } from '../dom.js';
import { getPath, setPath } from '../paths.js';
import { label, labelKey } from '../catalog.js';
import { CsvPicker } from './csv-picker.js';

/** Speeds offered, in iterations per second (≤ 4 shows every phase). */
export const SPEEDS = Object.freeze([0.25, 0.5, 1, 2, 4, 10, 30, 100, 300]);
/** Play's speed until the learner picks another: XOR's default run reaches 95 % accuracy
 * in ~1,100 iterations, about 11 s at 100 it/s (9 minutes at 2); the phases are there to
 * step through, one button away. */
export const DEFAULT_SPEED = 100;
/** sessionStorage key of the speed picked in this tab: a reload keeps it. */
export const SPEED_KEY = 'bpl.speed';
const MAX_LAYERS = 8;
const MAX_NEURONS = 16;

/** The tab's speed (null if none is kept, or storage is blocked); given `v`, keeps it. */
function tabSpeed(v) {
  try {
    if (v !== undefined) window.sessionStorage.setItem(SPEED_KEY, String(v));
    const s = Number(window.sessionStorage.getItem(SPEED_KEY));
    return SPEEDS.includes(s) ? s : v ?? null;
  } catch {
    return v ?? null;
  }
}

/** The settings the main panel shows (with their labels); `features` has its own fieldset. */
const MAIN = Object.freeze({ dataset: 'ctl.dataset', hidden: 'ctl.layers', activation: 'ctl.activation', lr: 'ctl.lr' });
/** The advanced section's groups, in order. */
const GROUPS = Object.freeze(['data', 'network', 'optimizer', 'schedule', 'regularization']);
/** Where a run setting goes in the advanced section (presentation only: which
 * settings exist comes from the catalog; one not named here joins 'network'). */
const GROUP_OF = Object.freeze({
  n_samples: 'data', noise: 'data', test_fraction: 'data', batch_size: 'data', seed: 'data',
  optimizer: 'optimizer', schedule: 'schedule', accumulate_grads: 'optimizer',
  clip_norm: 'regularization', clip_value: 'regularization', l1: 'regularization', l2: 'regularization',
});

/** The i18n key labelling the control of run setting `name`. */
export function settingLabelKey(name) {
  return MAIN[name] || labelKey('setting', name);
}

/**
 * The advanced section, built from the catalog: every run setting the main
 * controls do not cover, in groups; the optimizer's group holds every optimizer's
 * hyper-parameters and the schedule's every schedule parameter (each shown only
 * where it does something: {@link relevant}). One row per field:
 * [path, kind, choices or input range, label key]. Kinds: int, num, select, bool,
 * layers (one activation menu per hidden layer), and opt/optbool for a value that
 * may be left empty to take its default (an optimizer's: torch.optim's).
 * @param {import('../catalog.js').Catalog} catalog
 * @returns {Array<[string, Array<[string, string, any, string]>]>}
 */
export function advancedRows(catalog) {
  const groups = new Map(GROUPS.map((g) => [g, []]));
  const number = (p, optional) => [p.type === 'int' ? 'int' : optional ? 'opt' : 'num', catalog.inputRange(p)];
  for (const p of catalog.settings) {
    if (MAIN[p.name] || p.name === 'features') continue;
    const rows = groups.get(GROUP_OF[p.name] || 'network');
    if (p.name === 'optimizer') {
      rows.push(['optimizer.name', 'select', catalog.choices(p), labelKey('setting', 'optimizer')]);
      for (const q of catalog.allOptimizerParams()) {
        const [kind, spec] = q.type === 'bool' ? ['optbool', null] : number(q, true);
        rows.push([`optimizer.${q.name}`, kind, spec, labelKey('optimizerParam', q.name)]);
      }
    } else if (p.name === 'schedule') {
      rows.push(['schedule.name', 'select', catalog.choices(p), labelKey('setting', 'schedule')]);
      for (const q of catalog.scheduleParams) rows.push([`schedule.${q.name}`, ...number(q, false), labelKey('scheduleParam', q.name)]);
    } else if (p.type === 'str') {
      rows.push([p.name, 'select', catalog.choices(p), settingLabelKey(p.name)]);
    } else if (p.type === 'list' && p.choices === 'activations') {
      rows.push([p.name, 'layers', catalog.choices(p), settingLabelKey(p.name)]);
    } else if (p.type === 'bool') {
      rows.push([p.name, 'bool', null, settingLabelKey(p.name)]);
    } else if (p.type === 'int' || p.type === 'float') {
      rows.push([p.name, ...number(p, p.nullable), settingLabelKey(p.name)]);
    }
  }
  return GROUPS.map((g) => [`adv.group.${g}`, groups.get(g)]);
}

/** The activations a run uses: its hidden layers' and, where it is a choice, its output's. */
function activationsUsed(config, catalog) {
  const hidden = config.hidden.length ? (config.layer_activations && config.layer_activations.length
    ? config.layer_activations : [config.activation]) : [];
  return catalog.choosesOutput(config) ? [...hidden, config.output_activation] : hidden;
}

/**
 * Whether the advanced field at `path` does anything under `config` (others are
 * hidden), by the catalog: an optimizer's own hyper-parameters; a schedule's
 * parameters it reads (`uses`), a warm-up's start once there is a warm-up (`when`);
 * α where an activation in use takes one; the output activation where the loss
 * implies none; a setting an initializer reads (init_scale) under one that reads it;
 * a lesson-only setting (the catalog's `lesson_only`: a mistake a lesson shows, such as
 * never resetting the gradients) only while the run has it on, so it is seen and can
 * be switched off, but never offered as a way to train.
 */
export function relevant(path, config, catalog) {
  const own = catalog.settings.find((p) => p.name === path);
  if (own && own.lesson_only) return Boolean(config[path]);
  const [head, key] = path.split('.');
  if (head === 'optimizer' && key !== 'name') return catalog.optimizerParams(config.optimizer.name).some((p) => p.name === key);
  if (head === 'schedule' && key !== 'name') {
    const p = catalog.scheduleParam(key);
    return catalog.scheduleUses(config.schedule.name).includes(key) && (!p || !p.when || Boolean(config.schedule[p.when]));
  }
  if (path === 'standardize' || path === 'features' || path === 'n_samples' || path === 'noise') {
    // a real table: its columns are the inputs and every row is used; standardising applies
    const d = catalog.entry('datasets', config.dataset);
    return Boolean(d && d.real) === (path === 'standardize');
  }
  if (path === 'alpha') return activationsUsed(config, catalog).some((a) => catalog.takesAlpha(a));
  if (path === 'output_activation') return catalog.choosesOutput(config);
  const readers = catalog.readers(path); // e.g. init_scale, read by some initializers
  return !readers || readers.names.includes(config[readers.setting]);
}

/** A copy of `config` to send back: without the own dataset's table, which the server keeps. */
function withoutTable(config) {
  const { table, ...rest } = config;
  void table;
  return structuredClone(rest);
}

/** The option lists of a select: [value, text, i18n key] (the key only where i18n.js has one). */
function options(i18n, kind, names) {
  return names.map((v) => (i18n.has(labelKey(kind, v)) ? [v, null, labelKey(kind, v)] : [v, v]));
}

/** Control panel view. */
export class ControlsView {
  /**
   * @param {HTMLElement} container the "controls" slot
   * @param {{i18n: object, act: (name: string, arg?: any) => void, catalog: import('../catalog.js').Catalog}} options
   */
  constructor(container, { i18n, act, catalog }) {
    this.i18n = i18n;
    this.act = act;
    this.catalog = catalog;
    this.config = null;
    /** A network suited to the dataset picked from the menu (the catalog's `hidden`):
     * {dataset, hidden, applied}, or null. */
    this.suggested = null;
    this.settingsSeen = null; // (the timeline's settings last synced)
    this.inLesson = false; // a lesson sets its own network: suggested then, never applied
    this.container = container;
    this.optionLabels = [];

    const btn = (action, key, keyHint) => h('button', {
      type: 'button', class: `btn btn-${action}`, dataset: { action, i18n: key, keyHint },
      on: { click: () => this.act(action) },
    });
    this.playBtn = btn('toggle-play', 'ctl.play', 'Space');
    this.playBtn.setAttribute('aria-pressed', 'false');
    /** The speed the next Play uses (the menu's; "full speed" on the timeline is one play only). */
    this.chosenSpeed = tabSpeed() ?? DEFAULT_SPEED;
    this.speed = this.select('speed', SPEEDS.map((s) => [String(s), `${s}`]), () => {
      this.chosenSpeed = tabSpeed(Number(this.speed.value));
      this.act('speed', this.chosenSpeed);
    });
    this.speed.value = String(this.chosenSpeed);

    const runSection = h('section', { class: 'ctl-group ctl-run', 'aria-labelledby': 'ctl-run-h' },
      h('h2', { id: 'ctl-run-h', class: 'ctl-h', dataset: { i18n: 'section.run' } }),
      h('div', { class: 'btn-row' },
        btn('step-phase', 'ctl.stepPhase', '→'),
        btn('step-iteration', 'ctl.stepIteration', '.'),
        this.playBtn,
        btn('reset', 'ctl.reset', 'R')),
      this.field('speed', 'ctl.speed', this.speed));

    this.dataset = this.select('dataset', options(i18n, 'dataset', catalog.names('datasets')), () => this.pickDataset());
    this.layers = h('input', { type: 'number', id: 'ctl-layers', min: 0, max: MAX_LAYERS, step: 1, inputmode: 'numeric',
      on: { change: () => this.changeHidden() } });
    this.neurons = h('input', { type: 'number', id: 'ctl-neurons', min: 1, max: MAX_NEURONS, step: 1, inputmode: 'numeric',
      on: { change: () => this.changeHidden() } });
    this.activation = this.select('activation', options(i18n, 'choice', catalog.names('activations')),
      () => this.change('activation', this.activation.value));
    this.lr = this.select('lr', catalog.lrPresets().map((v) => [String(v), String(v)]), () => this.change('lr', Number(this.lr.value)));

    // a learner's own CSV: the picker under the menu, or a file dropped on this panel
    this.csv = new CsvPicker({ t: (k, p) => i18n.t(k, p), has: (k) => i18n.has(k), lang: () => i18n.lang, send: (file) => this.act('csv', file),
      picked: () => this.act('csv-picked') });
    const netSection = h('section', { class: 'ctl-group ctl-net', 'aria-labelledby': 'ctl-net-h' },
      h('h2', { id: 'ctl-net-h', class: 'ctl-h', dataset: { i18n: 'section.network' } }),
      this.field('dataset', 'ctl.dataset', this.dataset),
      this.csv.root,
      this.buildSuggest(),
      h('div', { class: 'field-pair' },
        this.field('layers', 'ctl.layers', this.layers),
        this.field('neurons', 'ctl.neurons', this.neurons)),
      h('div', { class: 'field-pair' },
        this.field('activation', 'ctl.activation', this.activation),
        this.field('lr', 'ctl.lr', this.lr)),
      h('p', { class: 'hint', dataset: { i18n: 'ctl.applied' } }));

    this.advInputs = new Map();
    const advGroups = advancedRows(catalog).map(([groupKey, rows]) => h('fieldset', { class: 'adv-group' },
      h('legend', { dataset: { i18n: groupKey } }),
      rows.map(([path, kind, spec, key]) => this.advancedField(path, kind, spec, key))));
    this.featureBoxes = catalog.features.map((f) => h('input', { type: 'checkbox', value: f.name, on: { change: () => this.changeFeatures() } }));
    const featureSet = h('fieldset', { class: 'features' },
      h('legend', { dataset: { i18n: settingLabelKey('features') } }),
      this.featureBoxes.map((b) => h('label', { class: 'check' }, b, ` ${catalog.featureText(b.value)}`)));
    const adv = h('details', { class: 'ctl-group ctl-adv' },
      h('summary', { dataset: { i18n: 'section.advanced' } }),
      h('div', { class: 'adv-grid' }, advGroups, featureSet));

    this.lock = h('fieldset', { class: 'ctl-lock' }, runSection, netSection, adv);
    // presentation mode folds the settings and the secondary panels away; this unfolds them
    // (outside the lock: a class's follower may unfold them too)
    this.allBtn = h('button', { type: 'button', class: 'btn btn-small present-all-btn', 'aria-pressed': 'false',
      dataset: { i18n: 'ctl.allPanels' }, on: { click: () => this.act('present-all') } });
    container.append(this.lock, this.allBtn);
    this.csv.attachDrop(container);
    this.relabel();
  }

  /** The line saying which network suits a dataset of many inputs (and a button to use it). */
  buildSuggest() {
    this.suggestText = h('span');
    this.suggestBtn = h('button', { type: 'button', class: 'btn btn-small ctl-suggest-use',
      on: { click: () => this.useSuggested() } });
    this.suggestLine = h('p', { class: 'hint ctl-suggest', 'aria-live': 'polite', dataset: { testid: 'net-suggest' } },
      this.suggestText, ' ', this.suggestBtn);
    this.suggestLine.hidden = true;
    return this.suggestLine;
  }

  select(name, options, onChange) {
    const sel = h('select', { id: `ctl-${name}`, on: { change: onChange } });
    for (const [value, text, key] of options) {
      const o = h('option', { value }, text ?? '');
      if (key) this.optionLabels.push([o, key]);
      sel.append(o);
    }
    return sel;
  }

  field(name, key, input) {
    return h('div', { class: 'field' }, h('label', { for: input.id, dataset: { i18n: key } }), input);
  }

  advancedField(path, kind, spec, key) {
    const id = `adv-${path.replace('.', '-')}`;
    let input;
    if (kind === 'select') {
      input = this.select(id.slice(4), options(this.i18n, 'choice', spec), () => this.change(path, input.value));
    } else if (kind === 'layers') {
      // filled by syncLayerMenus: one menu per hidden layer
      input = h('div', { class: 'layer-acts', role: 'group' });
      input.choices = spec;
    } else if (kind === 'bool' || kind === 'optbool') {
      input = h('input', { type: 'checkbox', id, on: { change: () => this.change(path, input.checked ? true : (kind === 'bool' ? false : null)) } });
    } else {
      input = h('input', { type: 'number', id, min: spec.min, max: spec.max, step: spec.step ?? 1, inputmode: 'decimal',
        on: { change: () => {
          if (input.value === '' && kind === 'opt') this.change(path, null);
          else if (input.value !== '' && input.checkValidity()) this.change(path, Number(input.value));
        } } });
      if (kind === 'opt') input.dataset.i18nPlaceholder = 'adv.default';
    }
    input.id = id;
    // a name i18n.js has no label for shows as itself
    const text = this.i18n.has(key) ? { dataset: { i18n: key } } : {};
    const name = h(kind === 'layers' ? 'span' : 'label', kind === 'layers' ? { id: `${id}-label`, ...text } : { for: id, ...text },
      this.i18n.has(key) ? null : path.split('.').pop());
    if (kind === 'layers') input.setAttribute('aria-labelledby', `${id}-label`);
    const wrap = h('div', { class: kind.endsWith('bool') ? 'field check-field' : 'field' }, name, input);
    this.advInputs.set(path, [input, kind, wrap]);
    return wrap;
  }

  /** Follow the run: sync inputs on `run`, the play button on `state`, text on `lang`;
   * `follow-mode` locks or unlocks every control. */
  update({ kind, model, msg }) {
    if (kind === 'run') {
      if (this.pending > 1) { // a run for an earlier change: the fields keep the later ones
        this.pending -= 1;
        this.config = model.config;
      } else this.sync(model.config);
      this.syncState(model.state);
      this.csv.clear();
    } else if (kind === 'timeline' && msg.settings && model.config) {
      // a `set` from the timeline changed the rate (or more) from here on: the fields say so
      const now = JSON.stringify(msg.settings);
      if (now !== this.settingsSeen) this.sync(model.config);
      this.settingsSeen = now;
    } else if (kind === 'state') this.syncState(model.state);
    else if (kind === 'lang') this.relabel();
    else if (kind === 'error') {
      if (this.asked && model.config && (this.pending -= 1) <= 0) this.sync(model.config); // (the run's)
      if (msg.code === 'csv') { // (its words load with the later ones)
        this.i18n.need('later').catch(() => {}).then(() => this.csv.failed(msg));
      }
    } else if (kind === 'follow-mode') this.lock.disabled = msg.readOnly;
    else if (kind === 'lesson_step') this.inLesson = Boolean(msg.id);
    else if (kind === 'present') this.allBtn.setAttribute('aria-pressed', String(Boolean(msg.all)));
  }

  relabel() {
    this.i18n.apply(this.container);
    for (const [o, key] of this.optionLabels) o.textContent = this.i18n.t(key);
    for (const b of this.container.querySelectorAll('[data-key-hint]')) {
      const hint = b.dataset.keyHint === 'Space' ? this.i18n.t('key.space') : b.dataset.keyHint;
      b.title = `${b.textContent} (${hint})`;
    }
    this.syncPlayLabel();
    this.csv.relabel();
    this.renderSuggest();
  }

  sync(config) {
    this.config = config;
    this.asked = null; // (the last change's run came, or it was refused or cancelled)
    this.pending = 0;
    const sg = this.suggested;
    if (sg) {
      // said while it is true: the dataset it was for, and (once applied) that network
      const same = String(config.hidden) === String(sg.hidden);
      if (config.dataset !== sg.dataset || (sg.applied && !same)) this.suggested = null;
      else if (same) sg.applied = true;
      this.renderSuggest();
    }
    // Never overwrite the field the user is editing right now.
    const put = (el, value) => {
      if (el !== document.activeElement) el.value = value;
    };
    put(this.dataset, config.dataset);
    put(this.layers, String(config.hidden.length));
    // (a dataset's own network, digits' 32, may be wider than the field's usual range)
    this.neurons.max = String(this.maxNeurons(config.dataset));
    put(this.neurons, String(config.hidden[0] ?? 4));
    this.neurons.disabled = config.hidden.length === 0;
    put(this.activation, config.activation);
    this.ensureOption(this.lr, String(config.lr));
    put(this.lr, String(config.lr));
    for (const [path, [input, kind, wrap]] of this.advInputs) {
      wrap.hidden = !relevant(path, config, this.catalog);
      const v = getPath(config, path);
      if (kind === 'bool' || kind === 'optbool') input.checked = Boolean(v);
      else if (kind === 'layers') this.syncLayerMenus(input, config);
      else put(input, v === null || v === undefined ? '' : String(v));
    }
    for (const b of this.featureBoxes) b.checked = config.features.includes(b.value);
    this.featureBoxes[0].closest('fieldset').hidden = !relevant('features', config, this.catalog);
  }

  /** One activation menu per hidden layer, showing config.layer_activations or the common one. */
  syncLayerMenus(box, config) {
    const n = config.hidden.length;
    if (box.children.length !== n) {
      box.replaceChildren(...Array.from({ length: n }, (_, l) => {
        const sel = h('select', { id: `adv-act-${l + 1}`, on: { change: () => {
          const picked = [...box.querySelectorAll('select')].map((s) => s.value);
          this.change('layer_activations', picked.every((a) => a === this.config.activation) ? [] : picked);
        } } }, box.choices.map((a) => {
          const key = labelKey('choice', a);
          return h('option', { value: a, dataset: this.i18n.has(key) ? { i18n: key } : null }, label(this.i18n, 'choice', a));
        }));
        return h('div', { class: 'layer-act' }, h('label', { for: sel.id }, `L${l + 1}`), sel);
      }));
    }
    [...box.querySelectorAll('select')].forEach((sel, l) => {
      if (sel !== document.activeElement) sel.value = (config.layer_activations || [])[l] || config.activation;
    });
  }

  ensureOption(sel, value) {
    if (![...sel.options].some((o) => o.value === value)) sel.append(h('option', { value }, value));
  }

  syncState(state) {
    this.playing = Boolean(state.playing);
    this.playBtn.setAttribute('aria-pressed', String(this.playing));
    this.syncPlayLabel();
    // playing: the speed it plays at; paused: the one the next Play will use
    const sp = String(this.playing ? state.speed : this.chosenSpeed);
    this.ensureOption(this.speed, sp);
    if (document.activeElement !== this.speed) this.speed.value = sp;
  }

  syncPlayLabel() {
    const key = this.playing ? 'ctl.pause' : 'ctl.play';
    this.playBtn.dataset.i18n = key;
    this.playBtn.textContent = this.i18n.t(key);
    this.playBtn.title = `${this.playBtn.textContent} (${this.i18n.t('key.space')})`;
  }

  /** Send a whole new config with `path` set to `value`. */
  change(path, value) {
    if (!this.config) return;
    // on top of a change asked for whose run has not come yet (two menus changed in quick
    // succession: the second was made from the run before the first, which it undid)
    const cfg = withoutTable(this.asked || this.config);
    setPath(cfg, path, value);
    if (path === 'optimizer.name') {
      // keep only what the new optimizer takes (torch.optim refuses the others)
      const takes = this.catalog.optimizerParams(value).map((p) => p.name);
      for (const k of Object.keys(cfg.optimizer)) if (k !== 'name' && !takes.includes(k)) delete cfg.optimizer[k];
    }
    if (path === 'activation') cfg.layer_activations = [];
    if (path === 'layer_activations' && value.length) cfg.layer_activations = value.slice(0, cfg.hidden.length);
    this.asked = { ...cfg, table: this.config.table };
    this.pending = (this.pending || 0) + 1; // (runs still to come for the changes asked)
    this.act('configure', cfg);
  }

  /** "My points" without points yet opens the map's add-points mode instead of starting a run. */
  pickDataset() {
    const name = this.dataset.value;
    if (name === 'own' && !(this.config && this.config.table)) {
      // no table yet: pick a file (the run changes when the server has read it)
      if (this.config) this.dataset.value = this.config.dataset;
      this.csv.open();
      return;
    }
    if (name === 'custom' && !(this.config && this.config.points && this.config.points.length >= 2)) {
      if (this.config) this.dataset.value = this.config.dataset;
      this.act('add-points');
      return;
    }
    // many inputs (digits' 64) learn poorly on the default 4 + 4: the network that suits
    // them is applied over the default one, and suggested over one someone chose
    const entry = this.catalog.entry('datasets', name);
    const fit = entry && entry.hidden && entry.hidden.length ? entry.hidden : null;
    // and leaving such a dataset for one without, its network goes with it (iris on
    // digits' 32 neurons: more than the field allows, drawn on top of each other)
    const was = this.config && this.catalog.entry('datasets', this.config.dataset);
    const setting = this.catalog.setting('hidden');
    if (!fit && was && was.hidden && String(was.hidden) === String(this.config.hidden) && setting) {
      this.suggested = null;
      this.renderSuggest();
      const cfg = withoutTable(this.config);
      cfg.dataset = name;
      cfg.hidden = setting.default.slice();
      cfg.layer_activations = [];
      this.act('configure', cfg);
      return;
    }
    this.suggested = null;
    if (fit && this.config && String(this.config.hidden) !== String(fit)) {
      const chosen = this.inLesson || !setting || String(this.config.hidden) !== String(setting.default);
      this.suggested = { dataset: name, hidden: fit.slice(), from: this.config.hidden.slice(), applied: !chosen };
      this.renderSuggest();
      if (!chosen) {
        const cfg = withoutTable(this.config);
        cfg.dataset = name;
        cfg.hidden = fit.slice();
        cfg.layer_activations = [];
        this.act('configure', cfg);
        return;
      }
    } else this.renderSuggest();
    this.change('dataset', name);
  }

  /** "Use 32": the suggested network, on the run's dataset. */
  useSuggested() {
    const sg = this.suggested;
    if (!sg || !this.config) return;
    const cfg = withoutTable(this.config);
    cfg.hidden = sg.hidden.slice();
    cfg.layer_activations = [];
    this.act('configure', cfg);
  }

  /** The suggestion's line, in the page's language (hidden when there is none). */
  renderSuggest() {
    const sg = this.suggested;
    this.suggestLine.hidden = !sg;
    if (!sg) return;
    const t = (k, p) => this.i18n.t(k, p);
    const entry = this.catalog.entry('datasets', sg.dataset);
    const vars = { dataset: label(this.i18n, 'dataset', sg.dataset), inputs: entry ? entry.dims : '?',
      hidden: sg.hidden.join(' + '), from: sg.from.join(' + ') || '0' };
    this.suggestText.textContent = t(sg.applied ? 'ctl.suggestApplied' : 'ctl.suggest', vars);
    this.suggestBtn.hidden = sg.applied;
    this.suggestBtn.textContent = t('ctl.suggestUse', vars);
  }

  /** The neurons field's largest value on `dataset`: the usual one, or its own network's. */
  maxNeurons(dataset) {
    const entry = this.catalog.entry('datasets', dataset);
    return Math.max(MAX_NEURONS, ...((entry && entry.hidden) || []));
  }

  changeHidden() {
    const nl = Math.max(0, Math.min(MAX_LAYERS, Math.round(Number(this.layers.value) || 0)));
    const most = this.maxNeurons(this.config ? this.config.dataset : '');
    const nn = Math.max(1, Math.min(most, Math.round(Number(this.neurons.value) || 1)));
    // the fields say what is built (typing 12 layers builds MAX_LAYERS)
    this.layers.value = String(nl);
    this.neurons.value = String(nn);
    if (!this.config) return;
    const cfg = withoutTable(this.config);
    cfg.hidden = Array(nl).fill(nn);
    cfg.layer_activations = [];
    this.act('configure', cfg);
  }

  changeFeatures() {
    const picked = this.featureBoxes.filter((b) => b.checked).map((b) => b.value);
    if (picked.length) this.change('features', picked);
  }
}
