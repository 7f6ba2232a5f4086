/**
 * Shareable state: the run in the page's URL. A run that is its settings
 * alone (seed included) is written as a readable query (url-settings.js); a
 * run with more (a change along the way, a branch, a position past the start)
 * as its whole run file (run-link.js: `run=`), so a link always reproduces the
 * run it was made from, number for number, at the point it was made.
 * {@link UrlSync} owns the address bar; the settings table's functions are
 * re-exported here for the callers that know this module.
 */

import {
  addressWith, completeSettings, decodeSettings, encodeSettings, urlProps,
} from './url-settings.js';
import { MAX_LINK_CHARS, PARTIAL_PARAM, RUN_PARAM, decodeRun, encodeRun, hasHistory } from './run-link.js';

export {
  addressWith, completeSettings, decodeSettings, encodeSettings, mergeSettings, shareUrl, urlProps, writeUrl,
} from './url-settings.js';

/** sessionStorage key of the query this tab last wrote. */
const WRITTEN_KEY = 'bpl.urlQuery';

/** Whether this document is a reload (the browser's navigation timing; false where unknown). */
function wasReloaded() {
  try {
    const [nav] = globalThis.performance.getEntriesByType('navigation');
    return Boolean(nav) && nav.type === 'reload';
  } catch {
    return false;
  }
}

/**
 * What the address bar offers as a link, for the views (`link` events):
 * `kind` 'settings' (the run's settings: it starts from iteration 0),
 * 'run' (the whole run file, at `position`) or 'too-long' (the whole run would
 * need `chars` characters, more than run-link.js's MAX_LINK_CHARS: the address
 * holds the settings and `partial=1`, and `href` is null).
 * @typedef {{kind: 'settings'|'run'|'too-long', href: string|null, chars: number,
 *   position: {iteration: number, phase: string}|null}} LinkInfo
 */

/**
 * Keeps the address bar and the run in step. A link configures (settings) or
 * opens (`run=`, a `load` of its run file) the first run the page receives,
 * once: its settings are complete on their own (the catalog's defaults for
 * what it leaves out, never the tab's run before). Every later run, and each
 * `save` the server sends with the timeline, writes the run back into the URL,
 * so the address is always a link that reproduces the run as it is now. A
 * reload of the tab's own address resumes its session instead — and so does
 * any reload of a tab that has written an address: the run's link is encoded
 * after each step, asynchronously, and a reload in that moment may load the
 * address before it (the browser's copy of the URL lags the page's newest
 * write), which must not rewind the run by a step. main.js feeds
 * it the page's own `run`, `save` and `error` messages (never a class's).
 */
export class UrlSync {
  /**
   * @param {{location: Location, history: History, send: (msg: object) => void, storage?: Storage,
   *   catalog: import('./catalog.js').Catalog, onLink?: (link: LinkInfo) => void,
   *   notice?: (key: string, announcesRun: boolean) => void, reloaded?: boolean}} env
   *   `reloaded`: whether this document is a reload of the tab's (by default, as the
   *   browser's navigation timing says)
   */
  constructor({ location, history, send, storage, catalog, onLink, notice, reloaded = wasReloaded() }) {
    this.location = location;
    this.history = history;
    this.send = send;
    this.storage = storage || null;
    this.catalog = catalog;
    this.firstPhase = catalog.phases ? catalog.phases[0] : 'forward';
    this.props = urlProps(catalog);
    this.onLink = onLink || (() => {});
    this.notice = notice || (() => {});
    const query = new URLSearchParams(location.search);
    this.fromLink = decodeSettings(location.search, this.props);
    /** The link's compressed run file, or null. */
    this.linkRun = query.get(RUN_PARAM);
    /** The link says it holds only the settings of a run too long for a link. */
    this.partial = query.has(PARTIAL_PARAM);
    const written = this.read();
    // the tab's own address; or a reload of a tab that wrote one (its link was applied)
    const own = written === location.search.replace(/^\?/, '') || (reloaded && written !== null);
    /** Whether the link (if any) has been applied: nothing more to do for it. */
    this.done = own || (this.linkRun === null && this.fromLink.count === 0);
    this.decoded = null;
    /** A link's `configure` or `load` was sent and the run it makes has not come yet. */
    this.waiting = false;
    /** The server sends `save` messages: they, not `run`, write the address. */
    this.sawSave = false;
    this.latestRun = null; // the latest `save`'s run file
    this.latestConfig = null; // the latest `run`'s settings
    this.writes = 0; // orders the writes: a slow encoding never overwrites a newer run
    /** While a lesson is open the address is the lesson's link (lessons/lesson-panel.js): not written here. */
    this.held = false;
  }

