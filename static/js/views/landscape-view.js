/**
 * The loss landscape panel: the loss over a 2-D slice of weight space through
 * the current point, as a heat map with contour lines, the run's descent path on
 * it (a dot per iteration, older dots fainter) and the next step as an arrow from
 * the current point, which is the centre (the map itself: views/landscape-map.js).
 *
 * Numbers come from the server's `landscape` message (docs/protocol.md): the
 * engine's loss on the training set over a `size` × `size` grid, the path's
 * projected points and the next step's projection. The page only draws them.
 *
 * Controls: open/close (the server computes nothing while closed), the slice
 * (two random directions, the last step and one across it, or two chosen
 * weights, each picked from the run's parameter entries) and the zoom (the
 * grid's half-width halves or doubles, fits the path, or goes back to the
 * slice's own; +, −, F and 0 on the focused map). A class following a teacher
 * sees the teacher's landscape, its controls locked. Motion: the arrow grows in
 * when a step is shown one at a time, unless the user prefers reduced motion.
 */

import { h } from '../dom.js';
import { fmt, sig } from '../format.js';
import { LandscapeMap, lossRgb } from './landscape-map.js';

/** The slices the server offers (server/protocol.py `Landscape.mode`). */
const MODES = ['random', 'step', 'weights'];
/** Parameter entries offered as axes, at most (a wide network has thousands). */
const MAX_ENTRIES = 600;
/** How long the arrow takes to grow in (ms), when motion is welcome. */
const GROW_MS = 250;

/** The loss landscape panel; see the module comment. */
export class LandscapePanel {
  /**
   * @param {HTMLElement} container the "landscape" slot
   * @param {{t: (key: string, params?: object) => string, act: (name: string, arg?: any) => void, motion?: () => boolean}} options
   */
  constructor(container, { t, act, motion }) {
    this.t = t;
    this.act = act;
    this.motion = motion || (() => true);
    this.open = false;
    this.closing = false;
    this.readOnly = false;
    this.msg = null;
    this.problem = null;
    this.request = { mode: 'random', size: 31, span: null, a: null, b: null };
    this.entries = [];
    this.fast = false;
    this.anim = 0;
    this.section = h('section', { class: 'panel bpl-landscape', dataset: { view: 'landscape' } });
    this.head = h('h2', { id: 'ls-h' });
    this.toggleBtn = h('button', { type: 'button', class: 'btn btn-small ls-toggle', 'aria-expanded': 'false',
      'aria-controls': 'ls-body', on: { click: () => this.setOpen(!this.open) } });
    this.section.setAttribute('aria-labelledby', 'ls-h');
    this.intro = h('p', { class: 'hint ls-intro' });
    this.modeSel = h('select', { class: 'ls-mode', on: { change: () => this.choose({ mode: this.modeSel.value }) } });
    this.aSel = h('select', { class: 'ls-axis-a', on: { change: () => this.chooseAxes() } });
    this.bSel = h('select', { class: 'ls-axis-b', on: { change: () => this.chooseAxes() } });
    this.modeLabel = h('span');
    this.aLabel = h('span');
    this.bLabel = h('span');
    this.aField = h('label', { class: 'field' }, this.aLabel, this.aSel);
    this.bField = h('label', { class: 'field' }, this.bLabel, this.bSel);
    this.zoomIn = h('button', { type: 'button', class: 'btn btn-small ls-zoom-in', on: { click: () => this.zoom(0.5) } }, '+');
    this.zoomOut = h('button', { type: 'button', class: 'btn btn-small ls-zoom-out', on: { click: () => this.zoom(2) } }, '−');
    this.zoomReset = h('button', { type: 'button', class: 'btn btn-small ls-zoom-reset', on: { click: () => this.choose({ span: null }) } });
    this.zoomFit = h('button', { type: 'button', class: 'btn btn-small ls-zoom-fit', on: { click: () => this.fit() } });
    this.zoomLabel = h('span', { class: 'ls-zoom-label' });
    this.zoomGroup = h('div', { class: 'ls-zoom', role: 'group' }, this.zoomLabel, this.zoomOut, this.zoomIn, this.zoomFit, this.zoomReset);
    this.controls = h('div', { class: 'ls-controls' },
      h('label', { class: 'field' }, this.modeLabel, this.modeSel), this.aField, this.bField, this.zoomGroup);
    this.map = new LandscapeMap({ axisName: (k) => this.axisName(k), onKey: (e) => this.onKey(e) });
    this.canvas = this.map.canvas;
    this.bar = h('canvas', { class: 'ls-bar', 'aria-hidden': 'true' });
    this.barLo = h('span', { class: 'ls-bar-lo' });
    this.barHi = h('span', { class: 'ls-bar-hi' });
    this.barTitle = h('span', { class: 'ls-bar-title' });
    this.key = h('ul', { class: 'ls-key' });
    this.legend = h('div', { class: 'ls-legend' },
      h('div', { class: 'ls-scale' }, this.barTitle, h('div', { class: 'ls-bar-row' }, this.barLo, this.bar, this.barHi)), this.key);
    this.note = h('p', { class: 'ls-note', 'aria-live': 'polite' });
    this.summary = h('p', { class: 'sr-only', 'aria-live': 'polite' });
    this.figure = h('figure', { class: 'ls-figure' }, this.map.root, this.legend);
    this.body = h('div', { class: 'ls-body', id: 'ls-body', hidden: true },
      this.intro, this.controls, this.figure, this.note, this.summary);
    // what Show brings, where the panel takes a projected lesson's big cell while closed
    this.closedHint = h('p', { class: 'hint ls-closed' });
    this.section.append(h('div', { class: 'ls-head' }, this.head, this.toggleBtn), this.closedHint, this.body);
    container.append(this.section);
    this.paintBar();
    this.resizeObserver = typeof ResizeObserver === 'function' ? new ResizeObserver(() => this.map.draw()) : null;
    if (this.resizeObserver) this.resizeObserver.observe(this.canvas);
    this.relabel();
  }

