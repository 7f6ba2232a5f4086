/**
 * A learner's own CSV file, by the file picker or dropped on the settings panel:
 * its text goes to the server (`csv` message, docs/protocol.md), which reads it
 * (engine/owndata.py) and starts a run on it, or answers with an error naming
 * the row and column that the notice box says in the learner's language, and
 * this picker beside its button. A file too large for one message is refused
 * here, before it is sent (csv-read.js); either way the current run goes on.
 */

import { h } from '../dom.js';

/** The picker button, its hidden file input and a status line; see the module comment. */
export class CsvPicker {
  /**
   * @param {{t: (key: string, vars?: object) => string, has?: (key: string) => boolean, lang?: () => string,
   *   send: (file: {text: string, name: string}) => void, picked?: () => void}} options
   */
  constructor({ t, has = () => false, lang = () => 'en', send, picked = () => {} }) {
    this.t = t;
    this.lang = lang;
    this.has = has;
    this.picked = picked;
    this.send = send;
    this.input = h('input', { type: 'file', accept: '.csv,.tsv,.txt,text/csv', class: 'csv-input', hidden: true,
      on: { change: () => { if (this.input.files[0]) this.read(this.input.files[0]); this.input.value = ''; } } });
    this.button = h('button', { type: 'button', class: 'btn btn-small csv-open', dataset: { i18n: 'csv.open' },
      on: { click: () => this.open() } });
    this.status = h('p', { class: 'csv-status hint', 'aria-live': 'polite' });
    this.hint = h('p', { class: 'csv-hint hint', dataset: { i18n: 'csv.hint' } });
    this.root = h('div', { class: 'csv-picker', dataset: { view: 'csv' } }, this.button, this.input, this.hint, this.status);
    this.relabel();
  }

  /** Open the browser's file picker. */
  open() {
    this.input.click();
  }

  /** Accept a file dropped anywhere on `el` (its outline shows while one is dragged over). */
  attachDrop(el) {
    const over = (e) => {
      if (!e.dataTransfer || ![...e.dataTransfer.types].includes('Files')) return;
      e.preventDefault();
      el.classList.add('is-dropping');
    };
    el.addEventListener('dragenter', over);
    el.addEventListener('dragover', over);
    el.addEventListener('dragleave', (e) => { if (e.target === el) el.classList.remove('is-dropping'); });
    el.addEventListener('drop', (e) => {
      el.classList.remove('is-dropping');
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (!file) return;
      e.preventDefault();
      this.read(file);
    });
  }

  /** Send `file`'s text, or say here why not (csv-read.js, loaded with the first file). */
  async read(file) {
    this.picked();
    const { readCsv } = await import('./csv-read.js');
    this.problem = await readCsv(file, (text) => {
      this.sent = file.name;
      this.send({ text, name: file.name });
    }, this.lang());
    this.relabel();
  }

  /** The server could not learn from the file sent (its `error`): said beside the button
   * too, where a phone's reader is (the notice at the page's top is out of sight there). */
  failed(msg) {
    this.problem = ['csv.failed', msg];
    this.relabel();
  }

  /** A run started: what was said of the last file no longer holds. */
  clear() {
    this.problem = null;
    this.relabel();
  }

  relabel() {
    this.button.textContent = this.t('csv.open');
    this.hint.textContent = this.t('csv.hint');
    const [key, p] = this.problem || [];
    // (a server's error in the page's words once they are loaded, else its own sentence)
    const detail = key === 'csv.failed' && (this.has(`csv.${p.reason}`) ? this.t(`csv.${p.reason}`, p) : p.message);
    this.status.textContent = !key ? '' : detail ? this.t(key, { name: this.sent || '', detail }) : this.t(key, p);
    this.status.classList.toggle('is-problem', Boolean(this.problem));
  }
}