  read() {
    try {
      return this.storage ? this.storage.getItem(WRITTEN_KEY) : null;
    } catch {
      return null;
    }
  }

  remember(query) {
    try {
      if (this.storage) this.storage.setItem(WRITTEN_KEY, query);
    } catch {
      /* private mode: a reload then re-applies the link, which is the same run */
    }
  }

  /** One of the page's own messages: `run`, `save` or `error` (others are ignored); true
   * for the link's refusal. */
  onMessage(msg) {
    if (msg.type === 'run') this.onRun(msg);
    else if (msg.type === 'save') this.onSave(msg);
    else if (msg.type === 'error' && this.waiting) {
      // the link's run was refused (the notice says why): show the run the page is on
      this.waiting = false;
      this.rewrite();
      return true;
    }
    return false;
  }

  /** A `run` message arrived: apply the link once, else record the run in the URL. */
  onRun(msg) {
    this.latestConfig = msg.config;
    if (!this.done) {
      this.done = true;
      this.applyLink(msg);
      return;
    }
    this.waiting = false;
    // a `save` follows with the timeline and writes the whole run
    if (!this.sawSave) this.rewrite();
  }

  /** A `save` message: the run as it is now, for the address. */
  onSave(msg) {
    this.sawSave = true;
    this.latestRun = msg.run;
    if (this.done && !this.waiting) this.rewrite();
  }

  /** Open the link on the page's first run: `load` its run file, or `configure` its settings. */
  applyLink(msg) {
    if (this.linkRun !== null) {
      this.waiting = true;
      if (!this.decoded) this.decoded = decodeRun(this.linkRun).catch(() => null);
      this.decoded.then((run) => {
        if (run) {
          this.send({ type: 'load', run });
          return;
        }
        this.waiting = false;
        this.notice('link.broken', false);
        this.rewrite();
      });
      return;
    }
    if (this.partial) this.notice('link.partial', true);
    const want = completeSettings(this.fromLink.settings, this.catalog);
    if (encodeSettings(want, this.props) !== encodeSettings(msg.config, this.props)) {
      this.waiting = true;
      // the link's own settings: the server gives the rest their defaults
      this.send({ type: 'configure', config: this.fromLink.settings });
      return;
    }
    this.rewrite();
  }

  /**
   * A `configure` the page makes while the link's own is on its way was built on the run
   * before the link's (the server's first, which the menus still show): the same change,
   * made to the link's settings instead, so that neither the learner's change nor the
   * link's settings are lost. Any other config passes as it is.
   * @param {object} config whole settings, as the controls send them
   * @returns {object}
   */
  rebase(config) {
    if (!this.waiting || this.linkRun !== null || !this.latestConfig) return config;
    const out = completeSettings(this.fromLink.settings, this.catalog);
    for (const [k, v] of Object.entries(config)) {
      if (JSON.stringify(v) !== JSON.stringify(this.latestConfig[k])) out[k] = structuredClone(v);
    }
    return out;
  }

  /** Write the address for the latest run the page knows (asynchronous for a whole run). */
  rewrite() {
    const n = ++this.writes;
    const run = this.latestRun;
    if (!run) {
      if (this.latestConfig) this.put('settings', encodeSettings(this.latestConfig, this.props), null, 0);
      return;
    }
    if (!hasHistory(run, this.firstPhase)) {
      this.put('settings', encodeSettings(run.settings, this.props), run, 0);
      return;
    }
    encodeRun(run).then((text) => {
      if (n !== this.writes) return; // a newer run came meanwhile
      const query = `${RUN_PARAM}=${text}`;
      const chars = addressWith(query, this.location, this.props).length;
      if (chars <= MAX_LINK_CHARS) this.put('run', query, run, chars);
      else this.put('too-long', `${encodeSettings(run.settings, this.props)}&${PARTIAL_PARAM}=1`, run, chars);
    });
  }

  put(kind, query, run, chars) {
    if (this.held) return;
    const href = addressWith(query, this.location, this.props);
    if (href !== this.location.href) this.history.replaceState(this.history.state, '', href);
    this.remember(this.location.search.replace(/^\?/, ''));
    this.onLink({ kind, href: kind === 'too-long' ? null : href, chars: chars || href.length, position: run ? run.position || null : null });
  }
}
