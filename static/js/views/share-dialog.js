/**
 * "Class": a modal <dialog> with the two ways into class mode. A student types
 * a teacher's code under "Join a class"; a teacher presses "Share this run" and
 * projects the dialog, which then shows the code
 * the server gave the shared run in letters big enough to read from the back
 * of a classroom, the link students open (with a Copy button), how many are
 * following (live, from `share` messages), and Stop / Start sharing; a small
 * "Join a class" form takes a code the other way round. The view never talks
 * to the server: it calls `act('share', on)` and `act('join', code)`, and
 * main.js sends or navigates.
 */

import { copyOrSelect, h } from '../dom.js';
import { normalizeCode } from '../class-mode.js';

/** The address a student opens to follow `code`: this page with `?follow=CODE`. */
export function followLink(code, location) {
  return `${location.origin}${location.pathname}?follow=${encodeURIComponent(code)}`;
}

/** Whether `hostname` means "this computer" (a link with it opens nothing elsewhere). */
export function isLoopback(hostname) {
  const host = String(hostname).replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host);
}

/** Share dialog view; `show()` opens it. */
export class ShareDialog {
  /** @param {HTMLElement} container the "share" slot */
  constructor(container, { i18n, act }) {
    this.i18n = i18n;
    this.act = act;
    this.code = null;
    this.followers = 0;
    /** Whether sharing was asked for and its code has not come yet. */
    this.starting = false;
    this.copyKey = null;

    // big letters for the room; spaced letters for screen readers ("K 7 Q 2 X M", not a word)
    this.codeText = h('span', { class: 'share-code-text', 'aria-hidden': 'true' });
    this.codeSr = h('span', { class: 'sr-only' });
    this.codeEl = h('p', { class: 'share-code', id: 'share-code' }, this.codeText, this.codeSr);
    this.link = h('input', { type: 'text', id: 'share-link', class: 'share-link', readonly: true, spellcheck: 'false',
      on: { focus: () => this.link.select() } });
    this.copyBtn = h('button', { type: 'button', class: 'btn share-copy', dataset: { i18n: 'share.copy' },
      on: { click: () => this.copy() } });
    this.copyStatus = h('p', { class: 'share-copy-status hint', role: 'status' });
    this.count = h('p', { class: 'share-count', role: 'status' });
    this.loopback = h('p', { class: 'share-loopback', role: 'note', dataset: { i18n: 'share.loopback' } });
    this.stopBtn = h('button', { type: 'button', class: 'btn share-stop', dataset: { i18n: 'share.stop' },
      on: { click: () => this.act('share', false) } });
    this.startBtn = h('button', { type: 'button', class: 'btn share-start', dataset: { i18n: 'share.start' },
      on: { click: () => this.start() } });
    this.joinInput = h('input', { type: 'text', id: 'share-join-code', class: 'share-join-code', maxlength: 8,
      autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', inputmode: 'text',
      'aria-describedby': 'share-join-problem', on: { input: () => this.say('') } });
    this.joinProblem = h('p', { class: 'share-join-problem', id: 'share-join-problem', role: 'alert' });
    this.onPanel = h('div', { class: 'share-on' },
      h('p', { class: 'share-code-label', id: 'share-code-label', dataset: { i18n: 'share.code' } }),
      this.codeEl,
      h('label', { for: 'share-link', class: 'share-link-label', dataset: { i18n: 'share.link' } }),
      h('div', { class: 'share-link-row' }, this.link, this.copyBtn),
      this.loopback,
      this.copyStatus,
      this.count);
    this.offText = h('p', { class: 'share-off', dataset: { i18n: 'share.off' } });

    this.title = h('h2', { id: 'share-title', dataset: { i18n: 'share.title' } });
    this.intro = h('p', { class: 'share-intro hint', dataset: { i18n: 'share.intro' } });
    this.dialog = h('dialog', { class: 'share-dialog', 'aria-labelledby': 'share-title' },
      this.title, this.intro,
      this.onPanel, this.offText,
      h('div', { class: 'share-actions' }, this.stopBtn, this.startBtn,
        h('form', { method: 'dialog' }, h('button', { class: 'btn share-close', value: 'close', dataset: { i18n: 'share.close' } }))),
      this.joinForm = h('form', { class: 'share-join', on: { submit: (e) => { e.preventDefault(); this.join(); } } },
        h('label', { for: 'share-join-code', class: 'share-join-label' },
          h('span', { class: 'share-join-title', dataset: { i18n: 'share.join' } }),
          h('span', { class: 'hint', dataset: { i18n: 'share.joinCode' } })),
        h('div', { class: 'share-join-row' }, this.joinInput,
          h('button', { type: 'submit', class: 'btn share-join-go', dataset: { i18n: 'share.joinGo' } })),
        this.joinProblem));
    container.append(this.dialog);
    this.render();
  }

