/**
 * The timeline: a scrubber over the whole run with markers (setting changed,
 * weight edited, loss spike, non-finite value), step back by phase or
 * iteration, jump to any iteration and phase, change a setting from the
 * current point (a branch when that point is in the past), switch branches,
 * save, open and export the run, and offer a link to it (url-state.js makes
 * the link; a run too long for one gets the run file offered instead).
 * Iterations are counted as everywhere on the page (counting.js): the first
 * is iteration 1, and "Go to iteration" takes that count.
 *
 * Built from (container, options) like every view; it never touches the
 * socket: it calls `act(name, arg)` ('seek', 'step-back', 'set', 'checkout',
 * 'load') and main.js sends the messages. It draws from `timeline` messages
 * (length, position, markers, branches) and keeps its position current from
 * `state` messages while the run plays. Seeks sent while dragging the
 * scrubber are throttled to one per {@link SEEK_INTERVAL_MS}; a playing run
 * pauses while its thumb is held and plays on from where it is let go. Only the back
 * buttons and the scrubber show at first, on a desk as on a phone (a projected
 * network stays big); the rest unfolds on demand, and the tab remembers the
 * learner's choice ({@link MORE_KEY} in sessionStorage). While the page follows
 * a class's run (read-only) a fieldset disables every control at once; the
 * details still unfold, to read the branches.
 */

import { copyOrSelect, downloadRunFile, h } from '../dom.js';
import { fmt } from '../format.js';
import { labelKey } from '../catalog.js';
import { changeIteration, lastIteration, pastEnd, recordIteration, seekFor, shownIteration } from '../counting.js';
import { MAX_LINK_CHARS } from '../run-link.js';

/** Minimum time between two seeks while the scrubber is dragged. */
export const SEEK_INTERVAL_MS = 90;
/** A `load` message must fit the server's max_message_bytes (64 KB by default). */
export const MAX_LOAD_BYTES = 60000;
const MARK_GLYPH = { set: '◆', edit: '✎', learn: '●', spike: '▲', nonfinite: '✕' };
/** sessionStorage key of the learner's choice to unfold "Change, branches, save" ('1') or not ('0'). */
export const MORE_KEY = 'bpl.timelineMore';

/** This tab's sessionStorage, or null where the browser blocks it. */
function tabStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Whether the learner unfolded the timeline's details in this tab (folded by default). */
export function moreOpen(storage = tabStorage()) {
  try {
    return Boolean(storage) && storage.getItem(MORE_KEY) === '1';
  } catch {
    return false;
  }
}

/** Remember the learner's choice for this tab (not at all where storage is blocked). */
export function rememberMore(open, storage = tabStorage()) {
  try {
    if (storage) storage.setItem(MORE_KEY, open ? '1' : '0');
  } catch {
    /* private mode: the choice just is not remembered */
  }
}

/** One-line summary of a logged change: "lr 0.3, optimizer adam", "L1.W[0,1] = 0.5" or "learn 3" (a drawing). */
export function describeChange(change) {
  if (!change) return '';
  if (change.learn) return `learn ${change.learn.label}`;
  if (change.edit) return `${change.edit.id}[${change.edit.index.join(',')}] = ${fmt(change.edit.value)}`;
  return Object.entries(change.set || {})
    .map(([k, v]) => (v && typeof v === 'object' ? `${k} ${v.name ?? JSON.stringify(v)}` : `${k} ${v}`))
    .join(', ');
}

/**
 * Where a marker's button jumps: the point the marker stands for. A change logged
 * before phase p of iteration i is shown after phase p − 1 (after the previous
 * iteration when p is forward); a spike's iteration is a count of whole iterations.
 * `phases`: the phases of an iteration, in order (the catalog's).
 */
export function markerTarget(m, phases) {
  const k = m.phase ? phases.indexOf(m.phase) : 0;
  return { iteration: m.iteration, phase: k > 0 ? phases[k - 1] : null };
}

