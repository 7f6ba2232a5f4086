/**
 * Train and test loss over iterations on a Canvas 2D line chart, fed by
 * `metrics` messages. Redraws at most once per animation frame and thins
 * long series to about one point per pixel column.
 */

import { h } from '../dom.js';
import { CanvasBox } from './canvas-box.js';
import { fmt } from '../format.js';

/** "Nice" tick values covering [lo, hi] (about `n` of them). */
export function niceTicks(lo, hi, n = 4) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Loss chart view. */
export class LossChart {
  /** @param {HTMLElement} container the "loss-chart" slot */
  constructor(container, { i18n }) {
    this.i18n = i18n;
    this.container = container;
    this.points = [];
    this.box = new CanvasBox(container, (ctx, w, hh) => this.draw(ctx, w, hh), i18n.t('chart.label'));
    this.legend = h('p', { class: 'chart-legend' },
      h('span', { class: 'line-swatch train' }), h('span', { dataset: { i18n: 'chart.train' } }),
      h('span', { class: 'line-swatch test' }), h('span', { dataset: { i18n: 'chart.test' } }));
    container.append(this.legend);
    i18n.apply(this.legend);
  }

  /** Redraw when metrics arrive or the run/language changes. */
  update({ kind, model }) {
    if (kind === 'present') this.box.invalidateTheme();
    if (kind === 'lang') {
      this.i18n.apply(this.legend);
      this.box.setLabel(this.i18n.t('chart.label'));
    }
    if (!['run', 'metrics', 'lang'].includes(kind)) return;
    this.points = model.metrics;
    this.box.request();
  }

  draw(ctx, w, hh) {
    const pts = this.points;
    const font = this.box.theme('--chart-font', '12px system-ui');
    const ink = this.box.theme('--ink', '#1b1b1b');
    const muted = this.box.theme('--muted', '#666');
    const lineW = Number(this.box.theme('--chart-line', '2')) || 2;
    ctx.font = font;
    ctx.fillStyle = muted;
    const fontPx = parseFloat(/(\d+(?:\.\d+)?)px/.exec(font)?.[1] || '12');
    const pad = { l: fontPx * 4, r: 8, t: 8, b: fontPx * 2.4 };
    if (pts.length === 0) {
      ctx.textAlign = 'center';
      ctx.fillText(this.i18n.t('chart.empty'), w / 2, hh / 2);
      return;
    }
    const finite = (v) => typeof v === 'number' && Number.isFinite(v);
    const x0 = pts[0].iteration;
    const x1 = Math.max(x0 + 1, pts[pts.length - 1].iteration);
    let ymax = 0;
    for (const p of pts) for (const v of [p.train_loss, p.test_loss]) if (finite(v)) ymax = Math.max(ymax, v);
    ymax = ymax > 0 ? ymax * 1.05 : 1;
    const X = (it) => pad.l + ((it - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const Y = (v) => hh - pad.b - (v / ymax) * (hh - pad.t - pad.b);

    ctx.strokeStyle = muted;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of niceTicks(0, ymax, 3)) {
      ctx.globalAlpha = 0.25;
      ctx.beginPath();
      ctx.moveTo(pad.l, Y(v));
      ctx.lineTo(w - pad.r, Y(v));
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.fillText(fmt(v, v < 0.1 && v > 0 ? 3 : 2), pad.l - 4, Y(v));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of niceTicks(x0, x1, 4)) if (v >= x0) ctx.fillText(String(v), X(v), hh - pad.b + 4);
    ctx.textAlign = 'right';
    ctx.fillText(this.i18n.t('chart.iteration'), w - pad.r, hh - fontPx * 1.2);

    const stride = Math.max(1, Math.floor(pts.length / Math.max(1, w - pad.l - pad.r)));
    const line = (key, colour, dash) => {
      ctx.strokeStyle = colour;
      ctx.lineWidth = lineW;
      ctx.setLineDash(dash);
      ctx.beginPath();
      let started = false;
      for (let k = 0; k < pts.length; k += stride) {
        const v = pts[k][key];
        if (!finite(v)) { started = false; continue; }
        if (started) ctx.lineTo(X(pts[k].iteration), Y(v));
        else ctx.moveTo(X(pts[k].iteration), Y(v));
        started = true;
      }
      ctx.stroke();
      ctx.setLineDash([]);
    };
    line('test_loss', muted, [6, 4]);
    line('train_loss', ink, []);
  }
}
