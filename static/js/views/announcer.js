/**
 * A polite aria-live region that tells screen-reader users what the
 * animation shows: the phase and iteration, the loss, play/pause and new
 * runs. While playing it speaks at most every few seconds.
 */

import { fmt } from '../format.js';
import { recordIteration } from '../counting.js';

const PLAYING_GAP_MS = 4000;

/** Live-region view (visually hidden). */
export class Announcer {
  /** @param {HTMLElement} container the "announcer" slot */
  constructor(container, { i18n, now = () => performance.now() }) {
    this.i18n = i18n;
    this.el = container;
    this.el.setAttribute('aria-live', 'polite');
    this.el.setAttribute('aria-atomic', 'true');
    this.now = now;
    this.lastSaid = -Infinity;
    this.wasPlaying = false;
  }

  say(text, force = false) {
    const t = this.now();
    if (!force && t - this.lastSaid < PLAYING_GAP_MS) return;
    this.lastSaid = force ? -Infinity : t;
    this.el.textContent = text;
  }

  /** Speak about frames, play state and new runs. */
  update({ kind, model, msg }) {
    const t = (k, p) => this.i18n.t(k, p);
    if (kind === 'run') {
      this.say(t('say.run', { ds: t(`ds.${model.config.dataset}`), sizes: model.net.sizes.join('-') }), true);
    } else if (kind === 'state') {
      if (model.state.playing !== this.wasPlaying) this.say(t(model.state.playing ? 'say.playing' : 'say.paused'), true);
      this.wasPlaying = model.state.playing;
    } else if (kind === 'frame') {
      let text = t('say.phase', { phase: t(`phase.${msg.phase}`), n: recordIteration(msg.iteration) });
      const loss = model.value('loss.total');
      if (msg.phase !== 'forward' && loss !== undefined) text += `. ${t('say.loss', { v: fmt(loss) })}`;
      this.say(text, !model.state.playing);
    }
  }
}