/**
 * The iteration a marker names, counted as on the page: a change (`set`,
 * `edit`, `learn`) the first iteration it acts on, a halt the iteration it happened
 * in, a spike the metrics point's (taken after that iteration).
 */
export function markIteration(m) {
  if (m.kind === 'set' || m.kind === 'edit' || m.kind === 'learn') return changeIteration(m.iteration);
  if (m.kind === 'nonfinite') return recordIteration(m.iteration);
  return m.iteration;
}

/** The `seek` target of a position (completed iterations, the phase next). */
function seekAt(iteration, nextPhase, phases) {
  const k = phases.indexOf(nextPhase);
  return k > 0 ? { iteration, phase: phases[k - 1] } : { iteration, phase: null };
}

/** Timeline view. */
export class TimelineView {
  /**
   * @param {HTMLElement} container the "timeline" slot
   * @param {{t: (key: string, params?: object) => string, act: (name: string, arg?: any) => void,
   *   i18n: object, catalog: import('../catalog.js').Catalog}} options
   */
  constructor(container, { t, act, i18n, catalog }) {
    this.t = t;
    this.act = act;
    this.phases = catalog.phases;
    this.lrs = catalog.lrPresets();
    this.container = container;
    this.data = null; // the latest timeline message
    this.session = null;
    this.iteration = 0;
    this.nextPhase = 'forward';
    this.length = 0;
    this.endPhase = 'forward';
    this.link = null; // the address bar's link (url-state.js's LinkInfo)
    this.copyKey = null;
    this.playing = false;
    this.dragging = false;
    this.held = null; // the speed a run played at when its thumb was taken
    this.lastSeek = 0;
    this.pendingSeek = null;

    this.pos = h('p', { class: 'tl-pos', 'aria-live': 'polite' });
    this.scrub = h('input', {
      type: 'range', class: 'tl-scrub', min: 0, max: 0, step: 1, value: 0,
      dataset: { i18nAria: 'tl.scrub' },
      on: {
        pointerdown: (e) => this.grab(e),
        // (after its change, if any: a press that moved nothing has none)
        pointerup: () => setTimeout(() => this.letGo()),
        pointercancel: () => setTimeout(() => this.letGo()),
        lostpointercapture: () => setTimeout(() => this.letGo()),
        input: () => this.scrubbed(false),
        change: () => this.scrubbed(true),
      },
    });
    this.marks = h('div', { class: 'tl-marks' });
    this.indexBar = h('div', { class: 'tl-indexed' });
    const btn = (cls, key, fn, hint, aria) => h('button', {
      type: 'button', class: `btn ${cls}`, on: { click: fn },
      dataset: { i18n: key, ...(hint ? { keyHint: hint } : {}), ...(aria ? { i18nAria: aria } : {}) },
    });
    this.jumpIt = h('input', { type: 'number', class: 'tl-jump', min: 0, step: 1, inputmode: 'numeric', id: 'tl-jump' });
    this.jumpPhase = h('select', { class: 'tl-jump-phase', id: 'tl-jump-phase' },
      h('option', { value: '', dataset: { i18n: 'tl.phaseEnd' } }),
      this.phases.map((p) => h('option', { value: p, dataset: { i18n: `tl.phase.${p}` } })));
    const jumpForm = h('form', { class: 'tl-jump-form', on: { submit: (e) => { e.preventDefault(); this.jump(); } } },
      h('label', { for: 'tl-jump', dataset: { i18n: 'tl.jump' } }), this.jumpIt,
      h('label', { for: 'tl-jump-phase', class: 'sr-only', dataset: { i18n: 'tl.jumpPhase' } }), this.jumpPhase,
      h('button', { type: 'submit', class: 'btn tl-go', dataset: { i18n: 'tl.go' } }));
    this.jumpNote = h('p', { class: 'tl-jump-note', role: 'status' });

    this.lr = h('select', { class: 'tl-lr', id: 'tl-lr' }, this.lrs.map((v) => h('option', { value: String(v) }, String(v))));
    // an optimizer i18n.js has no label for shows as its name
    this.optimizer = h('select', { class: 'tl-optimizer', id: 'tl-optimizer' }, catalog.names('optimizers').map((o) => h('option',
      { value: o, dataset: i18n.has(labelKey('choice', o)) ? { i18n: labelKey('choice', o) } : null }, o)));
    const change = h('div', { class: 'tl-change' },
      h('h3', { class: 'ctl-h', dataset: { i18n: 'tl.changeHere' } }),
      h('div', { class: 'field-pair' },
        h('div', { class: 'field' }, h('label', { for: 'tl-lr', dataset: { i18n: 'ctl.lr' } }), this.lr),
        h('div', { class: 'field' }, h('label', { for: 'tl-optimizer', dataset: { i18n: 'tl.optimizer' } }), this.optimizer)),
      btn('tl-apply', 'tl.apply', () => this.applyHere()),
      h('p', { class: 'hint', dataset: { i18n: 'tl.changeHint' } }));

    this.branches = h('ul', { class: 'tl-branches' });
    const download = (name) => (e) => { e.preventDefault(); this.download(name); };
    this.saveLink = h('a', { class: 'btn tl-save', download: '', dataset: { i18n: 'tl.save' },
      on: { click: download('run.json') } });
    this.metricsLink = h('a', { class: 'btn tl-metrics-csv', download: '', dataset: { i18n: 'tl.metricsCsv' },
      on: { click: download('metrics.csv') } });
    this.weightsLink = h('a', { class: 'btn tl-weights-csv', download: '', dataset: { i18n: 'tl.weightsCsv' },
      on: { click: download('weights.csv') } });
    this.file = h('input', { type: 'file', class: 'tl-file', id: 'tl-file', accept: '.json,application/json',
      on: { change: () => this.openFile() } });
    this.status = h('p', { class: 'tl-status hint', role: 'status' });

    this.linkInput = h('input', { type: 'text', id: 'tl-link', class: 'tl-link-url', readonly: true, spellcheck: 'false',
      on: { focus: () => this.linkInput.select() } });
    this.linkRow = h('div', { class: 'tl-link-row' }, this.linkInput, btn('tl-copy-link', 'tl.copyLink', () => this.copyLink()));
    this.linkNote = h('p', { class: 'tl-link-note hint' });
    this.linkSave = btn('tl-link-save', 'tl.save', () => this.download('run.json'));
    this.linkStatus = h('p', { class: 'tl-link-status hint', role: 'status' });
    this.linkBox = h('div', { class: 'tl-link', hidden: true },
      h('label', { for: 'tl-link', class: 'ctl-h tl-link-label', dataset: { i18n: 'tl.link' } }),
      this.linkRow, this.linkNote, this.linkSave, this.linkStatus);

    // One row of back buttons and scrubber; the rest is folded (a projected network
    // stays big) until the learner unfolds it, which this tab then remembers.
    this.more = h('details', { class: 'tl-more', open: moreOpen(),
      on: { toggle: () => rememberMore(this.more.open) } });
    this.lock = h('fieldset', { class: 'tl-lock' },
      h('div', { class: 'tl-row' },
        btn('tl-back-iteration', 'tl.backIterationShort', () => this.act('step-back', 'iteration'), null, 'tl.backIteration'),
        btn('tl-back-phase', 'tl.backPhaseShort', () => this.act('step-back', 'phase'), '←', 'tl.backPhase'),
        h('div', { class: 'tl-track' }, this.indexBar, this.scrub, this.marks)),
      this.more);
    container.append(h('section', { class: 'panel timeline', 'aria-labelledby': 'tl-h' },
      h('div', { class: 'tl-head' }, h('h2', { id: 'tl-h', dataset: { i18n: 'tl.title' } }), this.pos),
      this.lock));
    this.more.append(
      h('summary', { dataset: { i18n: 'tl.more' } }),
      h('div', { class: 'tl-row' }, jumpForm, btn('tl-fastest', 'tl.fastest', () => this.fastest())),
      this.jumpNote,
      change,
      h('h3', { class: 'ctl-h', dataset: { i18n: 'tl.branches' } }), this.branches,
      h('div', { class: 'tl-files' }, this.saveLink, this.metricsLink, this.weightsLink, this.file,
        h('label', { class: 'btn tl-open', for: 'tl-file', dataset: { i18n: 'tl.open' } })),
      this.status,
      this.linkBox);
    // the iteration shown, as files that redo it by hand (step-downloads.js), loaded when
    // the fold is first open (the first load leaves it for later)
    this.stepFiles = null;
    this.lastEvent = null;
    const loadFiles = () => {
      if (this.filesLoading || !this.more.open) return;
      this.filesLoading = import('./step-downloads.js').then(({ StepDownloads }) => {
        this.stepFiles = new StepDownloads(this.more, { i18n });
        if (this.lastEvent) this.stepFiles.update(this.lastEvent);
      });
    };
    this.more.addEventListener('toggle', loadFiles);
    loadFiles();
    this.render();
  }

