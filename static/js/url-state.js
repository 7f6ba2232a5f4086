/**
 * Shareable state: the run's settings (seed included) in the page's URL.
 *
 * One declarative table, built by {@link urlProps} from the catalog (catalog.js:
 * every run setting, every optimizer's hyper-parameters, every schedule
 * parameter, with their types), lists each RunSettings field with its
 * query-string name and type, as TensorFlow Playground's state.ts does. Opening
 * a link decodes the table back into the settings the server validates, so the
 * same link gives the same run and, because the engine is deterministic, the
 * same numbers. Numbers are written with JavaScript's shortest round-trip form,
 * so a float survives the trip bit for bit.
 *
 * The module has no state and touches no DOM except the optional
 * {@link writeUrl}, which takes the History and Location objects it changes.
 */

import { getPath, setPath } from './paths.js';

/** @typedef {'int'|'float'|'bool'|'enum'|'ints'|'enums'|'points'} PropType */
/** @typedef {{name: string, path: string, type: PropType}} Prop */

/**
 * Query names that differ from the field's own path: short ones, kept so that
 * older links still open. Every other field is written under its own name
 * (`optimizer_<name>` / `schedule_<name>` where that name is taken).
 */
const QUERY_NAMES = Object.freeze({
  n_samples: 'n', test_fraction: 'test', activation: 'act', layer_activations: 'acts',
  output_activation: 'out', batch_size: 'batch', 'optimizer.name': 'opt', 'optimizer.weight_decay': 'wd',
  'optimizer.alpha': 'rms_alpha', 'optimizer.initial_accumulator_value': 'acc0', 'schedule.name': 'sched',
});
/** The custom data points: a RunSettings field of the page's own, not a catalog choice. */
const POINTS = Object.freeze({ name: 'points', path: 'points', type: 'points' });

/** The URL type of a catalog parameter. */
function propType(p) {
  if (p.type === 'list') return p.choices ? 'enums' : 'ints';
  if (p.type === 'str') return 'enum';
  return p.type; // int, float, bool
}

/**
 * The table of every RunSettings field: `name` in the query string, `path` in
 * the settings object (dots for nested models), `type`; built from the catalog.
 * @param {import('./catalog.js').Catalog} catalog
 * @returns {ReadonlyArray<Prop>}
 */
export function urlProps(catalog) {
  const props = [];
  const taken = new Set();
  const add = (path, type) => {
    const own = path.split('.').pop();
    let name = QUERY_NAMES[path] || (path.endsWith('.name') ? path.split('.')[0] : own);
    if (taken.has(name)) name = path.replace('.', '_');
    taken.add(name);
    props.push(Object.freeze({ name, path, type }));
  };
  for (const p of catalog.settings) {
    if (p.name === 'optimizer') {
      add('optimizer.name', 'enum');
      for (const q of catalog.allOptimizerParams()) add(`optimizer.${q.name}`, propType(q));
    } else if (p.name === 'schedule') {
      add('schedule.name', 'enum');
      for (const q of catalog.scheduleParams) add(`schedule.${q.name}`, propType(q));
    } else {
      add(p.name, propType(p));
    }
    if (p.name === 'features') add(POINTS.path, POINTS.type);
  }
  if (!taken.has(POINTS.name)) add(POINTS.path, POINTS.type);
  return Object.freeze(props);
}

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
 * @param {ReadonlyArray<Prop>} props {@link urlProps}
 * @returns {string}
 */
export function encodeSettings(settings, props) {
  const q = new URLSearchParams();
  for (const p of props) {
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
 * @param {ReadonlyArray<Prop>} props {@link urlProps}
 * @returns {{settings: object, errors: string[], count: number}}
 */
export function decodeSettings(search, props) {
  const q = new URLSearchParams(search);
  const settings = {};
  const errors = [];
  let count = 0;
  for (const p of props) {
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
 * @param {ReadonlyArray<Prop>} props {@link urlProps}
 * @returns {string}
 */
export function shareUrl(settings, location, props) {
  const url = new URL(location.href);
  const keep = new URLSearchParams(url.search);
  for (const p of props) keep.delete(p.name);
  const own = encodeSettings(settings, props);
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
 * @param {ReadonlyArray<Prop>} props {@link urlProps}
 */
export function writeUrl(settings, history, location, props) {
  const href = shareUrl(settings, location, props);
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
   * @param {{location: Location, history: History, send: (msg: object) => void, storage?: Storage,
   *   catalog: import('./catalog.js').Catalog}} env
   */
  constructor({ location, history, send, storage, catalog }) {
    this.location = location;
    this.history = history;
    this.send = send;
    this.storage = storage || null;
    this.props = urlProps(catalog);
    this.fromLink = decodeSettings(location.search, this.props);
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
      if (encodeSettings(want, this.props) !== encodeSettings(msg.config, this.props)) {
        this.send({ type: 'configure', config: want });
        return;
      }
    }
    writeUrl(msg.config, this.history, this.location, this.props);
    this.remember(this.location.search.replace(/^\?/, ''));
  }
}
