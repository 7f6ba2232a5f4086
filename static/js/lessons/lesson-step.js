/**
 * One lesson step on the page, in the order a learner meets it: the step's
 * text (formulas as MathML), "1. Predict" (choices as buttons, or a number
 * field with its unit) asked before "2. Do" (the action, with a button that
 * does it through the page's own controls), "3. Check" and the verdict (an
 * aria-live region: right or not, the engine's value, the explanation, the
 * numbers revealed; or which phase to run first), hints one at a time and the
 * answer behind a disclosure.
 *
 * Built afresh for each step and each language (lesson-panel.js owns the
 * lesson and the messages); it keeps the learner's choice, the hints shown and
 * the verdict so a rebuild in the other language shows the same state.
 *
 * In class: a student's "Send my answer" is recorded, not judged, until the
 * teacher reveals the result ("Answer sent: …", changeable until then); the
 * teacher's "Check" part shows the class's answers (class-answers.js) above
 * "Reveal the result", which needs no prediction of the teacher's own.
 */

import { h } from '../dom.js';
import { CsvPicker } from '../views/csv-picker.js';
import { ClassAnswers } from './class-answers.js';
import { inlineMath, richParagraphs } from './lesson-math.js';
import { actionWords, phaseOf, valueText } from './lesson-words.js';
import { whereWords } from '../where-words.js';

/**
 * What a step view remembers across rebuilds.
 * `recorded` is a student's answer the server holds for the class (null: none sent),
 * `revealed` whether the teacher has revealed the result.
 * @typedef {{choice: string|null, number: string, hints: number, answerOpen: boolean,
 *   check: object|null, whose: 'own'|'teacher'|null, goal: string|null, goalAt: number|null,
 *   recorded: string|number|null, revealed: boolean}} StepState
 */

/** @returns {StepState} a step not yet touched */
export function freshState() {
  return { choice: null, number: '', hints: 0, answerOpen: false, check: null, whose: null, goal: null, goalAt: null,
    recorded: null, revealed: false };
}

/** The DOM of one step (see the module comment). */
/** A network value's symbol as the inspector writes it, by its id's kind (`at`: its
 * indices, "[1,1]"). */
const SYMBOLS = Object.freeze({
  W: (at) => `w${at}`, b: (at) => `b${at}`, z: (at) => `z${at}`, a: (at) => `a${at}`,
  dW: (at) => `∂L/∂w${at}`, db: (at) => `∂L/∂b${at}`, delta: (at) => `δ${at}`,
  dfz: (at) => `f′(z)${at}`, gnorm: () => '‖∂L/∂W‖',
});

/** A metrics list's words (one number a layer), by its id in a step's values. */
const METRIC_WORDS = Object.freeze({
  lr: 'health.pick.lr', gnorm: 'lesson.value.gnorm', update_ratio: 'lesson.value.ratio',
  wnorm: 'lesson.value.wnorm', dead: 'lesson.value.dead', saturated: 'lesson.value.saturated',
});

/** The other names a step may reveal, in words (docs/lessons.md's names): the table's
 * spreads, each sample's loss (the page showed `raw_spread`, `loss.per_sample`). */
const NAME_WORDS = Object.freeze({
  spread: 'lesson.value.spread', raw_spread: 'lesson.value.raw_spread', 'loss.per_sample': 'lesson.value.per_sample',
});
/** One layer's entry of a metrics list (`saturated[0]`): its words for one layer. */
const LAYER_METRIC_WORDS = Object.freeze({
  gnorm: 'lesson.value.gnormOne', wnorm: 'lesson.value.wnormOne', dead: 'lesson.value.deadOne',
  saturated: 'lesson.value.saturatedOne', update_ratio: 'lesson.value.ratioOne',
});

/** An expression of ids in words, each id as `name` says it (a string; else it stays as
 * written), ÷ and × for / and *: "‖∂L/∂W‖ of layer 1 ÷ ‖∂L/∂W‖ of layer 8" for
 * "L1.gnorm / L8.gnorm", which a Japanese page showed as it is. */
