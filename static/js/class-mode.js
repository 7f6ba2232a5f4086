/**
 * Class mode on the page (docs/protocol.md): a teacher shares the run ("Class" →
 * "Start sharing"); a page opened with `?follow=CODE` follows that run read-only.
 *
 * Following, the page greets with `follow` instead of its session, never keeps
 * the teacher's run in the address bar, and lets through only the actions that
 * change nothing on the server ({@link FOLLOWER_ACTIONS}); views learn of it
 * from `follow-mode` events ({readOnly, code, status}).
 *
 * The class holds the page's class-mode state and knows nothing of the socket
 * or the DOM beyond the address bar: main.js gives it `send`, `dispatch` and
 * the socket's `stop`, and routes `follow` and `share` messages to it.
 */

/** The characters of a class code (docs/protocol.md): no 0/O, 1/I/L to mix up. */
export const CODE_RE = /^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/;

/** A code as typed ("k7q 2xm", "K7Q-2XM") → "K7Q2XM", or null when it cannot be one. */
export function normalizeCode(text) {
  const code = String(text || '').toUpperCase().replace(/[\s-]/g, '');
  return CODE_RE.test(code) ? code : null;
}

/** What a page following a class's run may still do: nothing here reaches the server's run. */
export const FOLLOWER_ACTIONS = Object.freeze(new Set(['lang', 'lang-next', 'present', 'present-all', 'help', 'fork', 'leave', 'join', 'rejoin',
  'lesson-check'])); // a student's own answer to the teacher's lesson step, judged for them alone

/** The page's address without `?follow=` (other parameters kept). */
export function ownAddress(href) {
  const url = new URL(href);
  url.searchParams.delete('follow');
  return url.toString();
}

/** The class code a page address asks to follow ('' for none), upper-cased and cleaned. */
export function askedCode(search) {
  const asked = new URLSearchParams(search).get('follow');
  if (asked === null) return '';
  return normalizeCode(asked) || asked.replace(/[^A-Za-z0-9]/g, '').slice(0, 16).toUpperCase();
}

/** One page's class mode: the run it follows, or the code its own run is shared under. */
export class ClassMode {
  /**
   * @param {{location: Location, history: History, dispatch: (kind: string, msg: object) => void,
   *   send: (msg: object) => void, stop: () => void}} env
   */
  constructor({ location, history, dispatch, send, stop }) {
    this.location = location;
    this.history = history;
    this.dispatch = dispatch;
    this.send = send;
    this.stop = stop;
    /** The code this run is shared under (teacher), from `share` messages; null when not shared. */
    this.shareCode = null;
    /** How many follow the shared run (the teacher confirms ending their class). */
    this.followers = 0;
    /**
     * The class run this page follows: null (its own run) or {code, status} with status
     * 'joining' (asked for in `hello`), 'on' (following), 'forking' (a copy was asked for),
     * 'stopped' or 'ended' (the teacher's sharing is over; the page keeps showing the last
     * state, read-only, and no longer reconnects).
     */
    this.follow = null;
  }

  /** Whether the page follows a class's run (read-only). */
  get following() {
    return Boolean(this.follow);
  }

  /** Whether `name` may run now (a follower's page changes nothing on the server). */
  allows(name) {
    return !this.follow || FOLLOWER_ACTIONS.has(name);
  }

  /** What the `hello` adds: the class to follow again after a dropped connection. */
  hello() {
    const f = this.follow;
    return f && ['joining', 'on', 'forking'].includes(f.status) ? { follow: f.code } : {};
  }

  /** Enter, change or leave class mode, and tell the views. */
  set(next) {
    this.follow = next;
    document.documentElement.classList.toggle('following', Boolean(next));
    this.dispatch('follow-mode', { readOnly: Boolean(next), code: next ? next.code : null, status: next ? next.status : null });
  }

  /** Start as the address asks: following `code`, or on the page's own run. */
  start(code) {
    this.set(code ? { code, status: 'joining' } : null);
  }

  /**
   * This page has a run of its own now (a fork, or the server's answer to an unknown or full
   * class): leave class mode and drop `?follow=` from the address, so a reload resumes this run.
   */
  ownRun() {
    if (!this.follow) return;
    this.history.replaceState(this.history.state, '', ownAddress(this.location.href));
    this.set(null);
  }

  /** A message from the server that concerns class mode. */
  onMessage(msg) {
    if (msg.type === 'follow') this.onFollow(msg);
    else if (msg.type === 'share') {
      this.shareCode = msg.code || null;
      this.followers = this.shareCode ? msg.followers || 0 : 0;
    }
    else if (msg.type === 'run' && msg.session) this.ownRun();
  }

  /** A `follow` message: following now, sharing over, or forked. */
  onFollow(msg) {
    if (msg.active) this.set({ code: msg.code, status: 'on' });
    else if (msg.reason === 'forked') {
      this.ownRun();
      this.dispatch('notice', { key: 'follow.forked', announcesRun: true }); // the copy's run comes next
    } else if (this.follow) {
      this.set({ code: this.follow.code, status: msg.reason === 'ended' ? 'ended' : 'stopped' });
      // keep the teacher's last state on screen: a reconnect would open an unasked run
      this.stop();
    }
  }

  /** The page actions of class mode, by name (merged into main.js's table). */
  actions() {
    return {
      share: (on) => {
        if (on && this.shareCode) return; // already shared: the dialog shows its code
        this.send({ type: 'share', on });
      },
      join: (code) => this.location.assign(`${this.location.pathname}?follow=${encodeURIComponent(code)}`),
      fork: () => {
        if (!this.follow || this.follow.status !== 'on') return; // a second tap while the copy is made
        this.set({ code: this.follow.code, status: 'forking' });
        this.send({ type: 'fork' });
      },
      rejoin: () => this.follow && this.location.assign(`${this.location.pathname}?follow=${encodeURIComponent(this.follow.code)}`),
      leave: () => this.location.assign(ownAddress(this.location.href)),
    };
  }
}
