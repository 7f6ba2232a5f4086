/**
 * How the page names a class, one rule for every view that names one (the map's
 * legend, the confusion matrix, the mistakes' list, the inspector): a learner's own
 * CSV names its classes in its target column (`config.table.labels`, in the order of
 * the class indices the engine uses: "cat", "dog"), so those names are shown; iris's
 * are its three species, breast cancer's its two diagnoses; any other run's classes are
 * their numbers 0…K−1.
 */

/** Real datasets whose classes have names (scikit-learn's `target_names`, in the order of
 * the class indices): iris's species, as botanists write them in any language; breast
 * cancer's diagnoses, words of the i18n table. */
const NAMED = { iris: ['setosa', 'versicolor', 'virginica'], breast_cancer: ['data.malignant', 'data.benign'] };

/** The name of class `k` (an index into the run's classes): the file's label, the
 * dataset's own name for it (`t`: the page's words, for those that are words), or the number. */
export function className(config, k, t = null) {
  const labels = config && config.table && config.table.labels;
  if (labels && labels[k] !== undefined) return String(labels[k]);
  const named = config && NAMED[config.dataset] && NAMED[config.dataset][k];
  if (!named) return String(k);
  return !named.startsWith('data.') ? named : t ? t(named) : String(k);
}

/**
 * Input column `name` as the page names it: a real table's in the page's language once the
 * later words are loaded (the datasets name them in English: "sepal length (cm)" is
 * "がく片の長さ (cm)" on a Japanese page), a learner's CSV header as written.
 * @param {{t: Function, has: Function}} i18n
 */
export function columnName(i18n, config, name) {
  const key = `feat.${name}`;
  return config && config.table ? name : i18n.has(key) ? i18n.t(key) : name;
}

/** Whether `name` reads as a number (then "class 3" says what it is; a word stands alone). */
function numeric(name) {
  return /^[-+]?\d+(\.\d+)?$/.test(name.trim());
}

/**
 * Class `k` as a phrase on its own (a legend's item): "class 3" for a number (key
 * `key` of the i18n table, given `{k}`), the file's own word ("cat") otherwise.
 */
export function classPhrase(t, config, k, key = 'data.class') {
  const name = className(config, k, t);
  return numeric(name) ? t(key, { k: name }) : name;
}
