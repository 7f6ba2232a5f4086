/**
 * Dotted paths into plain settings objects ("optimizer.momentum"), shared by the
 * controls and the URL state so both read and write RunSettings the same way.
 */

/** The value at `path` in `obj` (undefined where the path does not exist). */
export function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** Set the value at `path` in `obj`, creating the objects on the way. */
export function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = value;
}
