/**
 * A tiny element builder shared by the views, so building markup stays short
 * without templates or a framework.
 */

/**
 * Create an HTML element: `h('button', {class: 'x', dataset: {action: 'y'}}, 'text', child)`.
 * Attribute values of `true` set a boolean attribute; `false`/null/undefined skip it;
 * `on` is an object of event listeners.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/**
 * Copy an input's text to the clipboard; where the clipboard is out of reach (plain
 * http on another host, no permission) select it for Ctrl+C instead.
 * @param {HTMLInputElement} input
 * @returns {Promise<string|null>} the i18n key saying which happened, or null if empty
 */
export async function copyOrSelect(input) {
  const text = input.value;
  if (!text) return null;
  try {
    if (!navigator.clipboard) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    return 'share.copied';
  } catch {
    input.focus();
    input.select();
    return 'share.copyManual';
  }
}

/**
 * Download `name` of session `session`'s run (`runs/<name>`) as a file: a POST whose body
 * carries the session id, never a URL (the id controls the session: it must not reach logs
 * or history). Resolves when the browser has the file; rejects on a failed answer.
 */
export function downloadRunFile(name, session) {
  return fetch(`runs/${name}`, { method: 'POST', body: new URLSearchParams({ session }) })
    .then((res) => {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const file = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
      return res.blob().then((blob) => {
        const url = URL.createObjectURL(blob);
        h('a', { href: url, download: file ? file[1] : name }).click();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      });
    });
}