function expressionWords(id, name) {
  const ops = { '/': ' ÷ ', '*': ' × ', '+': ' + ', '-': ' − ', '(': '(', ')': ')' };
  return id.split(/\s*([/*+()]|\s-\s)\s*/).map((part) => {
    const op = ops[part.trim()];
    if (op !== undefined) return op;
    const words = part && name(part);
    return typeof words === 'string' ? words : part;
  }).join('');
}

/**
 * How close a number answer must be to be counted right (the server's judge,
 * server/live/lessons.py: within max(tolerance, relative × |actual|)), in words: a
 * learner told "0.54" is wrong against 0.5444 knows why, one told 0.1 is right for
 * 0.098 knows why too.
 */
export function toleranceWords(t, p) {
  const tol = Number(p.tolerance) || 0;
  const rel = Number(p.relative) || 0;
  const pct = `${Number((rel * 100).toPrecision(3))}%`;
  if (rel === 0 && tol < 1e-6) return t('lesson.tolerance.exact');
  if (rel === 0) return t('lesson.tolerance.abs', { tol: String(tol) });
  if (tol === 0) return t('lesson.tolerance.rel', { pct });
  return t('lesson.tolerance.both', { tol: String(tol), pct });
}

export class StepView {
  /**
   * @param {object} step the step from `GET /api/lessons/{id}`
   * @param {StepState} state shared with the panel (changed in place)
   * @param {{t: (key: string, params?: object) => string, lang: string, readOnly: boolean,
   *   onCheck: (prediction: string|number|null) => void, onAction: () => void,
   *   onCsv?: (file: {text: string, name: string}) => void,
   *   example?: {name: string, href: string}|null, i18n?: {t: Function, has: Function}}} env
   *   (`i18n`: to say an engine id in words)
   *   a `csv` step's file goes to `onCsv`; `example` is the lesson's example table
   */
  constructor(step, state, env) {
    this.step = step;
    this.state = state;
    this.env = env;
    const t = env.t;
    this.heading = h('h2', { class: 'lesson-step-title', id: 'lesson-step-title', tabindex: '-1' }, inlineMath(step.title));
    const text = h('div', { class: 'lesson-text' }, richParagraphs(step.text));
    const p = step.prediction;
    this.choiceButtons = [];
    this.input = null;
    this.actBtn = null;
    this.note = h('p', { class: 'lesson-note', role: 'status' });
    /** Whether the teacher's run is shared with a class (the teacher's page: set by the panel). */
    this.sharing = false;
    // a student's answer the class counts, until the teacher reveals the result
    this.recordedNote = p && env.readOnly ? h('p', { class: 'lesson-recorded', role: 'status' }) : null;
    // the class's answers, on the teacher's page while the run is shared
    this.classAnswers = p && !env.readOnly ? new ClassAnswers(p, { t }) : null;
    const parts = [this.heading, text];
    let n = 1;
    if (p) parts.push(this.predictSection(n++, p));
    if (step.action && step.action.do !== 'read') parts.push(this.doSection(n++));
    this.checkBtn = h('button', { type: 'button', class: 'btn lesson-check', on: { click: () => this.check() } });
    parts.push(h('section', { class: 'lesson-part lesson-check-part', 'aria-labelledby': 'lesson-check-h' },
      h('h3', { id: 'lesson-check-h' }, t('lesson.part.check', { n })),
      this.classAnswers && this.classAnswers.root, this.checkBtn, this.note, this.recordedNote));
    this.verdict = h('div', { class: 'lesson-verdict', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
    parts.push(this.verdict);
    if (step.hints && step.hints.length) parts.push(this.hintSection());
    if (step.answer) {
      this.answer = h('details', { class: 'lesson-answer', open: state.answerOpen,
        on: { toggle: () => { state.answerOpen = this.answer.open; } } },
      h('summary', {}, t('lesson.answer')), richParagraphs(step.answer));
      parts.push(this.answer);
    }
    this.root = h('div', { class: 'lesson-step' }, parts);
    if (this.csv) this.csv.attachDrop(this.root); // a file dropped anywhere on the step
    this.syncChoices();
    this.syncReveal();
    this.showRecorded();
    if (state.check) this.showCheck(state.check, state.whose);
  }

  /** What the reveal changes in class: a student's answer is sent to the class (and the step's
   * answer stays folded away) until the teacher reveals the result, which the teacher's
   * check button does. */
  syncReveal() {
    const p = this.step.prediction;
    const before = Boolean(p) && !this.state.revealed;
    let key = p ? 'lesson.check' : 'lesson.reveal';
    if (before && this.env.readOnly) key = 'lesson.send';
    else if (before && this.sharing) key = 'lesson.revealClass';
    else if (this.sharing) key = 'lesson.reveal'; // (revealed: the teacher has no answer to check)
    this.checkBtn.textContent = this.env.t(key);
    if (this.answer) this.answer.hidden = before && this.env.readOnly;
  }

  /**
   * The teacher's page: the class's answers (shown while the run is shared).
   * @param {{sharing: boolean, answers: object|null, followers: number}} arg
   */
  showClass({ sharing, answers, followers }) {
    this.sharing = sharing;
    // (a projector then drops the teacher's own answer field: the class's rows name each choice)
    this.root.classList.toggle('is-class', sharing);
    this.syncReveal();
    if (!this.classAnswers) return;
    this.classAnswers.show(sharing);
    const c = this.state.check;
    this.classAnswers.update({ answers, followers, check: c && this.state.whose === 'own' ? c : null });
  }

  /** A student's page: the answer the class counts, changeable until the reveal. */
  showRecorded() {
    if (!this.recordedNote) return;
    const r = this.state.recorded;
    this.recordedNote.hidden = r === null || this.state.revealed;
    this.recordedNote.replaceChildren(...(r === null ? [] : [
      h('span', { class: 'lesson-mark', 'aria-hidden': 'true' }, '✓'), ' ',
      this.env.t('lesson.recorded'), ' ', h('strong', {}, this.predictionText(r)), ' ',
      h('span', { class: 'lesson-recorded-hint' }, this.env.t('lesson.recordedHint'))]));
  }

  predictSection(n, p) {
    const t = this.env.t;
    const question = h('p', { class: 'lesson-question', id: 'lesson-question' }, inlineMath(p.question));
    let answer;
    if (p.kind === 'choice') {
      this.choiceButtons = p.choices.map((c) => h('button', {
        type: 'button', class: 'btn lesson-choice', 'aria-pressed': 'false', dataset: { choice: c.id },
        on: { click: () => this.choose(c.id) },
      }, inlineMath(c.text)));
      answer = h('div', { class: 'lesson-choices', role: 'group', 'aria-labelledby': 'lesson-question' }, this.choiceButtons);
    } else {
      // (no inputmode=decimal: a phone's decimal pad may have no minus sign, and answers can be negative)
      this.input = h('input', { type: 'number', step: 'any', id: 'lesson-number', class: 'lesson-number',
        'aria-describedby': 'lesson-question lesson-tolerance', value: this.state.number,
        on: {
          input: () => { this.state.number = this.input.value; },
          keydown: (ev) => {
            if (ev.key === 'Enter') {
              ev.preventDefault();
              this.check();
            }
          },
        } });
      answer = [h('div', { class: 'lesson-number-row' },
        h('label', { for: 'lesson-number' }, t('lesson.yourAnswer')), this.input,
        p.unit ? h('span', { class: 'lesson-unit' }, inlineMath(p.unit)) : null),
      h('p', { class: 'lesson-tolerance hint', id: 'lesson-tolerance' }, toleranceWords(t, p))];
    }
    return h('section', { class: 'lesson-part lesson-predict', 'aria-labelledby': 'lesson-predict-h' },
      h('h3', { id: 'lesson-predict-h' }, t('lesson.part.predict', { n })), question, answer);
  }

  doSection(n) {
    const t = this.env.t;
    const a = this.step.action;
    const words = h('p', { class: 'lesson-action' }, actionWords({ t }, a));
    let button = null;
    if (this.env.readOnly) { // in class, the teacher runs it
      return h('section', { class: 'lesson-part lesson-do', 'aria-labelledby': 'lesson-do-h' },
        h('h3', { id: 'lesson-do-h' }, t('lesson.part.teacherDoes', { n })), h('p', { class: 'lesson-action' }, t('lesson.watch')));
    }
    if (a.do === 'step' || a.do === 'play' || a.do === 'inspect' || a.do === 'learn') {
      const key = a.do === 'play' ? 'ctl.play' : a.do === 'inspect' ? 'lesson.showMe'
        : a.do === 'learn' ? 'pad.learn' : a.unit === 'iteration' ? 'ctl.stepIteration' : 'ctl.stepPhase';
      const label = a.do === 'step' && (a.count || 1) > 1 ? `${t(key)} ×${a.count}` : t(key, { k: a.label });
      // (one step of a phase or an iteration: the run bar's own button does the same)
      const same = a.do === 'step' && (a.count || 1) === 1;
      button = h('button', { type: 'button', class: `btn lesson-act${same ? ' is-same' : ''}`, on: { click: () => this.env.onAction() } }, label);
      this.actBtn = button;
    }
    if (a.do === 'csv') return this.csvSection(n, words);
    return h('section', { class: 'lesson-part lesson-do', 'aria-labelledby': 'lesson-do-h' },
      h('h3', { id: 'lesson-do-h' }, t('lesson.part.do', { n })), words, button);
  }

  /** A `csv` step: the learner's own file (the picker, or dropped on the step), or the
   * lesson's example with one click (the server loads it: the step's action), and a link
   * to download the example and see what such a table looks like. */
  csvSection(n, words) {
    const t = this.env.t;
    const ex = this.env.example;
    this.csv = new CsvPicker({ t, send: (file) => this.env.onCsv && this.env.onCsv(file) });
    if (ex) {
      this.actBtn = h('button', { type: 'button', class: 'btn lesson-act', on: { click: () => this.env.onAction() } },
        t('lesson.csvExample', { name: ex.name }));
    }
    const link = ex ? h('a', { class: 'lesson-csv-download', href: ex.href, download: ex.name }, t('lesson.csvDownload')) : null;
    return h('section', { class: 'lesson-part lesson-do lesson-csv', 'aria-labelledby': 'lesson-do-h' },
      h('h3', { id: 'lesson-do-h' }, t('lesson.part.do', { n })), words, this.csv.root,
      h('div', { class: 'lesson-csv-example' }, this.actBtn, link));
  }

  hintSection() {
    const t = this.env.t;
    this.hintList = h('ol', { class: 'lesson-hint-list' });
    this.hintBtn = h('button', { type: 'button', class: 'btn btn-small lesson-hint-btn', on: { click: () => this.moreHints() } });
    this.hideHintsBtn = h('button', { type: 'button', class: 'btn btn-small lesson-hide-hints', on: { click: () => this.hideHints() } },
      t('lesson.hideHints'));
    this.syncHints();
    return h('section', { class: 'lesson-hints', 'aria-label': t('lesson.hints') }, this.hintList,
      h('div', { class: 'lesson-hint-row' }, this.hintBtn, this.hideHintsBtn));
  }

  /** A play step's button reads Pause while the run plays. */
  setPlaying(playing) {
    if (!this.actBtn || this.step.action.do !== 'play') return;
    this.actBtn.textContent = this.env.t(playing ? 'ctl.pause' : 'ctl.play');
    this.actBtn.setAttribute('aria-pressed', String(playing));
  }

  choose(id) {
    this.state.choice = id;
    this.syncChoices();
    this.note.textContent = '';
    // a student in class: the tap is the answer (its button could be below the fold)
    if (this.env.readOnly && !this.state.revealed) this.env.onCheck(id);
  }

  syncChoices() {
    for (const b of this.choiceButtons) b.setAttribute('aria-pressed', String(b.dataset.choice === this.state.choice));
  }

  /** The learner's prediction as the server takes it, or undefined when none is made yet. */
  prediction() {
    const p = this.step.prediction;
    if (!p) return null;
    if (p.kind === 'choice') return this.state.choice === null ? undefined : this.state.choice;
    const v = this.input ? this.input.value.trim().replace(',', '.').replace('−', '-') : '';
    return v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
  }

  check() {
    const t = this.env.t;
    const prediction = this.prediction();
    if (prediction === undefined && this.sharing && !this.state.revealed) {
      this.env.onCheck(null); // the teacher reveals the result without a prediction of their own
      return;
    }
    if (prediction === undefined) {
      this.note.textContent = t(this.step.prediction.kind === 'choice' ? 'lesson.pickFirst' : 'lesson.typeFirst');
      (this.choiceButtons[0] || this.input).focus();
      return;
    }
    this.note.textContent = '';
    this.env.onCheck(prediction);
  }

  moreHints() {
    this.state.hints = Math.min(this.step.hints.length, this.state.hints + 1);
    this.syncHints();
    const last = this.hintList.lastElementChild;
    if (last) last.focus();
  }

  /** Fold the hints away (Escape); true if there were any shown. */
  hideHints() {
    if (!this.hintList || this.state.hints === 0) return false;
    this.state.hints = 0;
    this.syncHints();
    this.hintBtn.focus();
    return true;
  }

  /** Close the answer (Escape); true if it was open. */
  closeAnswer() {
    if (!this.answer || !this.answer.open) return false;
    this.answer.open = false;
    this.answer.querySelector('summary').focus();
    return true;
  }

  syncHints() {
    const t = this.env.t;
    const hints = this.step.hints;
    const n = this.state.hints;
    this.hintList.replaceChildren(...hints.slice(0, n).map((text, k) => h('li', { tabindex: '-1' },
      h('span', { class: 'lesson-hint-n' }, t('lesson.hint', { n: k + 1 })), ' ', inlineMath(text))));
    this.hintBtn.hidden = n >= hints.length;
    this.hintBtn.textContent = t(n ? 'lesson.moreHint' : 'lesson.showHint', { n: n + 1, of: hints.length });
    this.hideHintsBtn.hidden = n === 0;
  }

  /**
   * Show a `lesson_check`: `whose` 'own' (this page's check, or the goal of its play)
   * or 'teacher' (a class's reveal, seen by a student).
   */
  showCheck(msg, whose) {
    const t = this.env.t;
    this.state.check = msg;
    this.state.whose = whose;
    const parts = [];
    // (a check asked without a prediction, a teacher's reveal, before the value is computed)
    const verdict = whose === 'teacher' ? null : msg.verdict || (msg.missing ? 'not_yet' : null);
    if (msg.trigger === 'goal') {
      // the step's revealed values, else the metrics point the goal was met at (the panel's)
      const n = msg.values && 'iteration' in msg.values ? msg.values.iteration : this.state.goalAt;
      this.state.goal = n === undefined || n === null ? '?' : valueText(n);
    }
    if (this.state.goal) parts.push(h('p', { class: 'lesson-goal' }, t('lesson.goal', { n: this.state.goal })));
    if (whose === 'teacher') parts.push(h('p', { class: 'lesson-teacher' }, t('lesson.teacher')));
    if (msg.early) {
      // checked before the step's play reached its goal: the value asked about is not there yet
      parts.push(h('p', { class: 'lesson-verdict-head', dataset: { verdict: 'not_yet' } },
        t(this.env.readOnly ? 'lesson.earlyClass' : 'lesson.early')));
    } else if (verdict === 'not_yet') {
      const phase = phaseOf(msg.missing);
      const a = this.step.action || {};
      const button = t(a.unit === 'iteration' ? 'ctl.stepIteration' : 'ctl.stepPhase');
      // a student waits for the teacher, who runs the class's phases
      const key = !phase ? 'lesson.notYetOther' : this.env.readOnly ? 'lesson.notYetClass' : 'lesson.notYet';
      parts.push(h('p', { class: 'lesson-verdict-head', dataset: { verdict: 'not_yet' } },
        t(key, { id: this.idWords(msg.missing), phase: phase ? t(`lesson.phase.${phase}`) : '', button })));
    } else {
      if (verdict === 'right' || verdict === 'wrong') {
        parts.push(h('p', { class: 'lesson-verdict-head', dataset: { verdict } },
          h('span', { class: 'lesson-mark', 'aria-hidden': 'true' }, verdict === 'right' ? '✓' : '✗'), ' ',
          t(verdict === 'right' ? 'lesson.right' : 'lesson.wrong')));
      }
      const rows = [];
      if (verdict && msg.prediction !== null && msg.prediction !== undefined) {
        rows.push([t('lesson.yourPrediction'), this.predictionText(msg.prediction)]);
      }
      if (msg.actual !== null && msg.actual !== undefined) {
        rows.push([t('lesson.actual'), h('span', { class: 'lesson-actual' }, valueText(msg.actual))]);
      }
      if (rows.length) {
        parts.push(h('dl', { class: 'lesson-compare' }, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))));
      }
      // (in this page's language: a teacher's reveal carries every language's)
      const explanation = (msg.explanations && msg.explanations[this.env.lang]) || msg.explanation;
      if (explanation) parts.push(h('div', { class: 'lesson-explain' }, richParagraphs(explanation)));
      const values = Object.entries(msg.values || {});
      if (values.length) {
        parts.push(h('div', { class: 'lesson-values' }, h('h4', {}, t('lesson.values')),
          h('dl', {}, values.map(([k, v]) => h('div', {}, h('dt', { title: k }, this.valueName(k)),
            h('dd', {}, k.endsWith('_acc') && Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : valueText(v)))))));
      }
    }
    if (msg.done === false && msg.trigger !== 'goal' && verdict !== 'not_yet' && !msg.early && this.step.done) {
      parts.push(h('p', { class: 'lesson-not-done' }, t('lesson.notDone')));
    }
    this.verdict.dataset.verdict = verdict || 'none';
    this.verdict.replaceChildren(...parts);
  }

  /** A revealed value's name: the lesson's own words for it (the step's `names`), else in
   * words as the Numbers panel says it ("Train loss"); a network's value as the inspector
   * writes it, its indices counted from 1 ("∂L/∂w[1,1] of layer 1" for L1.dW[0,0]: the id
   * stays its title); else the id. */
  valueName(id, inner = false) {
    const named = !inner && this.step && this.step.names && this.step.names[id];
    if (named) return h('span', {}, inlineMath(named));
    const i18n = this.env.i18n;
    if (!i18n) return h('code', {}, id);
    if (/[/*+()]|\s-\s/.test(id)) return expressionWords(id, (part) => StepView.prototype.valueName.call(this, part, true));
    if (i18n.has(`stat.${id}`)) return i18n.t(`stat.${id}`);
    if (METRIC_WORDS[id]) return i18n.t(METRIC_WORDS[id]); // a list, one number a layer
    // (not inside an expression: `argmax(raw_spread)` indexes, and reads as written)
    if (NAME_WORDS[id] && !inner) return i18n.t(NAME_WORDS[id]);
    const one = /^(\w+)\[(\d+)\]$/.exec(id); // one layer's number of a list (counted from 0)
    if (one && LAYER_METRIC_WORDS[one[1]] && !inner) return i18n.t('lesson.valueOfLayer', { v: i18n.t(LAYER_METRIC_WORDS[one[1]]), l: Number(one[2]) + 1 });
    // a parameter's value (L1.W[0,0]), or what the optimizer keeps for it (L1.W.step[0,0]:
    // its step Δw; L1.W.momentum_buffer[0,0]: b of w, by the catalog's symbol), or its value
    // before the update (L1.W.prev[0,0])
    const m = /^L(\d+)\.(\w+)(?:\.(\w+))?(?:\[(\d+)(?:,(\d+))?\])?$/.exec(id);
    const symbols = this.env.stateSymbols || {};
    if (!m || !(m[2] in SYMBOLS) || (m[3] && m[3] !== 'step' && m[3] !== 'prev' && !symbols[m[3]])) return h('code', {}, id);
    const at = m[4] === undefined ? '' : `[${[m[4], m[5]].filter((x) => x !== undefined).map((x) => Number(x) + 1).join(',')}]`;
    const own = SYMBOLS[m[2]](at);
    const v = !m[3] ? own : m[3] === 'step' ? `Δ${own}` : m[3] === 'prev' ? i18n.t('lesson.prevOf', { v: own })
      : i18n.t('lesson.stateOf', { s: symbols[m[3]], v: own });
    return i18n.t('lesson.valueOfLayer', { v, l: m[1] });
  }

  /** An engine id in words ("the activations a of layer 1", not "L1.a"; where-words.js),
   * or the id itself where there are none. */
  idWords(id) {
    const i18n = this.env.i18n;
    if (!id) return '?';
    return i18n && (i18n.has(`where.${id}`) || /^L\d+\.[A-Za-z_]+(\.[A-Za-z_]+)?$/.test(id)) ? whereWords(i18n, id) : id;
  }

  /** A prediction as the learner gave it: a choice's words, or the number. */
  predictionText(v) {
    const p = this.step.prediction;
    if (p && p.kind === 'choice') {
      const c = p.choices.find((x) => x.id === v);
      return c ? h('span', {}, inlineMath(c.text)) : String(v);
    }
    return valueText(Number(v));
  }
}
