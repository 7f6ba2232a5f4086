/**
 * A lesson in the page's address (`/?lesson=ID&step=N`, docs/lessons.md) and
 * the lessons' HTTP API. Pure functions plus one fetching helper; the caller
 * owns the History object and any cache.
 */

/** The lesson id pattern of server/lessons.py (ID_PATTERN). */
const ID = /^[a-z0-9][a-z0-9-]{0,47}$/;
/** The most steps a lesson link may name (the page route's bound). */
const MAX_STEP = 100;

/**
 * The lesson and step an address asks for, or null (a malformed id is none;
 * a missing or malformed step is 1), as the page route reads it.
 * @param {string} search `location.search`
 * @returns {{id: string, step: number}|null}
 */
export function askedLesson(search) {
  const q = new URLSearchParams(search);
  const id = q.get('lesson');
  if (!id || !ID.test(id)) return null;
  const raw = q.get('step');
  const n = raw !== null && /^\d+$/.test(raw) ? Number(raw) : 1;
  return { id, step: n >= 1 && n <= MAX_STEP ? n : 1 };
}

/**
 * `href` with `lesson` and `step` set (or both removed for `id` null), every other
 * parameter kept in place.
 * @param {string} href
 * @param {string|null} id
 * @param {number} [step]
 * @returns {string}
 */
export function lessonAddress(href, id, step) {
  const url = new URL(href);
  const q = url.searchParams;
  if (id === null) {
    q.delete('lesson');
    q.delete('step');
  } else {
    q.set('lesson', id);
    q.set('step', String(step));
  }
  url.search = q.toString();
  return url.toString();
}

/** The link that opens step `step` of lesson `id` (the course list's links), relative to
 * the page: a site may serve the lab under a sub-path. */
export function lessonHref(id, step = 1) {
  return `?lesson=${encodeURIComponent(id)}&step=${step}`;
}

/**
 * GET a lessons API path as JSON in `lang` (`api/lessons` or `api/lessons/{id}`, relative to the page: a site may serve it under a sub-path).
 * @param {string} path
 * @param {string} lang
 * @returns {Promise<object>} rejects on a network error or a status other than 200
 */
export async function fetchLessons(path, lang) {
  const res = await fetch(`${path}?lang=${encodeURIComponent(lang)}`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}
