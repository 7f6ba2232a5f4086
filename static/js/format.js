/**
 * Number formatting shared by every view, so one value reads the same in the
 * tooltip, the stats and the live region. Uses the true minus sign (−).
 */

/** A readable fixed or scientific form of `v` (NaN and ±∞ spelled out). */
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return '—';
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '∞';
  if (v === -Infinity) return '−∞';
  const a = Math.abs(v);
  let s;
  if (a === 0) s = (0).toFixed(digits);
  else if (a >= 1e-3 && a < 1e5) s = v.toFixed(digits);
  else s = v.toExponential(Math.max(1, digits - 1));
  return s.replaceAll('-', '−'); // the exponent's sign too
}

/** A fraction in [0, 1] as a percentage with one decimal. */
export function pct(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return `${(v * 100).toFixed(1)}%`;
}

/** Mean of column `j` of a (B, n) nested list, or of a flat list when `j` is omitted. */
export function columnMean(rows, j) {
  if (!Array.isArray(rows) || rows.length === 0) return undefined;
  let s = 0;
  for (const r of rows) s += j === undefined ? r : r[j];
  return s / rows.length;
}

/** `v` to `n` significant digits, as short as that allows (true minus; NaN/∞ spelled out; `exp`: always e). */
export function sig(v, n = 3, exp = false) {
  if (v === null || v === undefined) return '—';
  if (!Number.isFinite(v)) return fmt(v);
  const a = Math.abs(v);
  const s = a === 0 ? '0' : (a >= 1e-3 && a < 1e5 && !exp ? String(Number(v.toPrecision(n))) : v.toExponential(n - 1));
  return s.replace('e+', 'e').replaceAll('-', '−');
}
