/**
 * The network drawing's layer captions ("Input", "Hidden 1" … "Output"), kept
 * apart however many layers there are and however small the drawing is drawn:
 * measured where they stand on the screen, they are set on one line if they
 * fit, on two staggered lines if not, and shortened ("H3", "隠3") on two lines
 * as a last resort. Eight hidden layers on a phone or beside an open inspector
 * then still read layer by layer.
 */

/** Screen pixels kept free between two captions. */
const GAP_PX = 4;
/** SVG units between the two staggered lines (the captions' font is 12 to 16 units). */
const STAGGER = 17;

/** Whether any two neighbouring captions overlap on the screen (or none is laid out). */
function crowded(captions) {
  const boxes = captions.map((c) => c.getBoundingClientRect());
  if (!boxes.length || boxes.some((b) => b.width === 0)) return false;
  const near = (a, b) => a.right + GAP_PX > b.left && a.left < b.right + GAP_PX && a.bottom > b.top && a.top < b.bottom;
  return boxes.some((b, k) => (k > 0 && near(boxes[k - 1], b)) || (k > 1 && near(boxes[k - 2], b)));
}

/**
 * Lay the captions out so that none overlaps another.
 * @param {SVGTextElement[]} captions one per layer, left to right, at their baseline y
 * @param {number} y the baseline of a single line (SVG units)
 * @param {(l: number, short: boolean) => string} text layer l's caption, in full or short
 * @returns {'line'|'stagger'|'short'} what it took
 */
export function fitCaptions(captions, y, text) {
  const place = (short, stagger) => captions.forEach((c, l) => {
    c.textContent = text(l, short);
    c.setAttribute('y', String(stagger && l % 2 === 1 ? y : y - (stagger ? STAGGER : 0)));
  });
  place(false, false);
  if (!crowded(captions)) return 'line';
  place(false, true);
  if (!crowded(captions)) return 'stagger';
  place(true, true);
  return 'short';
}
