/**
 * Presentation mode's one screen (css/screens.css) holds the run buttons, the
 * banner, the network, the map, one chart and the inspector. The panels a class
 * needs now and then — the timeline, the gradient bars, the computational graph,
 * the activation curve, the loss landscape, the numbers, the earlier runs — are
 * folded below that screen: moved, while presenting on a wide screen, into one
 * container that starts where the first screen ends, and put back where they
 * were when presentation mode ends, "All panels" is pressed, or the window
 * narrows to a phone's. The views never notice: each keeps its own element.
 * A lesson step that hides the network and shows the landscape puts the
 * landscape in the network's place (its cell stood blank).
 */

/** What is folded below the first screen, in the order it is shown there. */
const FOLDED = ['[data-slot="timeline"]', '[data-slot="gradbars"]', '[data-slot="graph"]',
  '[data-slot="activation"]', '[data-slot="landscape"]', '.side > section', '[data-slot="runs"]'];
/** Wide enough for the one-screen grid (a phone keeps its own layout, css/screens.css). */
const WIDE = '(min-width: 721px)';

/** Folds and unfolds the page's secondary panels (see the module comment). */
export class ProjectorFold {
  /** @param {Document} doc */
  constructor(doc) {
    this.doc = doc;
    this.wide = window.matchMedia(WIDE);
    this.rest = null;
    this.places = [];
    this.wide.addEventListener('change', () => this.apply());
    new MutationObserver(() => this.place()).observe(doc.body, { subtree: true, attributeFilter: ['data-lesson-hidden'] });
  }

  /** The landscape in the network's cell while a lesson step hides one and shows the other. */
  place() {
    const ls = this.rest && this.doc.querySelector('[data-slot="landscape"]');
    if (!ls) return;
    const up = this.doc.querySelector('#network[data-lesson-hidden]') && !ls.hasAttribute('data-lesson-hidden');
    const to = up ? this.doc.querySelector('main') : this.rest;
    if (ls.parentNode !== to) to.append(ls);
  }

  /** Fold or unfold as the page's classes (present, present-all) and width say. */
  apply() {
    const root = this.doc.documentElement;
    const fold = root.classList.contains('present') && !root.classList.contains('present-all') && this.wide.matches;
    if (fold && !this.rest) {
      this.rest = this.doc.createElement('div');
      this.rest.className = 'present-rest';
      for (const sel of FOLDED) {
        const el = this.doc.querySelector(sel);
        if (!el) continue;
        this.places.push([el, el.parentNode, el.nextSibling]);
        this.rest.append(el);
      }
      this.doc.querySelector('main').after(this.rest);
      this.place();
    } else if (!fold && this.rest) {
      // back in reverse order, so each one's next sibling is already home
      for (const [el, parent, next] of this.places.reverse()) parent.insertBefore(el, next);
      this.places = [];
      this.rest.remove();
      this.rest = null;
    }
  }
}
