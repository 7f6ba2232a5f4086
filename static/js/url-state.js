/**
 * Shareable state: the run's settings (seed included) in the page's URL.
 *
 * One declarative table, {@link PROPS}, lists every RunSettings field (see
 * server/protocol.py) with its query-string name and type, as TensorFlow
 * Playground's state.ts does. Opening a link decodes the table back into the
 * settings the server validates, so the same link gives the same run and,
 * because the engine is deterministic, the same numbers. Numbers are written
 * with JavaScript's shortest round-trip form, so a float survives the trip
 * bit for bit.
 *
 * The module has no state and touches no DOM except the optional
 * {@link writeUrl}, which takes the History and Location objects it changes.
 */

import { getPath, setPath } from './paths.js';

/** @typedef {'int'|'float'|'bool'|'enum'|'ints'|'enums'|'points'} PropType */

/**
 * Every RunSettings field: `name` in the query string, `path` in the settings
 * object (dots for nested models), `type`.
 * @type {ReadonlyArray<{name: string, path: string, type: PropType}>}
 */
export const PROPS = Object.freeze([
  { name: 'dataset', path: 'dataset', type: 'enum' },
  { name: 'n', path: 'n_samples', type: 'int' },
  { name: 'noise', path: 'noise', type: 'float' },
  { name: 'test', path: 'test_fraction', type: 'float' },
  { name: 'features', path: 'features', type: 'enums' },
  { name: 'points', path: 'points', type: 'points' },
  { name: 'hidden', path: 'hidden', type: 'ints' },
  { name: 'act', path: 'activation', type: 'enum' },
  { name: 'acts', path: 'layer_activations', type: 'enums' },
  { name: 'alpha', path: 'alpha', type: 'float' },
  { name: 'out', path: 'output_activation', type: 'enum' },
  { name: 'loss', path: 'loss', type: 'enum' },
  { name: 'init', path: 'init', type: 'enum' },
  { name: 'init_scale', path: 'init_scale', type: 'float' },
  { name: 'norm', path: 'norm', type: 'enum' },
  { name: 'dropout', path: 'dropout', type: 'float' },
  { name: 'residual', path: 'residual', type: 'bool' },
  { name: 'opt', path: 'optimizer.name', type: 'enum' },
  { name: 'momentum', path: 'optimizer.momentum', type: 'float' },
  { name: 'dampening', path: 'optimizer.dampening', type: 'float' },
  { name: 'nesterov', path: 'optimizer.nesterov', type: 'bool' },
  { name: 'wd', path: 'optimizer.weight_decay', type: 'float' },
  { name: 'rms_alpha', path: 'optimizer.alpha', type: 'float' },
  { name: 'centered', path: 'optimizer.centered', type: 'bool' },
  { name: 'eps', path: 'optimizer.eps', type: 'float' },
  { name: 'beta1', path: 'optimizer.beta1', type: 'float' },
  { name: 'beta2', path: 'optimizer.beta2', type: 'float' },
  { name: 'lr_decay', path: 'optimizer.lr_decay', type: 'float' },
  { name: 'acc0', path: 'optimizer.initial_accumulator_value', type: 'float' },
  { name: 'lr', path: 'lr', type: 'float' },
  { name: 'sched', path: 'schedule.name', type: 'enum' },
  { name: 'step_size', path: 'schedule.step_size', type: 'int' },
  { name: 'gamma', path: 'schedule.gamma', type: 'float' },
  { name: 't_max', path: 'schedule.t_max', type: 'int' },
  { name: 'eta_min', path: 'schedule.eta_min', type: 'float' },
  { name: 'warmup', path: 'schedule.warmup', type: 'int' },
  { name: 'warmup_start', path: 'schedule.warmup_start', type: 'float' },
  { name: 'clip_norm', path: 'clip_norm', type: 'float' },
  { name: 'clip_value', path: 'clip_value', type: 'float' },
  { name: 'l1', path: 'l1', type: 'float' },
  { name: 'l2', path: 'l2', type: 'float' },
  { name: 'batch', path: 'batch_size', type: 'int' },
  { name: 'seed', path: 'seed', type: 'int' },
]);

function encodeValue(type, v) {
  switch (type) {
    case 'bool': return v ? '1' : '0';
    case 'ints': case 'enums': return v.join(',');
    case 'points': return v.map((p) => p.join(':')).join(';');
    default: return String(v);
  }
}