  // ---- requests ------------------------------------------------------------------

  /** Open or close the view: the server computes the landscape only while it is open. */
  setOpen(on) {
    if (this.readOnly) return;
    this.open = Boolean(on);
    this.problem = null;
    this.closing = !this.open;
    if (this.open) this.send();
    else {
      this.act('landscape', { open: false });
      this.msg = null;
      this.map.msg = null;
    }
    this.summary.textContent = '';
    this.sync();
  }

  /** Change part of the slice (mode, axes, span) and ask for it. */
  choose(change) {
    if (this.readOnly) return;
    const next = { ...this.request, ...change };
    if ('mode' in change && change.mode !== this.request.mode) next.span = null;
    if (next.mode === 'weights' && !(next.a && next.b)) {
      next.a = this.entries[0] ? this.entries[0].value : null;
      next.b = this.entries[1] ? this.entries[1].value : null;
    }
    this.request = next;
    this.problem = null;
    if (this.open) this.send();
    this.sync();
  }

  chooseAxes() {
    const pick = (sel) => this.entries.find((e) => e.key === sel.value);
    const a = pick(this.aSel); const b = pick(this.bSel);
    this.choose({ a: a ? a.value : null, b: b ? b.value : null });
  }

  /** Zoom by a factor of the current half-width (0.5: in, 2: out). */
  zoom(factor) {
    const span = this.msg && this.msg.open ? Number(this.msg.span) : null;
    if (!span) return;
    this.choose({ span: Math.min(1000, Math.max(1e-6, span * factor)) });
  }

  /** Zoom so the path and the arrow fill the picture (a quarter margin). */
  fit() {
    const m = this.msg;
    if (!m || !m.open) return;
    let r = 0;
    const pts = [...m.path.xy, ...(m.step ? [m.step.xy] : [])];
    for (const [x, y] of pts) if (x !== null && y !== null) r = Math.max(r, Math.abs(x), Math.abs(y));
    if (!(r > 0) || !Number.isFinite(r)) return;
    this.choose({ span: Math.min(1000, Math.max(1e-6, Number((r * 1.25).toPrecision(2)))) });
  }

  send() {
    const r = this.request;
    const msg = { mode: r.mode, size: r.size, span: r.span };
    if (r.mode === 'weights') Object.assign(msg, { a: r.a, b: r.b });
    this.act('landscape', msg);
  }

  onKey(e) {
    if (e.key === '+' || e.key === '=') { e.preventDefault(); this.zoom(0.5); }
    else if (e.key === '-' || e.key === '_') { e.preventDefault(); this.zoom(2); }
    else if (e.key === '0') { e.preventDefault(); this.choose({ span: null }); }
    else if (e.key === 'f') { e.preventDefault(); this.fit(); }
  }

  // ---- events --------------------------------------------------------------------