  /** Take one page event ({kind, msg, model}). */
  update({ kind, msg, model }) {
    this.model = model;
    this.lastEvent = { kind, msg, model };
    if (this.stepFiles) this.stepFiles.update(this.lastEvent);
    if (kind === 'run') {
      this.session = msg.session;
      this.setLinks();
      this.syncSettings(msg.config);
      if (msg.state) this.takeState(msg.state);
    } else if (kind === 'state') {
      this.takeState(msg);
    } else if (kind === 'frame') {
      const s = model.state;
      if (s.playing && (s.iteration !== this.iteration || s.next_phase !== this.nextPhase)) this.takeState(s);
    } else if (kind === 'timeline') {
      this.data = msg;
      this.length = msg.length;
      this.endPhase = msg.end_phase || this.phases[0];
      this.iteration = msg.iteration;
      this.nextPhase = msg.phase;
      if (msg.settings) this.syncSettings(msg.settings);
      this.render();
    } else if (kind === 'link') {
      if (!this.link || msg.kind !== this.link.kind || msg.href !== this.link.href) this.copyKey = null;
      this.link = msg;
      this.renderLink();
    } else if (kind === 'lang') {
      this.render();
      this.renderLink();
    } else if (kind === 'follow-mode') {
      this.lock.disabled = msg.readOnly;
    } else if (kind === 'connection' && model && model.session !== this.session) {
      this.session = model.session;
      this.setLinks();
    }
  }

