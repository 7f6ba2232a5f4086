/**
 * A learner's own CSV file, by the file picker or dropped on the settings panel:
 * its text goes to the server (`csv` message, docs/protocol.md), which reads it
 * (engine/owndata.py) and starts a run on it, or answers with an error naming
 * the row and column that the notice box says in the learner's language. A file
 * too large for one message is refused here, before it is sent; either way the
 * current run goes on.
 */

import { h } from '../dom.js';

/** Bytes a CSV may have: a message must fit the server's max_message_bytes (64 KB by default). */
export const MAX_CSV_BYTES = 60_000;

/** The picker button, its hidden file input and a status line; see the module comment. */
export class CsvPicker {
  /**
   * @param {{t: (key: string, vars?: object) => string, send: (file: {text: string, name: string}) => void}} options
   */
  constructor({ t, send }) {
    this.t = t;
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

  /** Send `file`'s text, or say here why not. */
  async read(file) {
    this.problem = null;
    if (file.size > MAX_CSV_BYTES) {
      this.problem = ['csv.tooLarge', { name: file.name, kb: Math.ceil(file.size / 1000), limit: MAX_CSV_BYTES / 1000 }];
    } else {
      this.sent = file.name;
      this.send({ text: await file.text(), name: file.name });
    }
    this.relabel();
  }

  relabel() {
    this.button.textContent = this.t('csv.open');
    this.hint.textContent = this.t('csv.hint');
    this.status.textContent = this.problem ? this.t(this.problem[0], this.problem[1]) : '';
  }
}