  /** One page event: `run` (the parameter entries), `landscape`, `state`, `error`, `lang`, `follow-mode`. */
  update({ kind, msg, model }) {
    if (kind === 'run') {
      this.setEntries(msg.params || {});
    } else if (kind === 'landscape') {
      this.take(msg);
    } else if (kind === 'state') {
      this.fast = Boolean(model && model.fast);
    } else if (kind === 'error' && msg.limit === 'max_piece_ms' && msg.field === 'size') {
      this.problem = 'slow'; // the closing message follows; the reason stays in view, in the page's words
      this.sync();
    } else if (kind === 'follow-mode') {
      this.readOnly = Boolean(msg.readOnly);
      this.sync();
    } else if (kind === 'lang') {
      this.relabel();
    }
  }

  /** A `landscape` message: draw it, or close. */
  take(msg) {
    if (!msg.open) {
      this.msg = null;
      this.map.msg = null;
      this.open = false;
      this.closing = false;
      this.sync();
      return;
    }
    if (this.closing) return; // computed before the server had our close
    const prev = this.msg;
    const opened = !prev || prev.mode !== msg.mode;
    this.msg = msg;
    this.open = true;
    this.problem = null;
    // the server's slice wins (a class sees the teacher's; two weights a new network lacks become random)
    this.request = { ...this.request, mode: msg.mode, size: msg.requested };
    if (msg.mode === 'weights') {
      this.request.a = { id: msg.axes[0].id, index: msg.axes[0].index };
      this.request.b = { id: msg.axes[1].id, index: msg.axes[1].index };
    }
    this.map.setMessage(msg);
    this.sync();
    if (opened) this.summary.textContent = this.canvas.getAttribute('aria-label');
    const stepped = !prev || prev.iteration !== msg.iteration;
    if (stepped && this.motion() && !this.fast && msg.step) this.animateArrow();
    else {
      cancelAnimationFrame(this.anim);
      this.map.grow = 1;
      this.map.draw();
    }
  }

  /** Every W and b entry of the run as an axis choice (the first MAX_ENTRIES). */
  setEntries(params) {
    const entries = [];
    const ids = Object.keys(params).sort((x, y) => {
      const [lx, kx] = x.split('.'); const [ly, ky] = y.split('.');
      return Number(lx.slice(1)) - Number(ly.slice(1)) || kx.localeCompare(ky);
    });
    for (const id of ids) {
      const v = params[id];
      if (!Array.isArray(v)) continue;
      if (Array.isArray(v[0])) {
        v.forEach((row, i) => row.forEach((_, j) => entries.push({ key: `${id}[${i},${j}]`, value: { id, index: [i, j] } })));
      } else {
        v.forEach((_, j) => entries.push({ key: `${id}[${j}]`, value: { id, index: [j] } }));
      }
    }
    this.entries = entries.slice(0, MAX_ENTRIES);
    const fill = (sel) => sel.replaceChildren(...this.entries.map((e) => h('option', { value: e.key }, e.key)));
    fill(this.aSel);
    fill(this.bSel);
    const has = (v) => v && this.entries.some((e) => e.key === entryKey(v));
    if (!has(this.request.a) || !has(this.request.b)) {
      const w = this.entries.filter((e) => e.value.id.endsWith('.W'));
      const l2 = w.find((e) => e.value.id !== (w[0] && w[0].value.id));
      this.request.a = w[0] ? w[0].value : null;
      this.request.b = l2 ? l2.value : (w[1] ? w[1].value : null);
    }
    this.sync();
  }

  // ---- rendering -----------------------------------------------------------------

  relabel() {
    const t = this.t;
    this.head.textContent = t('ls.title');
    this.intro.textContent = t('ls.intro');
    this.modeLabel.textContent = t('ls.mode');
    this.aLabel.textContent = t('ls.axisX');
    this.bLabel.textContent = t('ls.axisY');
    this.modeSel.replaceChildren(...MODES.map((m) => h('option', { value: m }, t(`ls.mode.${m}`))));
    this.zoomLabel.textContent = t('ls.zoom');
    this.zoomIn.setAttribute('aria-label', t('ls.zoomIn'));
    this.zoomOut.setAttribute('aria-label', t('ls.zoomOut'));
    this.zoomReset.textContent = t('ls.zoomReset');
    this.zoomFit.textContent = t('ls.zoomFit');
    this.zoomFit.title = t('ls.zoomFitHint');
    this.zoomGroup.setAttribute('aria-label', t('ls.zoom'));
    this.barTitle.textContent = t('ls.scale');
    this.sync();
    this.map.draw();
  }

