/**
 * The data set on a Canvas 2D scatter plot with the network's current
 * prediction. Classification: fill = true class, ring = predicted class
 * (from the batch outputs the engine last sent for that point); test points
 * are squares. Regression: target as dots, prediction as crosses (1-D) or
 * colour (2-D). Until the engine sends an output map, predictions exist only
 * for training points that have been in a batch.
 */

import { h } from '../dom.js';
import { classColour, diverging } from '../palette.js';
import { CanvasBox } from './canvas-box.js';

/** Predicted class of one output row (B=1 slice): threshold for 1 output, argmax otherwise. */
export function predictedClass(row) {
  if (!row) return null;
  if (row.length === 1) return row[0] >= 0.5 ? 1 : 0;
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

/** True class of one target row (one-hot or a single 0/1). */
function trueClass(row) {
  return predictedClass(row);
}

/** Scatter plot view. */
export class DataView {
  /** @param {HTMLElement} container the "data" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.container = container;
    this.model = null;
    this.box = new CanvasBox(container, (ctx, w, hh) => this.draw(ctx, w, hh), i18n.t('data.label'));
    this.box.canvas.classList.add('square');
    this.legend = h('p', { class: 'chart-legend' });
    container.append(this.legend);
  }

  /** Redraw on a new run, a forward frame (new predictions) or a language change. */
  update({ kind, model, msg }) {
    this.model = model;
    if (kind === 'present') this.box.invalidateTheme();
    if (kind === 'lang' || kind === 'run') {
      this.box.setLabel(this.i18n.t('data.label'));
      this.renderLegend();
    }
    if (kind === 'run' || kind === 'lang' || (kind === 'frame' && msg.phase === 'forward')) this.box.request();
  }

  renderLegend() {
    const m = this.model;
    if (!m || !m.net) return;
    const t = (k, p) => this.i18n.t(k, p);
    const items = [];
    if (m.net.task === 'regression') items.push(h('span', {}, t('data.legendReg')));
    else {
      for (let k = 0; k < m.net.n_classes; k++) {
        const sw = h('span', { class: 'dot-swatch' });
        sw.style.background = classColour(k);
        items.push(sw, h('span', {}, t('data.class', { k })));
      }
      items.push(h('span', {}, `· ${t('data.legendFill')} · ${t('data.legendRing')}`));
    }
    items.push(h('span', {}, `· ${t('data.legendTest')}`));
    this.legend.replaceChildren(...items);
  }

  draw(ctx, w, hh) {
    const m = this.model;
    if (!m || !m.data) return;
    const { p_train: pTr, t_train: tTr, p_test: pTe, t_test: tTe } = m.data;
    const all = pTr.concat(pTe);
    if (all.length === 0) return;
    const oneD = all[0].length === 1;
    const regression = m.net.task === 'regression';
    const muted = this.box.theme('--muted', '#666');
    const bg = this.box.theme('--panel', '#fff');
    const scale = Number(this.box.theme('--point-scale', '1')) || 1;
    const pad = 10;
    const xs = all.map((p) => p[0]);
    let ys = oneD ? tTr.concat(tTe).map((r) => r[0]) : all.map((p) => p[1]);
    if (oneD) ys = ys.concat(m.predictions.filter(Boolean).map((r) => r[0]));
    const span = (v) => {
      const lo = Math.min(...v);
      const hi = Math.max(...v);
      const d = hi - lo || 1;
      return [lo - 0.08 * d, hi + 0.08 * d];
    };
    const [xlo, xhi] = span(xs);
    const [ylo, yhi] = span(ys);
    const X = (v) => pad + ((v - xlo) / (xhi - xlo)) * (w - 2 * pad);
    const Y = (v) => hh - pad - ((v - ylo) / (yhi - ylo)) * (hh - 2 * pad);

    ctx.strokeStyle = muted;
    ctx.globalAlpha = 0.3;
    ctx.lineWidth = 1;
    ctx.beginPath();
    if (xlo < 0 && xhi > 0) { ctx.moveTo(X(0), pad); ctx.lineTo(X(0), hh - pad); }
    if (ylo < 0 && yhi > 0) { ctx.moveTo(pad, Y(0)); ctx.lineTo(w - pad, Y(0)); }
    ctx.stroke();
    ctx.globalAlpha = 1;

    const r = Math.max(2.5, Math.min(5, w / 90)) * scale;
    let tmin = Infinity;
    let tmax = -Infinity;
    if (regression) for (const row of tTr.concat(tTe)) { tmin = Math.min(tmin, row[0]); tmax = Math.max(tmax, row[0]); }
    const tAbs = Math.max(Math.abs(tmin), Math.abs(tmax), 1e-12);
    const fillOf = (row) => (regression ? diverging(row[0] / tAbs) : classColour(trueClass(row)));

    const mark = (p, row, test) => {
      const x = X(p[0]);
      const y = oneD ? Y(row[0]) : Y(p[1]);
      ctx.fillStyle = fillOf(row);
      ctx.strokeStyle = bg;
      ctx.lineWidth = 1;
      ctx.beginPath();
      if (test) ctx.rect(x - r, y - r, 2 * r, 2 * r);
      else ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    };
    pTe.forEach((p, k) => mark(p, tTe[k], true));
    pTr.forEach((p, k) => mark(p, tTr[k], false));

    // predictions
    ctx.lineWidth = 2 * scale;
    pTr.forEach((p, k) => {
      const pred = m.predictions[k];
      if (!pred) return;
      const x = X(p[0]);
      if (regression && oneD) {
        const y = Y(pred[0]);
        ctx.strokeStyle = this.box.theme('--ink', '#1b1b1b');
        ctx.beginPath();
        ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r);
        ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r);
        ctx.stroke();
        return;
      }
      const y = oneD ? Y(tTr[k][0]) : Y(p[1]);
      ctx.strokeStyle = regression ? diverging(pred[0] / tAbs) : classColour(predictedClass(pred));
      ctx.beginPath();
      ctx.arc(x, y, r + 2.5 * scale, 0, 2 * Math.PI);
      ctx.stroke();
    });
  }
}
