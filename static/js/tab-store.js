/**
 * What this tab keeps through a reload (sessionStorage), by key, as strings. Where the
 * browser blocks storage, or it is full, nothing is kept and a read gives null: never
 * an exception in the caller.
 */

/** The string this tab keeps under `key`, or null. */
export function tabGet(key) {
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Keep `value` under `key` for this tab (null: forget it). */
export function tabSet(key, value) {
  try {
    if (value === null) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, value);
  } catch {
    // (not kept: a reload then starts without it)
  }
}
