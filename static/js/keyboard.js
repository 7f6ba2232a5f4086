/**
 * Keyboard shortcuts: maps keys to action names and leaves keys alone where
 * they already mean something (typing in a field, Space on a button, arrows
 * in a select or number input, any key with Ctrl/Alt/Meta, a key a view
 * handled and marked with preventDefault).
 */

/** key → action name (see main.js for what each action does). */
export const SHORTCUTS = Object.freeze({
  ' ': 'toggle-play',
  ArrowRight: 'step-phase',
  ArrowLeft: 'phase-back',
  '.': 'step-iteration',
  r: 'reset',
  p: 'present',
  l: 'lang-next',
  '?': 'help',
});

const TEXTUAL = new Set(['INPUT', 'SELECT', 'TEXTAREA']);

/** The action for a keydown event, or null when the key should keep its usual meaning. */
export function shortcutFor(ev) {
  // a view that used the key (arrows picking a point on the map) already said so
  if (ev.defaultPrevented || ev.ctrlKey || ev.altKey || ev.metaKey) return null;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  const action = SHORTCUTS[key] || SHORTCUTS[ev.key];
  if (!action) return null;
  const el = ev.target;
  const tag = el && el.tagName;
  if (tag && TEXTUAL.has(tag)) return null;
  if (el && el.isContentEditable) return null;
  if (key === ' ' && el && (tag === 'BUTTON' || tag === 'SUMMARY' || tag === 'A')) return null;
  return action;
}

/** Call `run(action)` for shortcut keys pressed in `target`; returns an unbind function. */
export function bindShortcuts(target, run) {
  const onKey = (ev) => {
    const action = shortcutFor(ev);
    if (!action) return;
    ev.preventDefault();
    run(action);
  };
  target.addEventListener('keydown', onKey);
  return () => target.removeEventListener('keydown', onKey);
}
