/**
 * A run's settings (seed included) as a readable query string, for links.
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
 * The functions have no state and touch no DOM except {@link writeUrl}, which
 * takes the History and Location objects it changes. url-state.js keeps the
 * address bar in step with the run.
 */

import { getPath, setPath } from './paths.js';
import { PARTIAL_PARAM, RUN_PARAM } from './run-link.js';

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
 * The settings a link stands for: what it names, and the catalog's default
 * for everything it leaves out (never the tab's current run: a link opens the
 * same run whatever the tab ran before). Shaped as the server echoes
 * settings in `run.config`: an optimizer's unset hyper-parameters are left
 * out, a schedule carries every parameter.
 * @param {object} partial settings decoded from a link ({@link decodeSettings})
 * @param {import('./catalog.js').Catalog} catalog
 * @returns {object}
 */
export function completeSettings(partial, catalog) {
  const out = {};
  for (const p of catalog.settings) {
    if (p.name === 'optimizer') {
      out.optimizer = { name: p.default, ...(partial.optimizer || {}) };
    } else if (p.name === 'schedule') {
      out.schedule = { name: p.default };
      for (const q of catalog.scheduleParams) out.schedule[q.name] = q.default;
      Object.assign(out.schedule, partial.schedule || {});
    } else {
      out[p.name] = p.name in partial ? partial[p.name] : structuredClone(p.default);
    }
  }
  out.points = partial.points || [];
  return out;
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
  return addressWith(encodeSettings(settings, props), location, props);
}

/**
 * The page's URL with `own` (a query without '?') in place of whatever run it
 * held: settings, `run=` and `partial=` are replaced, other parameters kept.
 * @param {string} own
 * @param {Location|URL} location
 * @param {ReadonlyArray<Prop>} props {@link urlProps}
 * @returns {string}
 */
export function addressWith(own, location, props) {
  const url = new URL(location.href);
  const keep = new URLSearchParams(url.search);
  for (const p of props) keep.delete(p.name);
  keep.delete(RUN_PARAM);
  keep.delete(PARTIAL_PARAM);
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

