/**
 * What the inspector shows, marked in the network drawing: a translucent halo
 * under the inspected weight's edge, or under the neuron whose value, bias, γ
 * or β is inspected — so a learner (or a class watching the teacher's
 * inspector) sees which number the chain rule is of. The halo goes under
 * everything, so the edge's colour (sign) and width (magnitude) stay as they
 * are; it copies the element's geometry, which a frame never changes.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The drawing's element id of an `inspect` message's target ("L2.W.1.0", "L1.a.3"), or null. */
export function inspectedElementId(msg) {
  if (!msg || msg.id === null || msg.id === undefined || !Array.isArray(msg.index)) return null;
  const l = Number.isInteger(msg.layer) ? msg.layer : Number((/^L(\d+)\./.exec(msg.id) || [])[1]);
  if (!Number.isInteger(l)) return null;
  if (msg.kind === 'weight') return `L${l}.W.${msg.index[0]}.${msg.index[1]}`;
  return `L${l}.a.${msg.index[0]}`;
}

/**
 * Put the halo for `msg` (an `inspect` message; null or a closed one removes it) into `svg`.
 * @param {SVGSVGElement} svg the network drawing
 * @param {object|null} msg
 * @returns {SVGElement|null} the halo drawn
 */
export function markInspected(svg, msg) {
  const old = svg.querySelector(':scope > .net-inspected');
  if (old) old.remove();
  const id = inspectedElementId(msg);
  const el = id ? svg.querySelector(`[data-id="${id}"]`) : null;
  if (!el) return null;
  const line = el.tagName.toLowerCase() === 'line';
  const halo = document.createElementNS(SVG_NS, line ? 'line' : 'circle');
  const attrs = line ? ['x1', 'y1', 'x2', 'y2'] : ['cx', 'cy'];
  for (const a of attrs) halo.setAttribute(a, el.getAttribute(a));
  if (!line) halo.setAttribute('r', String(Number(el.getAttribute('r')) + 7));
  halo.setAttribute('class', `net-inspected ${line ? 'net-inspected-edge' : 'net-inspected-node'}`);
  halo.setAttribute('aria-hidden', 'true');
  halo.dataset.of = id;
  svg.prepend(halo);
  return halo;
}