function parseNumber(s, integer) {
  if (s.trim() === '') throw new Error('empty');
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${s}`);
  if (integer && !Number.isInteger(n)) throw new Error(`not an integer: ${s}`);
  return n;
}

function decodeValue(type, s) {
  switch (type) {
    case 'int': return parseNumber(s, true);
    case 'float': return parseNumber(s, false);
    case 'bool':
      if (s === '1' || s === 'true') return true;
      if (s === '0' || s === 'false') return false;
      throw new Error(`not 0 or 1: ${s}`);
    case 'ints': return s === '' ? [] : s.split(',').map((x) => parseNumber(x, true));
    case 'enums': return s === '' ? [] : s.split(',');
    case 'points':
      return s === '' ? [] : s.split(';').map((p) => {
        const [a, b, c] = p.split(':');
        return [parseNumber(a, false), parseNumber(b, false), parseNumber(c, true)];
      });
    default: return s;
  }
}

/**
 * The query string (without '?') for `settings` (a RunSettings object as the
 * server sends it in `run.config`). Unset optional fields (null) and empty
 * custom points are left out; everything else is written, so the link does
 * not depend on the server's defaults.
 * @param {object} settings
 * @returns {string}
 */
export function encodeSettings(settings) {
  const q = new URLSearchParams();
  for (const p of PROPS) {
    const v = getPath(settings, p.path);
    if (v === undefined || v === null) continue;
    if (p.type === 'points' && v.length === 0) continue;
    q.set(p.name, encodeValue(p.type, v));
  }
  return q.toString();
}

/**
 * Settings named in a query string, nested as RunSettings, plus the names that
 * could not be read (the server validates the rest and names any bad field).
 * @param {string} search e.g. location.search
 * @returns {{settings: object, errors: string[], count: number}}
 */
export function decodeSettings(search) {
  const q = new URLSearchParams(search);
  const settings = {};
  const errors = [];
  let count = 0;
  for (const p of PROPS) {
    if (!q.has(p.name)) continue;
    try {
      setPath(settings, p.path, decodeValue(p.type, q.get(p.name)));
      count += 1;
    } catch (e) {
      errors.push(`${p.name}: ${e.message}`);
    }
  }
  return { settings, errors, count };
}

/**
 * `base` (full settings) with `partial` laid over it, nested models merged.
 * @param {object} base
 * @param {object} partial
 * @returns {object}
 */
export function mergeSettings(base, partial) {
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(partial)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object') {
      out[k] = { ...out[k], ...v };
    } else {
      out[k] = v;
    }
  }
  return out;
}

/**
 * The page's URL with the settings in its query (other parameters kept).
 * @param {object} settings
 * @param {Location|URL} location
 * @returns {string}
 */
export function shareUrl(settings, location) {
  const url = new URL(location.href);
  const keep = new URLSearchParams(url.search);
  for (const p of PROPS) keep.delete(p.name);
  const own = encodeSettings(settings);
  const rest = keep.toString();
  url.search = rest ? `${own}&${rest}` : own;
  return url.toString();
}

/**
 * Replace the current history entry's URL with one carrying `settings`
 * (no reload, no new history entry).
 * @param {object} settings
 * @param {History} history
 * @param {Location} location
 */
export function writeUrl(settings, history, location) {
  const href = shareUrl(settings, location);
  if (href !== location.href) history.replaceState(history.state, '', href);
}

/** sessionStorage key of the query this tab last wrote. */
const WRITTEN_KEY = 'bpl.urlQuery';

/**
 * Keeps the address bar and the run in step: a link's settings configure the
 * first run the page receives (once), and every later run writes its settings
 * back into the URL, so the address is always a link that reproduces the run.
 * A reload of the tab's own address resumes its session instead (the run may
 * have moved on, e.g. a learning rate changed mid-run). main.js feeds it every
 * `run` message.
 */
export class UrlSync {
  /**
   * @param {{location: Location, history: History, send: (msg: object) => void, storage?: Storage}} env
   */
  constructor({ location, history, send, storage }) {
    this.location = location;
    this.history = history;
    this.send = send;
    this.storage = storage || null;
    this.fromLink = decodeSettings(location.search);
    const own = this.read() === location.search.replace(/^\?/, '');
    this.done = this.fromLink.count === 0 || own;
  }

  read() {
    try {
      return this.storage ? this.storage.getItem(WRITTEN_KEY) : null;
    } catch {
      return null;
    }
  }

  remember(query) {
    try {
      if (this.storage) this.storage.setItem(WRITTEN_KEY, query);
    } catch {
      /* private mode: a reload then re-applies the link, which is the same run */
    }
  }

  /** A `run` message arrived: apply the link once, else record the run in the URL. */
  onRun(msg) {
    if (!this.done) {
      this.done = true;
      const want = mergeSettings(msg.config, this.fromLink.settings);
      if (encodeSettings(want) !== encodeSettings(msg.config)) {
        this.send({ type: 'configure', config: want });
        return;
      }
    }
    writeUrl(msg.config, this.history, this.location);
    this.remember(this.location.search.replace(/^\?/, ''));
  }
}