  /** Buttons, selects, note and legend after any change. */
  sync() {
    const t = this.t;
    const r = this.request;
    this.toggleBtn.textContent = t(this.open ? 'ls.hide' : 'ls.show');
    this.toggleBtn.setAttribute('aria-expanded', String(this.open));
    this.toggleBtn.disabled = this.readOnly;
    this.toggleBtn.title = this.readOnly ? t('ls.teacherOpens') : ''; // (a class's is the teacher's)
    this.body.hidden = !this.open && !this.problem;
    this.closedHint.hidden = !this.body.hidden;
    this.closedHint.textContent = this.readOnly ? t('ls.teacherOpens') : t('ls.closed');
    this.figure.hidden = !this.msg;
    this.modeSel.value = r.mode;
    const weights = r.mode === 'weights';
    this.aField.hidden = !weights;
    this.bField.hidden = !weights;
    if (r.a) this.aSel.value = entryKey(r.a);
    if (r.b) this.bSel.value = entryKey(r.b);
    for (const el of [this.modeSel, this.aSel, this.bSel, this.zoomIn, this.zoomOut, this.zoomFit, this.zoomReset]) el.disabled = this.readOnly;
    const m = this.msg;
    let note = '';
    if (this.problem) note = t('ls.refused');
    else if (!m && this.open) note = t('ls.waiting');
    else if (m) {
      const parts = [];
      if (m.limit) parts.push(t(m.limit === 'max_grid' ? 'ls.coarseGrid' : 'ls.coarse', { size: m.size, requested: m.requested }));
      const out = this.map.outside();
      if (out) parts.push(t('ls.outside', { n: out }));
      else if (this.map.tiny()) parts.push(t('ls.tiny'));
      if (m.regularized) parts.push(t('ls.regularized'));
      note = parts.join(' ');
    }
    this.note.textContent = note;
    this.note.hidden = !note;
    if (m) {
      this.barLo.textContent = sig(m.min, 3);
      this.barHi.textContent = sig(m.max, 3);
      this.renderKey();
      this.canvas.setAttribute('aria-label', t('ls.aria', {
        iteration: m.iteration, loss: fmt(m.center), x: this.axisName(0), y: this.axisName(1),
        n: m.path.iterations.length, min: sig(m.min, 3), max: sig(m.max, 3),
      }));
    }
  }

  /** Name of axis k (0: α, 1: β) as the page writes it. */
  axisName(k) {
    const m = this.msg;
    if (!m) return '';
    const a = m.axes[k];
    if (a.kind === 'weight') return `${a.id}[${a.index.join(',')}]`;
    return this.t(`ls.axis.${a.name}`);
  }

  renderKey() {
    const t = this.t;
    const m = this.msg;
    const items = [
      h('li', {}, h('span', { class: 'ls-sw ls-sw-now' }), t('ls.key.now', { iteration: m.iteration, loss: fmt(m.center) })),
      h('li', {}, h('span', { class: 'ls-sw ls-sw-path' }), t('ls.key.path', { n: m.path.iterations.length - 1 })),
    ];
    if (m.step) {
      const k = this.map.arrowScale();
      items.push(h('li', {}, h('span', { class: 'ls-sw ls-sw-step' }),
        t(k > 1 ? 'ls.key.stepScaled' : 'ls.key.step', { k: sig(k, 2), lr: sig(m.lr, 3), loss: fmt(m.step.loss) })));
      if (m.step.in_plane !== null && m.step.in_plane < 0.5) items.push(h('li', { class: 'ls-key-note' }, t('ls.key.offPlane', { pct: Math.round(100 * m.step.in_plane) })));
    }
    this.key.replaceChildren(...items);
  }

  paintBar() {
    const w = 120;
    this.bar.width = w;
    this.bar.height = 1;
    const img = new ImageData(w, 1);
    for (let x = 0; x < w; x += 1) {
      const [r, g, b] = lossRgb(x / (w - 1));
      img.data.set([r, g, b, 255], x * 4);
    }
    this.bar.getContext('2d').putImageData(img, 0, 0);
  }

  /** The arrow grows from the current point to its end (the map is drawn each frame). */
  animateArrow() {
    cancelAnimationFrame(this.anim);
    const map = this.map;
    const t0 = performance.now();
    const frame = (now) => {
      map.grow = Math.min(1, (now - t0) / GROW_MS);
      map.draw();
      if (map.grow < 1) this.anim = requestAnimationFrame(frame);
    };
    map.grow = 0;
    map.draw();
    this.anim = requestAnimationFrame(frame);
  }
}

/** `L1.W[0,1]` for an entry {id, index}. */
function entryKey(v) {
  return v.index.length === 2 ? `${v.id}[${v.index[0]},${v.index[1]}]` : `${v.id}[${v.index[0]}]`;
}
