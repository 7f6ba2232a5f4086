/**
 * The coach's notes (docs/coach.md): what the run's numbers say, in plain
 * words, and what to try. The server's rules watch every metrics point and
 * send the run's notes as one `coach` message (docs/protocol.md) with each
 * rule's words in both languages; this view fills a note's `{placeholders}`
 * from its values and shows it in the page's language, so a class's students
 * read the teacher's notes in their own.
 *
 * A note is about an iteration; the server sends the notes at or before the
 * iteration shown (a rewound run's later ones come back as it gets there
 * again). A note can be
 * dismissed (×), and one with a `mark` (the growing gap's best test loss)
 * takes the learner to that iteration. New notes are read out politely. A
 * phone shows one line (the latest note's title) that expands; the switch
 * turns the coach off on this browser (remembered): its notes then fold into
 * one line saying how many there are.
 *
 * Loaded with its stylesheet (css/coach.css) when the first note arrives
 * (main.js, views/lazy-slot.js): a run the coach has nothing to say about
 * costs the page nothing.
 */

import { h } from '../dom.js';
import { sig } from '../format.js';

/** localStorage key: '0' when the learner turned the coach off. */
const COACH_KEY = 'bpl.coach';
const PHONE = '(max-width: 720px)';

/** A note's value as its words show it: whole numbers as they are, others to 3 digits. */
export function say(v) {
  if (v === null || v === undefined) return '—';
  return Number.isInteger(v) ? String(v) : sig(v, 3);
}

/** `template` with each `{name}` replaced by `values[name]` (said as {@link say} does). */
export function fillWords(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (Object.hasOwn(values, k) ? say(values[k]) : m));
}

function readOn() {
  try {
    return window.localStorage.getItem(COACH_KEY) !== '0';
  } catch {
    return true;
  }
}