  takeState(state) {
    this.playing = state.playing;
    this.pos.setAttribute('aria-live', state.playing ? 'off' : 'polite'); // (announcer.js)
    this.iteration = state.iteration;
    this.nextPhase = state.next_phase;
    // the run grows while playing (its head is where the play is)
    if (pastEnd(seekAt(state.iteration, state.next_phase, this.phases), this.length, this.endPhase)) {
      this.length = state.iteration;
      this.endPhase = state.next_phase;
    }
    this.renderPosition();
  }

  syncSettings(s) {
    if (!s) return;
    if (s.lr !== undefined && !this.lr.matches(':focus')) {
      if (!this.lrs.includes(s.lr)) this.lr.append(h('option', { value: String(s.lr) }, String(s.lr)));
      this.lr.value = String(s.lr);
    }
    if (s.optimizer && !this.optimizer.matches(':focus')) this.optimizer.value = s.optimizer.name;
    this.current = { lr: s.lr, optimizer: s.optimizer ? s.optimizer.name : undefined };
  }

  setLinks() {
    if (!this.session) return;
    this.saveLink.href = 'runs/run.json';
    this.metricsLink.href = 'runs/metrics.csv';
    this.weightsLink.href = 'runs/weights.csv';
  }

  /** Download `name` of this session's run (dom.js's downloadRunFile). */
  download(name) {
    if (!this.session) return;
    downloadRunFile(name, this.session)
      .catch(() => this.say(this.t('tl.downloadFailed')));
  }

  // ---- actions ---------------------------------------------------------------------

