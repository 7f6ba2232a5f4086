/**
 * A whole run in a link: the run file (docs/protocol.md "Run files": settings,
 * every branch with its changes, where each branch was left and where the
 * learner is) as the `run=` parameter of the page's address, so a link
 * reproduces a run number for number even after mid-run settings, hand edits
 * and branches, and opens at the point it was made.
 *
 * The parameter is the run file's JSON, compressed with the platform's
 * deflate-raw (CompressionStream) and written in base64url (RFC 4648 §5: no
 * `+`, `/` or `=` to escape). A run with nothing beyond its settings keeps the
 * readable query of url-state.js instead. A link longer than
 * {@link MAX_LINK_CHARS} may not survive mail, chat or a browser's address bar:
 * the page then offers the run file instead.
 */

/** The query parameter holding a compressed run file. */
export const RUN_PARAM = 'run';
/** The query parameter that says a link holds only the settings of a longer run. */
export const PARTIAL_PARAM = 'partial';
/** Longest link the page offers (characters of the whole address). */
export const MAX_LINK_CHARS = 6000;
const FORMAT = 'backprop-lab-run';

/** Bytes → base64url, without padding. */
export function toBase64Url(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** base64url (padded or not) → bytes; throws on characters outside the alphabet. */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new Error('not base64url');
  const b64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipe(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The `run=` value of a run file: its JSON (without `metrics`, which a loaded
 * run recomputes) deflated and in base64url.
 * @param {object} run a run file
 * @returns {Promise<string>}
 */
export async function encodeRun(run) {
  const rest = { ...run };
  delete rest.metrics;
  const json = new TextEncoder().encode(JSON.stringify(rest));
  return toBase64Url(await pipe(json, new CompressionStream('deflate-raw')));
}

/**
 * The run file in a `run=` value; rejects when it is not one (a link cut short
 * or mistyped).
 * @param {string} text
 * @returns {Promise<object>}
 */
export async function decodeRun(text) {
  const bytes = await pipe(fromBase64Url(text), new DecompressionStream('deflate-raw'));
  const run = JSON.parse(new TextDecoder().decode(bytes));
  if (!run || typeof run !== 'object' || run.format !== FORMAT) throw new Error('not a run file');
  return run;
}

/**
 * Whether a run file holds anything its settings alone do not give back: a
 * logged change, a second branch, or a position other than the start.
 * @param {object} run a run file (version 2, as the `save` message carries it)
 * @param {string} firstPhase the catalog's first phase ("forward")
 */
export function hasHistory(run, firstPhase = 'forward') {
  const branches = run.branches || [];
  if (branches.length > 1) return true;
  if (branches.some((b) => (b.commands || []).length > 0)) return true;
  if ((run.commands || []).length > 0) return true; // version 1
  const pos = run.position;
  return Boolean(pos) && (pos.iteration > 0 || (pos.phase && pos.phase !== firstPhase));
}
