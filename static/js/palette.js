/**
 * The one colour palette of the page: a colour-blind-safe diverging scale
 * (Okabe–Ito vermillion for negative, blue for positive, a light neutral at
 * zero) where the sign of a value picks the hue and its magnitude the
 * strength, plus categorical class colours drawn from the same family so
 * class 0 / class 1 match negative / positive logits.
 */

/** Negative end of the diverging scale (Okabe–Ito vermillion) as [r, g, b]. */
export const NEG = Object.freeze([213, 94, 0]);
/** Zero (a light neutral grey) as [r, g, b]. */
export const ZERO = Object.freeze([238, 238, 238]);
/** Positive end (Okabe–Ito blue) as [r, g, b]. */
export const POS = Object.freeze([0, 114, 178]);

/** Class colours (Okabe–Ito): class 0 = NEG hue, class 1 = POS hue, then green, pink, orange;
 * then sky blue, yellow, black, grey and brown for the ten digits (the last two outside
 * Okabe–Ito's eight: ten distinct hues cannot all be told apart by everyone, so the
 * confusion matrix and the legends also say each class's number). */
export const CLASS_COLOURS = Object.freeze(['#d55e00', '#0072b2', '#009e73', '#cc79a7', '#e69f00',
  '#56b4e9', '#f0e442', '#000000', '#999999', '#8c510a']);

/** Ink for neutral marks (pulses, axes). */
export const INK = '#1b1b1b';

/** Linear mix of two [r,g,b] colours, as a CSS rgb() string. */
function mix(a, b, s) {
  const c = (i) => Math.round(a[i] + (b[i] - a[i]) * s);
  return `rgb(${c(0)},${c(1)},${c(2)})`;
}

/**
 * Colour of a signed value `v` scaled to [-1, 1]: hue by sign, strength by |v|.
 * A gamma below 1 keeps small magnitudes visible; NaN gives a mid grey.
 */
export function diverging(v) {
  if (Number.isNaN(v)) return 'rgb(128,128,128)';
  const s = Math.min(1, Math.abs(v)) ** 0.6;
  return mix(ZERO, v < 0 ? NEG : POS, s);
}

/** Publish the palette as CSS custom properties on `el` (so CSS and canvas agree). */
export function exportCssVars(el) {
  el.style.setProperty('--neg', `rgb(${NEG.join(',')})`);
  el.style.setProperty('--pos', `rgb(${POS.join(',')})`);
  el.style.setProperty('--zero', `rgb(${ZERO.join(',')})`);
  CLASS_COLOURS.forEach((c, k) => el.style.setProperty(`--class-${k}`, c));
}
