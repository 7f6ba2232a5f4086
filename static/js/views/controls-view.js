/**
 * The control panel: run buttons (step phase, step iteration, play/pause,
 * reset, speed), the main network settings (dataset, hidden layers, neurons,
 * activation, learning rate) and a compact "advanced" section covering the
 * rest of RunSettings. It never talks to the server: it calls
 * `act(name, arg)` and main.js turns that into messages. Settings are always
 * sent as a whole RunSettings built from the run's current config. While the
 * page follows a class's run (read-only) every control is disabled at once by
 * the fieldset around them; the advanced section still unfolds, to read.
 */

import { h } from '../dom.js';
import { getPath, setPath } from '../paths.js';

/** Speeds offered, in iterations per second (≤ 4 shows every phase). */
export const SPEEDS = Object.freeze([0.25, 0.5, 1, 2, 4, 10, 30, 100, 300]);
const DATASETS = Object.freeze(['xor', 'circle', 'gauss', 'spiral', 'moons', 'blobs3', 'blobs4', 'blobs5',
  'spiral3', 'spiral4', 'spiral5', 'sine', 'plane', 'single', 'custom']);
const ACTIVATIONS = Object.freeze(['sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'gelu', 'swish', 'softplus', 'linear']);
const LRS = Object.freeze([0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3]);
const FEATURES = Object.freeze(['x1', 'x2', 'x1^2', 'x2^2', 'x1x2', 'sin_x1', 'sin_x2']);
/** How each input feature is written on the page. */
const FEATURE_TEXT = Object.freeze({ x1: 'x₁', x2: 'x₂', 'x1^2': 'x₁²', 'x2^2': 'x₂²', x1x2: 'x₁x₂', sin_x1: 'sin x₁', sin_x2: 'sin x₂' });
const MAX_LAYERS = 8;
const MAX_NEURONS = 16;

/**
 * The advanced section: every RunSettings field the main controls do not
 * cover, in groups; one row per field: [path, kind, choices or limits].
 * Kinds: int, num, select, bool, layers (one activation menu per hidden layer), and opt/optbool for
 * optimizer fields that may be left empty to take torch.optim's default.
 * The label is `adv.<path>` (or `adv.optimizer` / `adv.schedule` for `.name`).
 */
export const ADVANCED = Object.freeze([
  ['adv.group.data', [
    ['n_samples', 'int', { min: 4, max: 2000 }],
    ['noise', 'num', { min: 0, max: 5, step: 0.05 }],
    ['test_fraction', 'num', { min: 0, max: 0.9, step: 0.05 }],
    ['batch_size', 'int', { min: 0, max: 512 }],
    ['seed', 'int', { min: 0, max: 4294967295 }],
  ]],
  ['adv.group.network', [
    ['layer_activations', 'layers', ACTIVATIONS],
    ['output_activation', 'select', ACTIVATIONS],
    ['loss', 'select', ['auto', 'mse', 'bce', 'cross_entropy']],
    ['init', 'select', ['zeros', 'constant', 'uniform', 'normal', 'xavier_uniform', 'xavier_normal',
      'he_uniform', 'he_normal', 'lecun_uniform', 'lecun_normal']],
    ['init_scale', 'num', { min: 0, max: 100, step: 0.1 }],
    ['norm', 'select', ['none', 'batch', 'layer']],
    ['dropout', 'num', { min: 0, max: 0.9, step: 0.05 }],
    ['residual', 'bool'],
    ['alpha', 'opt', { min: 0, max: 10, step: 0.01 }],
  ]],
  ['adv.group.optimizer', [
    ['optimizer.name', 'select', ['sgd', 'rmsprop', 'adagrad', 'adam', 'adamw']],
    ['optimizer.momentum', 'opt', { min: 0, max: 0.999, step: 0.05 }],
    ['optimizer.dampening', 'opt', { min: 0, max: 1, step: 0.05 }],
    ['optimizer.nesterov', 'optbool'],
    ['optimizer.weight_decay', 'opt', { min: 0, max: 1, step: 0.001 }],
    ['optimizer.alpha', 'opt', { min: 0.001, max: 0.999, step: 0.01 }],
    ['optimizer.centered', 'optbool'],
    ['optimizer.eps', 'opt', { min: 1e-12, max: 1, step: 'any' }],
    ['optimizer.beta1', 'opt', { min: 0, max: 0.999, step: 0.01 }],
    ['optimizer.beta2', 'opt', { min: 0, max: 0.9999, step: 0.001 }],
    ['optimizer.lr_decay', 'opt', { min: 0, max: 10, step: 'any' }],
    ['optimizer.initial_accumulator_value', 'opt', { min: 0, max: 10, step: 'any' }],
  ]],
  ['adv.group.schedule', [
    ['schedule.name', 'select', ['constant', 'step', 'exponential', 'cosine']],
    ['schedule.step_size', 'int', { min: 1, max: 1000000 }],
    ['schedule.gamma', 'num', { min: 0.001, max: 1, step: 0.01 }],
    ['schedule.t_max', 'int', { min: 1, max: 10000000 }],
    ['schedule.eta_min', 'num', { min: 0, max: 100, step: 'any' }],
    ['schedule.warmup', 'int', { min: 0, max: 1000000 }],
    ['schedule.warmup_start', 'num', { min: 0, max: 1, step: 0.05 }],
  ]],
  ['adv.group.regularization', [
    ['clip_norm', 'num', { min: 0, max: 100, step: 0.1 }],
    ['clip_value', 'num', { min: 0, max: 100, step: 0.1 }],
    ['l1', 'num', { min: 0, max: 10, step: 0.0001 }],
    ['l2', 'num', { min: 0, max: 10, step: 0.0001 }],
  ]],
]);

/** The hyper-parameters each optimizer takes (torch.optim's); the fields each schedule reads. */
export const OPTIMIZER_PARAMS = Object.freeze({
  sgd: ['momentum', 'dampening', 'nesterov', 'weight_decay'],
  rmsprop: ['alpha', 'eps', 'weight_decay', 'momentum', 'centered'],
  adagrad: ['lr_decay', 'weight_decay', 'initial_accumulator_value', 'eps'],
  adam: ['beta1', 'beta2', 'eps', 'weight_decay'],
  adamw: ['beta1', 'beta2', 'eps', 'weight_decay'],
});
const SCHEDULE_FIELDS = { step: ['step_size', 'gamma'], exponential: ['gamma'], cosine: ['t_max', 'eta_min'] };
const REGRESSION = ['sine', 'plane', 'single'];

/** Whether the advanced field at `path` does anything under `config` (others are hidden). */
export function relevant(path, config) {
  const [head, key] = path.split('.');
  if (head === 'optimizer' && key !== 'name') return (OPTIMIZER_PARAMS[config.optimizer.name] || []).includes(key);
  if (head === 'schedule' && key !== 'name' && key !== 'warmup') {
    if (key === 'warmup_start') return config.schedule.warmup > 0;
    return (SCHEDULE_FIELDS[config.schedule.name] || []).includes(key);
  }
  if (path === 'alpha') {
    const hidden = config.hidden.length ? (config.layer_activations && config.layer_activations.length
      ? config.layer_activations : [config.activation]) : [];
    const used = relevant('output_activation', config) ? [...hidden, config.output_activation] : hidden;
    return used.some((a) => a === 'leaky_relu' || a === 'elu');
  }
  if (path === 'output_activation') return config.loss === 'mse' || (config.loss === 'auto' && REGRESSION.includes(config.dataset));
  return true;
}

const fieldKey = (path) => `adv.${path.endsWith('.name') ? path.split('.')[0] : path}`;

/** Control panel view. */
export class ControlsView {
  /**
   * @param {HTMLElement} container the "controls" slot
   * @param {{i18n: object, act: (name: string, arg?: any) => void}} options
   */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.act = act;
    this.config = null;
    this.container = container;
    this.optionLabels = [];

    const btn = (action, key, keyHint) => h('button', {
      type: 'button', class: `btn btn-${action}`, dataset: { action, i18n: key, keyHint },
      on: { click: () => this.act(action) },
    });
    this.playBtn = btn('toggle-play', 'ctl.play', 'Space');
    this.playBtn.setAttribute('aria-pressed', 'false');
    this.speed = this.select('speed', SPEEDS.map((s) => [String(s), `${s}`]), () => this.act('speed', Number(this.speed.value)));
    this.speed.value = '2';

    const runSection = h('section', { class: 'ctl-group ctl-run', 'aria-labelledby': 'ctl-run-h' },
      h('h2', { id: 'ctl-run-h', class: 'ctl-h', dataset: { i18n: 'section.run' } }),
      h('div', { class: 'btn-row' },
        btn('step-phase', 'ctl.stepPhase', '→'),
        btn('step-iteration', 'ctl.stepIteration', '.'),
        this.playBtn,
        btn('reset', 'ctl.reset', 'R')),
      this.field('speed', 'ctl.speed', this.speed));

    this.dataset = this.select('dataset', DATASETS.map((d) => [d, null, `ds.${d}`]), () => this.pickDataset());
    this.layers = h('input', { type: 'number', id: 'ctl-layers', min: 0, max: MAX_LAYERS, step: 1, inputmode: 'numeric',
      on: { change: () => this.changeHidden() } });
    this.neurons = h('input', { type: 'number', id: 'ctl-neurons', min: 1, max: MAX_NEURONS, step: 1, inputmode: 'numeric',
      on: { change: () => this.changeHidden() } });
    this.activation = this.select('activation', ACTIVATIONS.map((a) => [a, a]), () => this.change('activation', this.activation.value));
    this.lr = this.select('lr', LRS.map((v) => [String(v), String(v)]), () => this.change('lr', Number(this.lr.value)));

    const netSection = h('section', { class: 'ctl-group ctl-net', 'aria-labelledby': 'ctl-net-h' },
      h('h2', { id: 'ctl-net-h', class: 'ctl-h', dataset: { i18n: 'section.network' } }),
      this.field('dataset', 'ctl.dataset', this.dataset),
      h('div', { class: 'field-pair' },
        this.field('layers', 'ctl.layers', this.layers),
        this.field('neurons', 'ctl.neurons', this.neurons)),
      h('div', { class: 'field-pair' },
        this.field('activation', 'ctl.activation', this.activation),
        this.field('lr', 'ctl.lr', this.lr)),
      h('p', { class: 'hint', dataset: { i18n: 'ctl.applied' } }));

    this.advInputs = new Map();
    const advGroups = ADVANCED.map(([groupKey, rows]) => h('fieldset', { class: 'adv-group' },
      h('legend', { dataset: { i18n: groupKey } }),
      rows.map(([path, kind, spec]) => this.advancedField(path, kind, spec))));
    this.featureBoxes = FEATURES.map((f) => h('input', { type: 'checkbox', value: f, on: { change: () => this.changeFeatures() } }));
    const featureSet = h('fieldset', { class: 'features' },
      h('legend', { dataset: { i18n: 'adv.features' } }),
      this.featureBoxes.map((b) => h('label', { class: 'check' }, b, ` ${FEATURE_TEXT[b.value]}`)));
    const adv = h('details', { class: 'ctl-group ctl-adv' },
      h('summary', { dataset: { i18n: 'section.advanced' } }),
      h('div', { class: 'adv-grid' }, advGroups, featureSet));

    this.lock = h('fieldset', { class: 'ctl-lock' }, runSection, netSection, adv);
    container.append(this.lock);
    this.relabel();
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

  advancedField(path, kind, spec) {
    const id = `adv-${path.replace('.', '-')}`;
    let input;
    if (kind === 'select') {
      input = this.select(id.slice(4), spec.map((v) => {
        const key = `opt.${v}`;
        return this.i18n.has(key) ? [v, null, key] : [v, v];
      }), () => this.change(path, input.value));
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
    const label = h(kind === 'layers' ? 'span' : 'label', kind === 'layers' ? { id: `${id}-label`, dataset: { i18n: fieldKey(path) } }
      : { for: id, dataset: { i18n: fieldKey(path) } });
    if (kind === 'layers') input.setAttribute('aria-labelledby', `${id}-label`);
    const wrap = h('div', { class: kind.endsWith('bool') ? 'field check-field' : 'field' }, label, input);
    this.advInputs.set(path, [input, kind, wrap]);
    return wrap;
  }

  /** Follow the run: sync inputs on `run`, the play button on `state`, text on `lang`;
   * `follow-mode` locks or unlocks every control. */
  update({ kind, model, msg }) {
    if (kind === 'run') {
      this.sync(model.config);
      this.syncState(model.state);
    } else if (kind === 'state') this.syncState(model.state);
    else if (kind === 'lang') this.relabel();
    else if (kind === 'follow-mode') this.lock.disabled = msg.readOnly;
  }

  relabel() {
    this.i18n.apply(this.container);
    for (const [o, key] of this.optionLabels) o.textContent = this.i18n.t(key);
    for (const b of this.container.querySelectorAll('[data-key-hint]')) {
      const hint = b.dataset.keyHint === 'Space' ? this.i18n.t('key.space') : b.dataset.keyHint;
      b.title = `${b.textContent} (${hint})`;
    }
    this.syncPlayLabel();
  }

  sync(config) {
    this.config = config;
    // Never overwrite the field the user is editing right now.
    const put = (el, value) => {
      if (el !== document.activeElement) el.value = value;
    };
    put(this.dataset, config.dataset);
    put(this.layers, String(config.hidden.length));
    put(this.neurons, String(config.hidden[0] ?? 4));
    this.neurons.disabled = config.hidden.length === 0;
    put(this.activation, config.activation);
    this.ensureOption(this.lr, String(config.lr));
    put(this.lr, String(config.lr));
    for (const [path, [input, kind, wrap]] of this.advInputs) {
      wrap.hidden = !relevant(path, config);
      const v = getPath(config, path);
      if (kind === 'bool' || kind === 'optbool') input.checked = Boolean(v);
      else if (kind === 'layers') this.syncLayerMenus(input, config);
      else put(input, v === null || v === undefined ? '' : String(v));
    }
    for (const b of this.featureBoxes) b.checked = config.features.includes(b.value);
  }

  /** One activation menu per hidden layer, showing config.layer_activations or the common one. */
  syncLayerMenus(box, config) {
    const n = config.hidden.length;
    if (box.children.length !== n) {
      box.replaceChildren(...Array.from({ length: n }, (_, l) => {
        const sel = h('select', { id: `adv-act-${l + 1}`, on: { change: () => {
          const picked = [...box.querySelectorAll('select')].map((s) => s.value);
          this.change('layer_activations', picked.every((a) => a === this.config.activation) ? [] : picked);
        } } }, box.choices.map((a) => h('option', { value: a }, a)));
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
    const sp = String(state.speed);
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
    const cfg = structuredClone(this.config);
    setPath(cfg, path, value);
    if (path === 'optimizer.name') {
      // keep only what the new optimizer takes (torch.optim refuses the others)
      const takes = OPTIMIZER_PARAMS[value] || [];
      for (const k of Object.keys(cfg.optimizer)) if (k !== 'name' && !takes.includes(k)) delete cfg.optimizer[k];
    }
    if (path === 'activation') cfg.layer_activations = [];
    if (path === 'layer_activations' && value.length) cfg.layer_activations = value.slice(0, cfg.hidden.length);
    this.act('configure', cfg);
  }

  /** "My points" without points yet opens the map's add-points mode instead of starting a run. */
  pickDataset() {
    const name = this.dataset.value;
    if (name === 'custom' && !(this.config && this.config.points && this.config.points.length >= 2)) {
      if (this.config) this.dataset.value = this.config.dataset;
      this.act('add-points');
      return;
    }
    this.change('dataset', name);
  }

  changeHidden() {
    const nl = Math.max(0, Math.min(MAX_LAYERS, Math.round(Number(this.layers.value) || 0)));
    const nn = Math.max(1, Math.min(MAX_NEURONS, Math.round(Number(this.neurons.value) || 1)));
    // the fields say what is built (typing 12 layers builds MAX_LAYERS)
    this.layers.value = String(nl);
    this.neurons.value = String(nn);
    if (!this.config) return;
    const cfg = structuredClone(this.config);
    cfg.hidden = Array(nl).fill(nn);
    cfg.layer_activations = [];
    this.act('configure', cfg);
  }

  changeFeatures() {
    const picked = this.featureBoxes.filter((b) => b.checked).map((b) => b.value);
    if (picked.length) this.change('features', picked);
  }
}
