/**
 * How the page counts iterations and epochs: one convention, used by every
 * view that shows a count (banner, Numbers, timeline, notices, inspector,
 * announcer) and stated in the help dialog (`help.counting`).
 *
 * The convention is 1-based, as a learner counts: iteration 1 is the first
 * batch's forward → loss → backward → update, epoch 1 the first pass over the
 * training data. The number shown is the iteration in progress, or the one
 * just finished when the run stands between two iterations; 0 means none has
 * run yet. Metrics points are taken after an iteration's update, so "measured
 * after iteration 900" is the point the server calls `iteration: 900`.
 *
 * The wire counts differently, and this module is the one place that
 * translates: `state.iteration` is the number of completed iterations (with
 * `next_phase` the phase to run next); a frame's `iteration` is the 0-based
 * index of the iteration it belongs to; `state.epoch` is the 0-based index of
 * the epoch of the latest batch drawn; a `seek` names a point by completed
 * iterations and the phase just run (docs/protocol.md).
 */

/** The phases of an iteration, in order (the catalog's `phases`). */
const PHASES = Object.freeze(['forward', 'loss', 'backward', 'update']);

/**
 * The iteration a learner sees at a point of the run: `iteration` completed
 * iterations, `nextPhase` the phase to run next (a `state` message's fields).
 * @param {number} iteration completed iterations
 * @param {string} nextPhase
 * @returns {number}
 */
export function shownIteration(iteration, nextPhase) {
  return iteration + (nextPhase && nextPhase !== PHASES[0] ? 1 : 0);
}

/** The shown iteration of a `state` message (or the page model's state). */
export function stateIteration(state) {
  return shownIteration(state.iteration, state.next_phase);
}

/**
 * The shown epoch of a `state`: the epoch of the iteration shown (0 before
 * the first iteration).
 */
export function stateEpoch(state) {
  return stateIteration(state) === 0 ? 0 : (state.epoch ?? 0) + 1;
}

/** The number of the iteration a frame (or a record's 0-based `iteration`) belongs to. */
export function recordIteration(index) {
  return index + 1;
}

/**
 * The iteration number of a logged change (a `set` or `edit` marker, a
 * branch's fork) at the 0-based iteration `index`: the first iteration it
 * acts on. A change made between iterations 461 and 462 (after iteration 461,
 * with forward next) acts from iteration 462; one made during iteration 462
 * (before its backward, say) acts on the rest of iteration 462.
 */
export function changeIteration(index) {
  return index + 1;
}

/**
 * The last iteration of a run whose head is `length` completed iterations
 * with `endPhase` next (a `timeline` message's `length` and `end_phase`).
 */
export function lastIteration(length, endPhase) {
  return shownIteration(length, endPhase);
}

/**
 * The `seek` that shows iteration `n` (1-based) up to `phase` (null: the
 * whole iteration, i.e. the point after it). `{iteration, phase}` as the
 * server takes it.
 * @param {number} n
 * @param {string|null} phase
 */
export function seekFor(n, phase) {
  if (!phase || n <= 0) return { iteration: Math.max(0, n), phase: null };
  return { iteration: n - 1, phase };
}

/**
 * The point after `phase` of the iteration of 0-based index `index` (a frame's, a
 * seek's), as (completed iterations, index of the phase next).
 * @returns {[number, number]}
 */
export function pointAfter(index, phase) {
  const k = PHASES.indexOf(phase) + 1;
  return k >= PHASES.length ? [index + 1, 0] : [index, k];
}

/**
 * The `seek` one phase (`unit` 'phase') or one iteration boundary back from a
 * `state`'s point, as the server's step back goes from its own (playback.py
 * back_position): while playing, the page steps back from what it shows.
 */
export function seekBack(state, unit) {
  const [it, p] = [state.iteration, PHASES.indexOf(state.next_phase)];
  let to;
  if (unit === 'phase') to = p > 0 ? [it, p - 1] : it > 0 ? [it - 1, 3] : [0, 0];
  else to = p > 0 ? [it, 0] : [Math.max(it - 1, 0), 0];
  return { iteration: to[0], phase: to[1] > 0 ? PHASES[to[1] - 1] : null };
}

/**
 * Whether a seek to `target` ({iteration, phase} as sent) lies past the run's
 * head (`length` completed iterations, `endPhase` next).
 */
export function pastEnd(target, length, endPhase) {
  const [it, next] = target.phase ? pointAfter(target.iteration, target.phase) : [target.iteration, 0];
  const end = Math.max(0, PHASES.indexOf(endPhase));
  return it > length || (it === length && next > end);
}
