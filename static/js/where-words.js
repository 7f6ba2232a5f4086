/**
 * Words for the engine's ids, where the learner would otherwise read an internal
 * name: a diverging run's `error` carries `where` = the first id that went
 * non-finite (`loss.data`, `L2.z`, `L1.dW`, `L1.W.step` …; engine/records.py),
 * and the page says "the data loss L" or "z of layer 2" instead, through the
 * i18n table (`where.*`).
 */

/**
 * `where` in words, in `i18n`'s language.
 * @param {{t: Function, has: Function}} i18n
 * @param {string|null|undefined} where
 */
export function whereWords(i18n, where) {
  if (!where) return i18n.t('where.unknown');
  if (i18n.has(`where.${where}`)) return i18n.t(`where.${where}`);
  const mm = /^L(\d+)\.([A-Za-z_]+)(?:\.([A-Za-z_]+))?$/.exec(where);
  if (!mm) return i18n.t('where.unknown');
  const l = Number(mm[1]);
  const what = i18n.has(`where.${mm[2]}`) ? i18n.t(`where.${mm[2]}`, { l }) : i18n.t('where.layer', { l });
  if (mm[3] === 'step') return i18n.t('where.step', { what });
  return mm[3] ? i18n.t('where.layer', { l }) : what;
}
