/**
 * The class's answers on the teacher's page: while a shared run's lesson step asks
 * a prediction, "Class answers: 12 of 20" and a bar per choice (or, for a number,
 * per range of answers, with the median), from the server's `lesson_answers`
 * (counts only: who answered what never reaches the page). The bars update as the
 * students answer; after the teacher's reveal the right choice is marked ✓ (or the
 * engine's value is written under a number's bars) and the counts stay as they were.
 *
 * Bars take the palette's categorical colours (palette.js, Okabe–Ito: colour-blind
 * safe; see COLOURS), and each carries its words and its count, so nothing rests on
 * colour alone.
 * Built by lesson-step.js in its "Check" part; lesson-panel.js feeds it.
 */

import { h } from '../dom.js';
import { inlineMath } from './lesson-math.js';
import { valueText } from './lesson-words.js';

/**
 * The palette's categorical colours (palette.js's --class-k) in the order choices take
 * them: green, pink and orange first, as --class-0 and --class-1 are the diverging
 * scale's negative and positive hues, which beside "positive" or "negative" would read
 * as a sign.
 */
const COLOURS = Object.freeze([2, 3, 4, 1, 0]);

/** A number bin's words: one answer, a range, or an open end. */
function binLabel(b) {
  if (b.lo === null) return `< ${valueText(b.hi)}`;
  if (b.hi === null) return `> ${valueText(b.lo)}`;
  if (b.lo === b.hi) return valueText(b.lo);
  return `${valueText(b.lo)} – ${valueText(b.hi)}`;
}

/** Whether number `v` falls in bin `b` (inner bins hold lo ≤ v < hi; the widest bin's end is in it too). */
function inBin(b, v, last) {
  if (b.lo === null) return v < b.hi;
  if (b.hi === null) return v > b.lo;
  if (b.lo === b.hi) return v === b.lo;
  return v >= b.lo && (v < b.hi || (last && v === b.hi));
}

/** The teacher's view of the class's answers to one step (see the module comment). */
export class ClassAnswers {
  /**
   * @param {object} prediction the step's prediction (`GET /api/lessons/{id}`)
   * @param {{t: (key: string, params?: object) => string}} env
   */
  constructor(prediction, { t }) {
    this.prediction = prediction;
    this.t = t;
    this.title = h('h4', { class: 'class-answers-title', id: 'class-answers-title' });
    this.bars = h('ul', { class: 'class-answers-bars' });
    this.foot = h('p', { class: 'class-answers-foot' });
    this.root = h('section', { class: 'class-answers', 'aria-labelledby': 'class-answers-title', hidden: true },
      this.title, this.bars, this.foot);
  }

  /**
   * Draw the latest counts.
   * @param {{answers: object|null, followers: number, check: object|null}} arg `answers` the
   *   step's latest `lesson_answers` (null: nobody yet), `followers` how many follow now,
   *   `check` the teacher's reveal (a `lesson_check` with the engine's value) or null
   */
  update({ answers, followers, check }) {
    const t = this.t;
    const p = this.prediction;
    const answered = answers ? answers.answered : 0;
    const of = Math.max(answered, followers, answers ? answers.followers : 0);
    this.title.textContent = t('lesson.classAnswers', { n: answered, of });
    const revealed = Boolean(check && check.actual !== null && check.actual !== undefined);
    let rows;
    if (p.kind === 'choice') {
      const counts = (answers && answers.counts) || {};
      rows = p.choices.map((c, k) => ({
        label: inlineMath(c.text), n: counts[c.id] || 0, colour: COLOURS[k % COLOURS.length],
        right: revealed && check.expected === c.id,
      }));
    } else {
      const bins = (answers && answers.bins) || [];
      // one answer's bin is right as the students' verdicts are: within the step's tolerance
      const tol = revealed ? Math.max(p.tolerance || 0, (p.relative || 0) * Math.abs(check.actual)) : 0;
      rows = bins.map((b, k) => ({
        label: binLabel(b), n: b.n, colour: COLOURS[0], exact: b.lo === b.hi,
        right: revealed && (b.lo === b.hi ? Math.abs(b.lo - check.actual) <= tol : inBin(b, check.actual, k === bins.length - 1)),
      }));
    }
    const most = Math.max(1, ...rows.map((r) => r.n));
    this.bars.replaceChildren(...rows.map((r) => {
      const fill = h('span', { class: 'class-answers-fill' });
      fill.style.width = `${(100 * r.n) / most}%`;
      fill.style.setProperty('--bar', `var(--class-${r.colour})`);
      return h('li', { class: r.right ? 'class-answers-row is-right' : 'class-answers-row' },
        h('span', { class: 'class-answers-label' }, r.right ? h('span', { class: 'class-answers-mark' }, '✓ ') : null, r.label),
        h('span', { class: 'class-answers-track', 'aria-hidden': 'true' }, fill),
        h('span', { class: 'class-answers-n' }, String(r.n)));
    }));
    this.bars.classList.toggle('is-revealed', revealed);
    const foot = [];
    if (p.kind === 'number' && answers && answers.median !== null) foot.push(t('lesson.classMedian', { v: valueText(answers.median) }));
    if (revealed && p.kind === 'choice') foot.push(t('lesson.classRight', { n: (answers && answers.counts && answers.counts[check.expected]) || 0, of: answered }));
    if (revealed && p.kind === 'number') {
      foot.push(`${t('lesson.actual')}: ${valueText(check.actual)}`);
      // how many were right, when each bar is one answer (a wider bin's answers are not all right)
      if (rows.length && rows.every((r) => r.exact)) {
        foot.push(t('lesson.classRight', { n: rows.reduce((sum, r) => sum + (r.right ? r.n : 0), 0), of: answered }));
      }
    }
    if (!answered && !revealed) foot.push(t('lesson.classWaiting'));
    this.foot.textContent = foot.join(' · ');
  }

  /** Show the box (the run is shared with a class) or hide it. */
  show(on) {
    this.root.hidden = !on;
  }
}
