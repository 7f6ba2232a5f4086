/**
 * A canvas that keeps its backing store matched to its CSS size and the
 * device pixel ratio, and redraws at most once per animation frame.
 */

/** Sized canvas with a coalesced `draw(ctx, width, height)` callback. */
export class CanvasBox {
  /**
   * @param {HTMLElement} parent where the canvas goes
   * @param {(ctx: CanvasRenderingContext2D, w: number, h: number) => void} draw
   * @param {string} label accessible name (role="img")
   */
  constructor(parent, draw, label = '') {
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', label);
    parent.append(this.canvas);
    this.ctx = this.canvas.getContext('2d');
    this.drawFn = draw;
    this.queued = false;
    this.themeCache = new Map();
    // Size comes from the observer, so painting never forces a layout.
    this.size = [0, 0];
    this.observer = new ResizeObserver((entries) => {
      const box = entries[entries.length - 1].contentRect;
      this.size = [box.width, box.height];
      this.request();
    });
    this.observer.observe(this.canvas);
  }

  /** Set the accessible name. */
  setLabel(text) {
    this.canvas.setAttribute('aria-label', text);
  }

  /**
   * A CSS custom property of the canvas, cached: reading computed style each
   * paint would force a style recalculation. Call {@link invalidateTheme}
   * when the theme changes (presentation mode).
   */
  theme(name, fallback) {
    if (!this.themeCache.has(name)) this.themeCache.set(name, cssVar(this.canvas, name, fallback));
    return this.themeCache.get(name);
  }

  /** Forget cached theme values (and redraw). */
  invalidateTheme() {
    this.themeCache.clear();
    this.request();
  }

  /** Redraw on the next animation frame (repeated calls coalesce). */
  request() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.paint();
    });
  }

  paint() {
    const dpr = window.devicePixelRatio || 1;
    const [w, hgt] = this.size;
    if (!w || !hgt) return;
    const bw = Math.round(w * dpr);
    const bh = Math.round(hgt * dpr);
    if (this.canvas.width !== bw || this.canvas.height !== bh) {
      this.canvas.width = bw;
      this.canvas.height = bh;
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.ctx.clearRect(0, 0, w, hgt);
    this.drawFn(this.ctx, w, hgt);
  }
}

/** Read a CSS custom property of `el` (for canvas colours that follow the theme). */
export function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}