  /** The thumb taken: a playing run holds still under it (it ran on, and the counters
   * flickered between the thumb and the play) and plays on from where it is let go. */
  grab(e) {
    if (e.button) return; // (the primary button, a finger or a pen)
    this.dragging = true;
    const m = this.model;
    // unless this page has asked for a pause not yet answered, or a learned drawing's
    // step (a play of its own, that stops after its update)
    if (m && m.state.playing && m.asked !== 'pause' && m.asked !== 'learn' && !this.lock.disabled) {
      this.held = m.state.speed;
      this.act('pause');
    }
  }

  letGo() {
    if (this.pendingSeek !== null) this.seekNow(); // (a drag ended where it began: no change)
    this.dragging = false;
    if (this.held && this.model.asked !== 'play') this.act('play-at', this.held); // (not if played since)
    this.held = null;
  }

  seekNow() {
    clearTimeout(this.pendingSeek);
    this.pendingSeek = null;
    this.lastSeek = performance.now();
    this.act('seek', { iteration: Number(this.scrub.value) });
  }

  scrubbed(final) {
    const iteration = Number(this.scrub.value);
    this.iteration = iteration;
    this.renderPosition(this.phases[0]); // the point after that many iterations, until the server says
    clearTimeout(this.pendingSeek);
    this.pendingSeek = null;
    const now = performance.now();
    if (final) {
      this.seekNow();
      this.letGo();
    } else if (now - this.lastSeek >= SEEK_INTERVAL_MS) {
      this.seekNow();
    } else {
      this.pendingSeek = setTimeout(() => this.seekNow(), SEEK_INTERVAL_MS - (now - this.lastSeek));
    }
  }

  /** Play as fast as the server goes (its max_speed; it paces heavy runs itself), this
   * once: after a pause, Play goes back to the speed menu's choice. */
  fastest() {
    const max = this.data && this.data.max_speed;
    if (max) this.act('play-fastest', max);
  }

  /** Go to the iteration typed (counted from 1) and phase; past the run's end, say where it ends. */
  jump() {
    const n = Math.max(0, Math.floor(Number(this.jumpIt.value)));
    if (!Number.isFinite(n)) return;
    const target = seekFor(n, this.jumpPhase.value || null);
    if (pastEnd(target, this.length, this.endPhase)) {
      this.jumpNote.textContent = this.t('tl.pastEnd', { last: lastIteration(this.length, this.endPhase) });
      return;
    }
    this.jumpNote.textContent = '';
    this.act('seek', target);
  }

  /** Copy the run's link (or select it, where the clipboard is out of reach). */
  async copyLink() {
    const key = await copyOrSelect(this.linkInput);
    if (!key) return;
    this.copyKey = key;
    this.renderLink();
  }

  applyHere() {
    const changes = {};
    const lr = Number(this.lr.value);
    if (!this.current || lr !== this.current.lr) changes.lr = lr;
    if (!this.current || this.optimizer.value !== this.current.optimizer) changes.optimizer = { name: this.optimizer.value };
    if (Object.keys(changes).length) this.act('set', changes);
  }

  openFile() {
    const f = this.file.files && this.file.files[0];
    if (!f) return;
    f.text().then((text) => {
      let run;
      try {
        run = JSON.parse(text);
      } catch {
        run = null;
      }
      if (!run || run.format !== 'backprop-lab-run') {
        this.say(this.t('tl.badFile'));
        return;
      }
      delete run.metrics; // for people and spreadsheets; the server recomputes its own
      const bytes = new Blob([JSON.stringify({ type: 'load', run })]).size;
      if (bytes > MAX_LOAD_BYTES) {
        this.say(this.t('tl.tooBig', { kb: Math.ceil(bytes / 1024) }));
        return;
      }
      this.say('');
      this.act('load', run);
    }).finally(() => { this.file.value = ''; });
  }

  say(text) {
    this.status.textContent = text;
  }

  // ---- drawing ---------------------------------------------------------------------

