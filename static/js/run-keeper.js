/**
 * The page's own copy of its run, so that a server restart loses nothing.
 *
 * The server sends a `save` (its run file: settings, every branch's changes
 * and the position, docs/protocol.md) with each `timeline`; the keeper keeps
 * the latest in the tab's sessionStorage with the session it belongs to, and
 * the class code the run is shared under. When a `run` says the server did not
 * know the session the page greeted it with (`unknown_session`: a restart, a
 * crash, a session freed), the keeper sends `load` with its copy at once and
 * holds back everything of the default run the server made meanwhile (so the
 * page never draws it, the address bar keeps the run's settings and the copy
 * is not overwritten); the restored run then comes in as any run does, and a
 * teacher who was sharing asks for the class's code again, with the share key the
 * server gave with it (so the class comes back even while another server process
 * still holds the code, and nobody without the key can take it). What happened
 * comes back to main.js as an event: `restored` (with the iteration the
 * restored run shows) or `lost` (no copy, or the server refused it: a new run).
 *
 * Knows nothing of the DOM; main.js hands it every server message first
 * ({@link RunKeeper#take}) and the connection's status.
 */

import { MAX_LOAD_BYTES } from './views/timeline.js';

/** sessionStorage key of the copy: {session, run}. */
export const COPY_KEY = 'bpl.runCopy';
/** sessionStorage key of the code the run is shared under with a class. */
export const CODE_KEY = 'bpl.shareCode';
/** sessionStorage key of that code's share key (proves the class is this page's). */
export const SHARE_KEY = 'bpl.shareKey';

/** Loads of one copy before the keeper gives up on it (each dropped connection asks again). */
const MAX_ATTEMPTS = 3;
const PASS = Object.freeze({ pass: true, event: null });
const HOLD = Object.freeze({ pass: false, event: null });

/** A tab's copy of its run, and the restore after the server forgot it. */
export class RunKeeper {
  /**
   * @param {{storage?: Storage|null, send: (msg: object) => void}} env `send` puts a
   *   message on the socket (the restore is the page's own doing: never confirmed)
   */
  constructor({ storage = null, send }) {
    this.storage = storage;
    this.send = send;
    /** The session of the page's own run (null while it follows a class's run). */
    this.session = null;
    /**
     * 'idle'; 'restoring' (load sent, the default run held back); 'redrawing' (the server
     * refused the copy: the default run asked for again); 'settling' (the restored run
     * came, its timeline says where it stands).
     */
    this.phase = 'idle';
    /** The connection dropped while restoring: the next run is answered with the copy again. */
    this.again = false;
    this.attempts = 0;
  }

  read(key) {
    try {
      return this.storage ? this.storage.getItem(key) : null;
    } catch {
      return null;
    }
  }

  write(key, value) {
    try {
      if (!this.storage) return;
      if (value === null) this.storage.removeItem(key);
      else this.storage.setItem(key, value);
    } catch {
      /* storage full or blocked: no copy, and a restart then starts a new run (and says so) */
    }
  }

  /** The kept copy {session, run, bytes} (bytes: of its `load` message), or null. */
  copy() {
    const text = this.read(COPY_KEY);
    try {
      const copy = JSON.parse(text);
      return copy && copy.run && copy.run.format === 'backprop-lab-run' ? { ...copy, bytes: text.length } : null;
    } catch {
      return null;
    }
  }

  /** The connection's status: a drop while restoring restores again on the next run. */
  onStatus(status) {
    if (status.state === 'closed' && this.phase === 'restoring') this.again = true;
  }

  /**
   * Look at one server message before the page does: whether to hand it on (`pass`),
   * and what happened (`event`: {kind: 'restored', iteration} or {kind: 'lost'}).
   * @param {object} msg
   * @returns {{pass: boolean, event: object|null}}
   */
  take(msg) {
    if (this.phase === 'restoring') {
      if (msg.type === 'run' && (msg.unknown_session || this.again)) {
        // a copy the server will not take (a connection closed on it) is given up on
        if (this.attempts < MAX_ATTEMPTS) return this.restore();
        this.phase = 'idle';
        return this.lost(msg);
      }
      if (msg.type === 'run') {
        this.phase = 'settling';
        this.own(msg);
        return PASS;
      }
      if (msg.type === 'error') {
        // the copy was refused (too large, from an older server…): show the server's own run
        this.phase = 'redrawing';
        this.send({ type: 'hello' });
      }
      return HOLD;
    }
    if (this.phase === 'redrawing') {
      if (msg.type !== 'run') return HOLD;
      this.phase = 'idle';
      return this.lost(msg);
    }
    if (this.phase === 'settling' && msg.type === 'timeline') {
      this.phase = 'idle';
      this.attempts = 0;
      const code = this.read(CODE_KEY);
      const key = this.read(SHARE_KEY);
      if (code) this.send({ type: 'share', on: true, code, ...(key ? { key } : {}) });
      return { pass: true, event: { kind: 'restored', iteration: msg.iteration, phase: msg.phase } };
    }
    if (msg.type === 'run' && msg.unknown_session) {
      const copy = this.copy();
      // a copy of another session's run (the tab's run was another) is not this one, and a
      // copy too large for a message (the server's max_message_bytes) cannot go back
      if (copy && (this.session === null || copy.session === this.session)
          && copy.bytes <= MAX_LOAD_BYTES) {
        this.attempts = 0;
        return this.restore();
      }
      return this.lost(msg);
    }
    if (msg.type === 'run') this.own(msg);
    else if (msg.type === 'save' && this.session) this.write(COPY_KEY, JSON.stringify({ session: this.session, run: msg.run }));
    else if (msg.type === 'share') {
      this.write(CODE_KEY, msg.code || null);
      this.write(SHARE_KEY, (msg.code && msg.key) || null);
    }
    return PASS;
  }

  restore() {
    this.phase = 'restoring';
    this.again = false;
    this.attempts += 1;
    this.send({ type: 'load', run: this.copy().run });
    return HOLD;
  }

  /** A new run where the page's was: the class's code went with the old one. */
  lost(msg) {
    this.own(msg);
    this.write(CODE_KEY, null);
    this.write(SHARE_KEY, null);
    return { pass: true, event: { kind: 'lost' } };
  }

  own(msg) {
    this.session = msg.session || null;
  }
}