  /** Whether the dialog is showing. */
  get open() {
    return this.dialog.open;
  }

  /** Show the dialog (sharing starts only when asked: a student opens it to join). */
  show() {
    this.copyKey = null;
    this.say('');
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  start() {
    this.starting = true;
    this.act('share', true);
    this.render();
  }

  async copy() {
    const key = await copyOrSelect(this.link);
    if (!key) return;
    this.copyKey = key;
    this.render();
  }

  join() {
    const code = normalizeCode(this.joinInput.value);
    if (!code) {
      this.say(this.i18n.t('share.badCode'));
      this.joinInput.focus();
      return;
    }
    this.act('join', code);
  }

  say(text) {
    this.joinProblem.textContent = text;
    this.joinInput.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  render() {
    const t = (k, p) => this.i18n.t(k, p);
    this.i18n.apply(this.dialog);
    const on = Boolean(this.code);
    this.dialog.dataset.sharing = on ? 'on' : this.starting ? 'starting' : 'off';
    this.title.dataset.i18n = on || this.starting ? 'share.title' : 'share.titleOff';
    this.intro.dataset.i18n = on || this.starting ? 'share.intro' : 'share.introOff';
    this.i18n.apply(this.dialog);
    this.onPanel.hidden = !on && !this.starting;
    this.offText.hidden = on || this.starting;
    this.codeText.textContent = on ? this.code : '······';
    this.codeSr.textContent = on ? this.code.split('').join(' ') : t('share.starting');
    this.link.value = on ? followLink(this.code, window.location) : '';
    this.copyBtn.disabled = !on;
    this.loopback.hidden = !on || !isLoopback(window.location.hostname);
    this.copyStatus.textContent = this.copyKey ? t(this.copyKey) : '';
    this.count.textContent = on ? t('share.followers', { n: this.followers }) : t('share.starting');
    this.stopBtn.hidden = !on;
    this.startBtn.hidden = on || this.starting;
    this.joinForm.hidden = on || this.starting; // a teacher sharing has no class to join
  }

  /** `share` messages (code, followers), `lang`; an error or a lost connection ends "starting". */
  update({ kind, msg }) {
    if (kind === 'share') {
      const was = this.code;
      if (msg.code !== this.code) this.copyKey = null;
      this.code = msg.code || null;
      this.followers = msg.followers || 0;
      this.starting = false;
      this.render();
      // the button that was pressed is hidden now: keep the keyboard in the dialog
      if (this.dialog.open && Boolean(was) !== Boolean(this.code)) {
        (this.code ? this.copyBtn : this.startBtn).focus();
      }
    } else if (kind === 'lang') this.render();
    else if ((kind === 'error' && msg.code !== 'unknown_code') || (kind === 'connection' && msg.state !== 'open')) {
      // refused (the notice says why) or the connection dropped: offer "Start sharing" again
      if (!this.starting) return;
      this.starting = false;
      this.render();
    }
  }
}