  /** The address bar's link: the address to copy and what it holds, or why there is none. */
  renderLink() {
    const l = this.link;
    this.linkBox.hidden = !l;
    if (!l) return;
    const tooLong = l.kind === 'too-long';
    this.linkBox.dataset.kind = l.kind;
    this.linkRow.hidden = tooLong;
    this.linkSave.hidden = !tooLong;
    if (!tooLong && this.linkInput.value !== l.href) this.linkInput.value = l.href;
    const at = l.position ? shownIteration(l.position.iteration, l.position.phase) : 0;
    this.linkNote.textContent = tooLong
      ? this.t('tl.link.tooLong', { chars: l.chars.toLocaleString('en-US'), max: MAX_LINK_CHARS.toLocaleString('en-US') })
      : this.t(l.kind === 'run' ? 'tl.link.run' : 'tl.link.settings', { n: at });
    this.linkStatus.textContent = this.copyKey && !tooLong ? this.t(this.copyKey) : '';
  }

  /** The position line and the scrubber; `phase`: the phase next there (the server's, unless dragging). */
  renderPosition(phase = this.nextPhase) {
    const len = Math.max(this.length, this.iteration);
    this.scrub.max = String(len);
    if (!this.dragging) this.scrub.value = String(this.iteration);
    // shown as counted everywhere on the page; the scrubber's steps are whole iterations done
    const it = shownIteration(this.iteration, phase);
    const last = Math.max(it, lastIteration(this.length, this.endPhase));
    this.scrub.setAttribute('aria-valuetext', this.t('tl.pos', { it, len: last }));
    this.pos.textContent = `${this.t('tl.pos', { it, len: last })} · ${this.t('tl.next', { phase: this.t(`tl.phase.${phase}`) })}`;
    this.container.dataset.iteration = String(this.iteration);
    this.container.dataset.phase = this.nextPhase;
    this.container.dataset.length = String(len);
  }

  render() {
    this.renderPosition();
    const d = this.data;
    const len = Math.max(this.length, 1);
    this.marks.replaceChildren();
    this.branches.replaceChildren();
    if (!d) return;
    this.container.dataset.branch = String(d.branch);
    const indexed = d.indexed ?? d.length;
    this.indexBar.style.width = `${Math.min(100, (100 * indexed) / len)}%`;
    this.indexBar.hidden = indexed >= d.length;
    for (const m of d.markers) {
      const what = m.kind === 'spike' ? fmt(m.loss) : m.kind === 'nonfinite' ? m.where : describeChange(m);
      const label = this.t(`tl.mark.${m.kind}`, { it: markIteration(m), what, loss: fmt(m.loss), where: m.where });
      const mark = h('button', {
        type: 'button', class: `tl-mark tl-mark-${m.kind}`, title: label, 'aria-label': label,
        dataset: { kind: m.kind, iteration: String(m.iteration) },
        on: { click: () => this.act('seek', markerTarget(m, this.phases)) },
      }, MARK_GLYPH[m.kind] || '•');
      // through CSSOM: a style attribute is inline style, which the page's CSP refuses
      mark.style.left = `${Math.min(100, (100 * m.iteration) / len)}%`;
      this.marks.append(mark);
    }
    for (const b of d.branches) {
      const parts = [b.parent === null ? this.t('tl.branchRoot') : this.t('tl.branch', { id: b.id })];
      if (b.change) parts.push(this.t('tl.branchFrom', { it: changeIteration(b.fork.iteration), change: describeChange(b.change) }));
      parts.push(this.t('tl.branchLen', { len: b.length }));
      if (b.train_loss !== null && b.train_loss !== undefined) parts.push(this.t('tl.branchLoss', { loss: fmt(b.train_loss) }));
      if (b.halted) parts.push(this.t('tl.halted'));
      const active = b.id === d.branch;
      this.branches.append(h('li', {},
        h('button', {
          type: 'button', class: 'btn tl-branch', 'aria-pressed': active ? 'true' : 'false',
          dataset: { branch: String(b.id) },
          on: { click: () => { if (!active) this.act('checkout', b.id); } },
        }, parts.join(' · '))));
    }
  }
}
