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
