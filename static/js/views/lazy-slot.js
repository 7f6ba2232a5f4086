/**
 * A slot's stand-in until its view is needed, so the page's first load stays
 * light (docs/performance.md, "Page"): the view's module is fetched the first
 * time something asks for it — a button, the slot coming near the screen, an
 * event saying the view now applies — and until then the stand-in keeps the
 * latest page events the view will need (a new run drops those of the run
 * before), which the view is given, in order, as soon as
 * it is built; from then on it sees every event. The loss
 * landscape, the activation curve, the computational graph, the earlier runs,
 * the lesson panel, and the dialogs a button opens (help, class, confirm, the
 * course list) are built this way, each with its own stylesheet where it has
 * one ({@link loadStyle}).
 */

/**
 * Add the page's stylesheet `href` (relative to the page, as the template's links are)
 * once; resolves when it applies, so a view built then is never seen unstyled.
 * @param {string} href e.g. 'static/css/lesson-panel.css'
 * @returns {Promise<void>}
 */
export function loadStyle(href) {
  const url = new URL(href, document.baseURI).href;
  let link = [...document.querySelectorAll('link[rel="stylesheet"]')].find((l) => l.href === url);
  if (link && link.sheet) return Promise.resolve();
  if (!link) {
    link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    document.head.append(link);
  }
  return new Promise((resolve, reject) => {
    link.addEventListener('load', () => resolve(), { once: true });
    link.addEventListener('error', reject, { once: true });
  });
}

/**
 * Which events a view built later must see: the latest event of each kind listed.
 * @param {string[]} kinds event kinds, e.g. ['run', 'state', 'follow-mode']
 * @returns {(event: {kind: string}) => string|null} the key an event is kept under, or null
 */
export function latestOf(kinds) {
  return ({ kind }) => (kinds.includes(kind) ? kind : null);
}

/** The keys of kept events that are of one run (dropped when a new run comes): its play
 * state, its focused sample, its landscape, its coach's notes. The connection, a class's
 * status, a share and a lesson's steps outlast a run. */
const RUN_SCOPED = ['state', 'focus', 'landscape', 'coach'];

/** Stands in a page slot for a view loaded on demand (see the module comment). */
export class LazySlot {
  /**
   * @param {HTMLElement} container the slot
   * @param {object} options the page's view options, handed to the view
   * @param {{load: () => Promise<Function>, keep?: (event: object) => string|null,
   *   when?: (event: object) => boolean}} spec `load` resolves to the view's class (a dynamic
   *   import); `keep` names the events to keep; `when` says which event makes the view needed
   */
  constructor(container, options, { load, keep = () => null, when = () => false }) {
    this.container = container;
    this.options = options;
    this.spec = { load, keep, when };
    this.view = null;
    this.loading = null;
    this.kept = new Map();
    this.observer = null;
  }

  /** Whether the view (a dialog) is showing; false before it is loaded. */
  get open() {
    return Boolean(this.view && this.view.open);
  }

  /**
   * Fetch and build the view (once), handing it the events it missed.
   * @param {() => void} [before] run just before the view is built (to clear a placeholder)
   * @returns {Promise<object>} the view
   */
  load(before) {
    if (!this.loading) {
      if (this.observer) this.observer.disconnect();
      this.loading = this.spec.load().then((View) => {
        if (before) before();
        this.view = new View(this.container, this.options);
        const missed = [...this.kept.values()];
        this.kept.clear();
        for (const event of missed) this.view.update(event);
        return this.view;
      });
    }
    return this.loading;
  }

  /** Call the view's `method` with `args` once it is loaded (a dialog's show, toggle or ask). */
  call(method, ...args) {
    return this.load().then((view) => view[method](...args));
  }

  /** Load the view when `el` comes within `margin` of the screen (at once without IntersectionObserver). */
  loadWhenSeen(el, margin, before) {
    if (this.loading || this.observer) return;
    if (!('IntersectionObserver' in window)) {
      this.load(before);
      return;
    }
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.load(before);
    }, { rootMargin: margin });
    this.observer.observe(el);
  }

  /** One page event: the view's once loaded; before, kept if the view will need it. */
  update(event) {
    if (this.view) {
      this.view.update(event);
      return;
    }
    const key = this.spec.keep(event);
    if (event.kind === 'run') {
      // a run's own events from before a new run are the run before's (the page's model
      // is the new one's by the time the view replays them)
      for (const k of RUN_SCOPED) this.kept.delete(k);
    }
    if (key !== null) {
      this.kept.delete(key); // kept in the order they came
      this.kept.set(key, event);
    }
    if (this.spec.when(event)) this.load();
  }
}

/**
 * A view class for main.js's registry that loads `load()`'s view on first use
 * (main.js reaches it through `call`) or on the first event `when` picks,
 * keeping the events `keep` names until then.
 * @param {() => Promise<Function>} load
 * @param {(event: object) => string|null} [keep]
 * @param {(event: object) => boolean} [when]
 */
export function lazyView(load, keep, when) {
  return class extends LazySlot {
    constructor(container, options) {
      super(container, options, { load, keep, when });
    }
  };
}