/** The "coach" slot's view (see the module comment). */
export class CoachView {
  /**
   * @param {HTMLElement} container the "coach" slot
   * @param {{i18n: object, act: Function}} options
   */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.act = act;
    this.notes = [];
    this.words = {};
    this.dismissed = new Set();
    this.readOnly = false;
    this.on = readOn();
    this.phone = window.matchMedia(PHONE);
    this.open = false; // a phone's list, expanded
    this.spoken = new Set(); // notes already read out
    this.drawn = null; // what the list shows (render skips a redraw that changes nothing)
    this.heading = h('h2', { id: 'coach-h' });
    this.switchBox = h('input', { type: 'checkbox', id: 'coach-on', on: { change: () => this.setOn(this.switchBox.checked) } });
    this.switchBox.checked = this.on;
    this.switchLabel = h('label', { for: 'coach-on' });
    this.summary = h('button', { type: 'button', class: 'coach-summary', 'aria-expanded': 'false', 'aria-controls': 'coach-notes',
      on: { click: () => { this.open = !this.open; this.render(); } } });
    this.offLine = h('p', { class: 'coach-off' });
    this.list = h('ol', { class: 'coach-notes', id: 'coach-notes' });
    // beside the panel, not in it: a live region must be there before what it reads out
    // (the panel appears with its first note)
    this.live = h('p', { class: 'sr-only coach-live', 'aria-live': 'polite' });
    this.root = h('section', { class: 'panel coach', 'aria-labelledby': 'coach-h', hidden: true },
      h('div', { class: 'coach-head' }, this.heading, h('span', { class: 'coach-switch' }, this.switchBox, this.switchLabel)),
      this.summary, this.offLine, this.list);
    container.append(this.live, this.root);
    this.phone.addEventListener('change', () => this.render());
    this.relabel();
  }

  /** One page event: the notes, the run, the language, class mode. */
  update({ kind, msg }) {
    if (kind === 'coach') {
      this.notes = msg.notes || [];
      this.words = msg.words || {};
      this.render(true);
    } else if (kind === 'run') {
      this.notes = [];
      this.dismissed.clear();
      this.spoken.clear();
      this.render();
    } else if (kind === 'lang') {
      this.relabel();
      this.render();
    } else if (kind === 'follow-mode') {
      this.readOnly = msg.readOnly;
      this.render();
    }
  }

  setOn(on) {
    this.on = on;
    try {
      window.localStorage.setItem(COACH_KEY, on ? '1' : '0');
    } catch { /* not remembered */ }
    this.render();
  }

  relabel() {
    const t = (k, p) => this.i18n.t(k, p);
    this.heading.textContent = t('coach.title');
    this.switchLabel.textContent = t('coach.switch');
  }

  /** The notes a learner may see now: those not dismissed. */
  shown() {
    return this.notes.filter((n) => !this.dismissed.has(key(n)) && this.words[n.rule]);
  }

  /** Note `n`'s title, text and what to try in the page's language, its values filled in. */
  wordsOf(n) {
    const w = this.words[n.rule];
    const lang = w[this.i18n.lang] ? this.i18n.lang : 'en';
    const values = n.values || {};
    return { title: fillWords(w[lang].title, values), text: fillWords(w[lang].text, values), try: fillWords(w[lang].try, values) };
  }

  /** Draw the list (when what it shows changed); `fresh`: a coach message just came. */
  render(fresh = false) {
    const t = (k, p) => this.i18n.t(k, p);
    const notes = this.shown();
    const compact = this.phone.matches && this.on;
    if (fresh && this.on) this.announce(notes);
    const drawn = JSON.stringify([notes.map((n) => [key(n), n.values, n.mark]), this.i18n.lang, this.on, compact, this.open, this.readOnly]);
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    this.root.hidden = notes.length === 0;
    this.root.classList.toggle('is-off', !this.on);
    this.root.classList.toggle('is-compact', compact);
    this.root.classList.toggle('is-open', this.open);
    this.offLine.hidden = this.on;
    this.offLine.textContent = t('coach.off', { n: notes.length });
    const latest = notes[notes.length - 1];
    this.summary.hidden = !compact || !latest;
    if (latest) { // closed: the latest note's title; open: the panel's name over the list
      const more = notes.length > 1 ? ` ${t('coach.more', { n: notes.length - 1 })}` : '';
      // (dated as in the list: a run that recovered since reads it as the past it is)
      const at = t('coach.at', { n: latest.iteration });
      this.summary.textContent = this.open ? t('coach.title') : `${t('coach.title')}: ${this.wordsOf(latest).title} · ${at}${more}`;
      this.summary.setAttribute('aria-expanded', String(this.open));
    }
    this.list.hidden = !this.on || (compact && !this.open);
    // a rebuilt list keeps the keyboard where it was (the same note's same button)
    const active = document.activeElement;
    const at = this.list.contains(active) ? [active.closest('.coach-note').dataset.key, active.className] : null;
    this.list.replaceChildren(...notes.slice().reverse().map((n) => this.item(n))); // newest first
    if (at) {
      const same = [...this.list.children].find((li) => li.dataset.key === at[0]);
      const el = same && [...same.querySelectorAll('button')].find((b) => b.className === at[1]);
      (el || this.switchBox).focus();
    }
  }

  item(n) {
    const t = (k, p) => this.i18n.t(k, p);
    const w = this.wordsOf(n);
    const close = h('button', { type: 'button', class: 'icon-btn coach-dismiss', 'aria-label': t('coach.dismiss'), title: t('coach.dismiss'),
      on: { click: () => this.dismiss(n) } }, '×');
    const mark = Number.isInteger(n.mark) && !this.readOnly
      ? h('button', { type: 'button', class: 'btn coach-mark', on: { click: () => this.act('seek', { iteration: n.mark }) } }, t('coach.mark', { n: n.mark }))
      : null;
    return h('li', { class: 'coach-note', dataset: { rule: n.rule, iteration: String(n.iteration), key: key(n) } },
      h('div', { class: 'coach-note-head' }, h('strong', { class: 'coach-note-title' }, w.title),
        h('span', { class: 'coach-at' }, t('coach.at', { n: n.iteration })), close),
      h('p', { class: 'coach-text' }, w.text),
      h('p', { class: 'coach-try' }, h('span', { class: 'coach-try-label' }, t('coach.try')), ' ', w.try),
      mark);
  }

  dismiss(n) {
    this.dismissed.add(key(n));
    this.render();
    // the keyboard stays in the panel: on the next note's ×, else the switch
    const next = this.list.querySelector('.coach-dismiss');
    (next || this.switchBox).focus();
  }

  /** Read out the notes not read yet (the newest one's words). */
  announce(notes) {
    const fresh = notes.filter((n) => !this.spoken.has(key(n)));
    for (const n of fresh) this.spoken.add(key(n));
    if (!fresh.length) return;
    const w = this.wordsOf(fresh[fresh.length - 1]);
    this.live.textContent = this.i18n.t('coach.said', { title: w.title, text: w.text });
  }
}

function key(n) {
  return `${n.rule}@${n.iteration}`;
}
