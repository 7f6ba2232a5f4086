/**
 * The one place that wires the page: socket → run model → views, and view
 * actions → socket messages. Views are built from the registry below, each
 * from (container, options) with the container found by its layout slot
 * (`data-slot` in templates/index.html). To add a view, add a slot to the
 * template and one line to VIEWS; its `update({kind, msg, model})` then sees
 * every event: run, state, frame, metrics, error, notice, connection, lang,
 * present, share, follow-mode, and every other server message by its type
 * (coach, timeline, lesson_step…). Class mode lives in class-mode.js. The catalog
 * of choices (catalog.js, from the server) is loaded first and handed to every
 * view in its options.
 */

import { SessionSocket } from './socket.js';
import { RunModel } from './run-model.js';
import { seekBack } from './counting.js';
import { I18n, LANGS, initialLang } from './i18n.js';
import { exportCssVars } from './palette.js';
import { bindShortcuts } from './keyboard.js';
import { AppBar } from './views/app-bar.js';
import { ControlsView } from './views/controls-view.js';
import { PhaseBanner } from './views/phase-banner.js';
import { NetworkView } from './views/network-view.js';
import { StatsView } from './views/stats-view.js';
import { Announcer } from './views/announcer.js';
import { NoticeView } from './views/notice-view.js';
import { InspectorPanel } from './views/inspector-panel.js';
import { MapsPanel } from './views/neuron-maps.js';
import { LandscapeSlot } from './views/landscape-slot.js';
import { ChartsPanel } from './views/health-chart.js';
import { GraphView } from './views/graph-view.js';
import { ActivationView } from './views/activation-view.js';
import { GradientBars } from './views/gradient-bars.js';
import { UrlSync } from './url-state.js';
import { TimelineView } from './views/timeline.js';
import { ClassMode, askedCode } from './class-mode.js';
import { loadCatalog } from './catalog.js';
import { RunKeeper } from './run-keeper.js';
import { LESSON_STYLE, LessonSlot } from './lessons/lesson-slot.js';
import { lazyView, latestOf, loadStyle } from './views/lazy-slot.js';
import { askedLesson } from './lessons/lesson-link.js';

/* Views loaded when first needed (views/lazy-slot.js), with their stylesheets and the events
 * they keep until then: the dialogs a button opens, on the first open; with their words
 * (strings-en-later.js) where those are not on the first screen. */
const RUNS_STYLE = 'static/css/runs.css'; // the earlier runs' and the teacher's confirm's
const HelpDialog = lazyView(() => Promise.all([import('./views/help-dialog.js'), i18n.need('later')]).then(([m]) => m.HelpDialog));
const ShareDialog = lazyView(() => Promise.all([import('./views/share-dialog.js'), loadStyle('static/css/share-dialog.css'), i18n.need('later')]).then(([m]) => m.ShareDialog),
  latestOf(['share']));
const ConfirmDialog = lazyView(() => Promise.all([import('./views/confirm-dialog.js'), loadStyle(RUNS_STYLE),
  i18n.need('later')]).then(([m]) => m.ConfirmDialog));
/** "Earlier runs", loaded with the first run that has one (a reset, a new setting, a file opened). */
const RunsMenu = lazyView(() => Promise.all([import('./views/runs-menu.js'), loadStyle(RUNS_STYLE), i18n.need('later')]).then(([m]) => m.RunsMenu),
  latestOf(['run', 'follow-mode']),
  ({ kind, msg }) => kind === 'run' && Array.isArray(msg.runs) && msg.runs.length > 0);
/** The coach's notes (views/coach-view.js), loaded with the first note a run gets. */
const CoachSlot = lazyView(() => Promise.all([import('./views/coach-view.js'), loadStyle('static/css/coach.css'), i18n.need('later')]).then(([m]) => m.CoachView),
  latestOf(['run', 'follow-mode', 'coach']), ({ kind, msg }) => kind === 'coach' && msg.notes.length > 0);
const CourseSlot = lazyView(() => Promise.all([import('./lessons/course-list.js'), loadStyle(LESSON_STYLE),
  i18n.need('lessons')]).then(([m]) => m.CourseList),
  latestOf(['lesson_step']));

/** The bar a student following a class sees, loaded when the page first follows one. */
const FollowBar = lazyView(() => Promise.all([import('./views/follow-bar.js'), loadStyle('static/css/follow-bar.css')]).then(([m]) => m.FollowBar),
  latestOf(['follow-mode']), ({ kind, msg }) => kind === 'follow-mode' && Boolean(msg.status));
/** [slot name, view class]: one entry per view on the page. */
const VIEWS = [
  ['app-bar', AppBar],
  ['follow', FollowBar],
  ['notices', NoticeView],
  ['controls', ControlsView],
  ['banner', PhaseBanner],
  ['network', NetworkView],
  ['gradbars', GradientBars],
  ['stats', StatsView],
  ['announcer', Announcer],
  ['help', HelpDialog],
  ['inspector', InspectorPanel],
  ['maps', MapsPanel],
  ['landscape', LandscapeSlot],
  ['charts', ChartsPanel],
  ['graph', GraphView],
  ['activation', ActivationView],
  ['timeline', TimelineView],
  ['runs', RunsMenu],
  ['share', ShareDialog],
  ['confirm', ConfirmDialog],
  ['lesson', LessonSlot],
  ['courses', CourseSlot],
  ['coach', CoachSlot],
];
/** Actions that replace the run: while a class watches it, the teacher confirms them first. */
const REPLACES_RUN = new Set(['reset', 'configure', 'load', 'switch-run', 'lesson-open']);

const LANG_KEY = 'bpl.lang';
const PRESENT_KEY = 'bpl.present';

const root = document.documentElement;
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');
const model = new RunModel();
const i18n = new I18n(initialLang(readStore(webStorage('localStorage'), LANG_KEY), navigator.languages || [navigator.language]));
const views = new Map();
let wantedLang = null; // the language last asked for, while its strings load
/** Presentation mode's fold (projector-fold.js), loaded the first time the page presents. */
let fold = null;
let socket = null;
/** The address bar's keeper (url-state.js), once the catalog has come. */
let urlSync = null;
const classMode = new ClassMode({
  location: window.location, history: window.history, dispatch, send, stop: () => socket.stop(),
});

/** window.localStorage / sessionStorage, or null where even reading the property throws
 * (storage blocked by the browser's privacy settings). */
function webStorage(name) {
  try {
    return window[name];
  } catch {
    return null;
  }
}

function readStore(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

function writeStore(store, key, value) {
  try {
    store.setItem(key, value);
  } catch {
    /* private mode: the choice just is not remembered */
  }
}

/** Tell every view about one event. */
function dispatch(kind, msg) {
  const event = { kind, msg, model };
  for (const view of views.values()) view.update(event);
}

function send(msg) {
  if (!socket.send(msg)) dispatch('notice', { key: 'conn.offline' });
  else if (['play', 'pause', 'learn'].includes(msg.type)) model.asked = msg.type;
}

/** Show the page in `lang`: at once when its strings are loaded, else once they are (i18n.js). */
function setLang(lang) {
  if (!LANGS.includes(lang)) return;
  wantedLang = lang;
  if (!i18n.loaded(lang)) { // the last language asked for wins
    i18n.load(lang).then(() => wantedLang === lang && setLang(lang), () => dispatch('notice', { key: 'conn.offline' }));
    return;
  }
  i18n.setLang(lang);
  writeStore(webStorage('localStorage'), LANG_KEY, i18n.lang);
  root.lang = i18n.lang;
  document.title = `${i18n.t('app.title')} — ${i18n.t('app.tagline')}`;
  i18n.apply(document.body);
  dispatch('lang', { lang: i18n.lang });
}

function applyFold() {
  if (fold) fold.apply();
  else if (root.classList.contains('present')) {
    import('./projector-fold.js').then(({ ProjectorFold }) => {
      fold ??= new ProjectorFold(document);
      fold.apply();
    });
  }
}

function setPresent(on) {
  root.classList.toggle('present', on);
  writeStore(webStorage('localStorage'), PRESENT_KEY, on ? '1' : '0');
  applyFold();
  dispatch('present', { on, all: root.classList.contains('present-all') });
}

/** Presentation mode shows one screen's worth (css/screens.css); "all panels" unfolds the rest. */
function setPresentAll(all) {
  root.classList.toggle('present-all', all);
  applyFold();
  dispatch('present', { on: root.classList.contains('present'), all });
}

/** What each action name (from views and shortcuts) does. */
const ACTIONS = {
  'step-phase': () => send({ type: 'step', unit: 'phase' }),
  'step-iteration': () => send({ type: 'step', unit: 'iteration' }),
  'phase-back': () => send({ type: 'step', unit: 'phase', direction: 'back' }),
  'step-back': (unit) => {
    if (!model.state.playing) {
      send({ type: 'step', unit, direction: 'back' });
      return;
    }
    send({ type: 'pause' }); // (the server is ahead of what is shown: back from the shown)
    send({ type: 'seek', ...seekBack(model.state, unit) });
  },
  seek: ({ iteration, phase = null }) => send({ type: 'seek', iteration, phase }),
  set: (changes) => send({ type: 'set', ...changes }),
  checkout: (branch) => send({ type: 'checkout', branch }),
  series: (of) => send({ type: 'series', ...of }), // another branch's or run's series, to compare
  load: (run) => send({ type: 'load', run }),
  // Play uses the speed menu's choice (controls-view.js); full speed is for one play only
  'toggle-play': () => send(model.state.playing ? { type: 'pause' } : { type: 'play', speed: views.get('controls').chosenSpeed }),
  pause: () => send({ type: 'pause' }),
  'play-fastest': (max) => send({ type: 'play', speed: max }),
  speed: (speed) => {
    if (model.state.playing) send({ type: 'play', speed });
  },
  reset: () => send({ type: 'reset' }),
  'switch-run': (run) => send({ type: 'switch_run', run }),
  // a change made while a link's settings are on their way is made to them (url-state.js)
  configure: (config) => send({ type: 'configure', config: urlSync ? urlSync.rebase(config) : config }),
  lang: (lang) => setLang(lang),
  'lang-next': () => setLang(LANGS[(LANGS.indexOf(i18n.lang) + 1) % LANGS.length]),
  present: () => setPresent(!root.classList.contains('present')),
  'present-all': () => setPresentAll(!root.classList.contains('present-all')),
  help: () => views.get('help').call('toggle'),
  inspect: (target) => send(target ? { type: 'inspect', ...target } : { type: 'inspect', id: null }),
  'close-inspector': () => {
    const shown = views.get('inspector').inspector;
    if (shown && shown.msg) act('inspect', null);
  },
  focus: (pick) => send(pick ? { type: 'focus', ...pick } : { type: 'focus', index: null }),
  'map-axes': (axes) => send({ type: 'map_axes', axes }), // a table's map: which two inputs
  csv: (file) => send({ type: 'csv', ...file }), // a learner's own CSV: a new run, or an error
  'csv-picked': () => dispatch('csv-picked', {}), // (what was said of the last file goes)
  draw: (pixels) => send({ type: 'draw', pixels }), // a drawn digit: the network's guess
  learn: ({ pixels, label }) => send({ type: 'learn', pixels, label }), // one iteration on the drawing
  edit: (e) => send({ type: 'edit', ...e }),
  landscape: (req) => send({ type: 'landscape', ...req }),
  'add-points': () => views.get('maps').setAdding(true),
  'share-open': () => views.get('share').call('show'),
  'play-at': (speed) => send({ type: 'play', speed }),
  // lessons (lessons/lesson-panel.js): the words come over HTTP, the run and the checks here
  lesson: (cmd) => send({ type: 'lesson', lang: i18n.lang, ...cmd }),
  'lesson-check': (cmd) => send({ type: 'lesson', lang: i18n.lang, ...cmd }), // a class's student may check
  'lesson-open': ({ id, step }) => views.get('lesson').openStep(id, step),
  'lessons-open': () => views.get('courses').call('show'),
  ...classMode.actions(),
};

function act(name, arg) {
  const fn = ACTIONS[name];
  if (!fn) throw new Error(`unknown action ${name}`);
  if (!classMode.allows(name)) {
    dispatch('notice', { key: 'follow.readOnly' });
    return;
  }
  if (!views.get('lesson').allows(name, model.state)) { // hidden or locked in this lesson step
    dispatch('notice', { key: 'lesson.notInStep', tone: 'info' });
    return;
  }
  const unshare = name === 'share' && arg === false && classMode.followers > 0; // ends their class
  // leaving a lesson goes back to the run from before it, on every student's screen too
  const leave = name === 'lesson' && arg && arg.action === 'leave' && classMode.shareCode;
  // (a reset of a run at its very start changes nothing the class sees: not asked)
  const fresh = name === 'reset' && model.state && model.state.iteration === 0 && model.state.next_phase === 'forward';
  if ((classMode.shareCode && REPLACES_RUN.has(name) && !fresh) || unshare || leave) {
    const question = unshare ? 'unshare' : leave ? 'lesson-leave' : name;
    views.get('confirm').call('ask', question, { n: classMode.followers }).then((yes) => {
      if (yes) fn(arg);
      else views.get('controls').sync(model.config); // a menu changed for nothing shows the run's again
    });
    return;
  }
  fn(arg);
}

async function start() {
  exportCssVars(root);
  const [catalog] = await Promise.all([loadCatalog(), i18n.load(i18n.lang)]);
  const options = { i18n, t: (key, params) => i18n.t(key, params), act, motion: () => !reducedMotion.matches, catalog };
  for (const [slot, View] of VIEWS) {
    const container = document.querySelector(`[data-slot="${slot}"]`);
    if (!container) throw new Error(`layout slot "${slot}" missing from the page`);
    views.set(slot, new View(container, options));
  }
  setLang(i18n.lang);
  if (readStore(webStorage('localStorage'), PRESENT_KEY) === '1') setPresent(true);
  bindShortcuts(document, (action) => {
    const help = views.get('help');
    if (help.open && action !== 'help') return;
    if (views.get('share').open) return; // typing a code, or the teacher's dialog on the projector
    if (views.get('confirm').open) return; // the teacher is asked something
    if (views.get('courses').open) return; // choosing a lesson
    act(action);
  });
  // Escape closes the inspector wherever the focus went (inside it, the inspector closes
  // itself); not a shortcut above, which would keep an open dialog from closing on it
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !ev.defaultPrevented && !document.querySelector('dialog[open]')) act('close-inspector');
  });
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const urlEnv = { location: window.location, history: window.history, send, storage: webStorage('sessionStorage'), catalog,
    onLink: (link) => dispatch('link', link), notice: (key, announcesRun) => dispatch('notice', { key, announcesRun }) };
  urlSync = new UrlSync(urlEnv);
  /** A run the server made when it no longer had the page's (and the page kept no copy):
   * open the run the address still holds, as a link would; whether it held the whole run. */
  const relink = (msg) => {
    const fromAddress = new UrlSync(urlEnv);
    fromAddress.done = false;
    fromAddress.onRun(msg);
    return Boolean(fromAddress.linkRun);
  };
  const code = askedCode(window.location.search);
  // The server judges the code (an unknown one gets an error and a run of the page's own);
  // a link's settings never apply to a class's run, nor to a copy of it.
  // A lesson link's run is the lesson's (the server makes it): its settings never apply either.
  if (code || askedLesson(window.location.search)) urlSync.done = true;
  urlSync.held = !code && Boolean(askedLesson(window.location.search));
  classMode.start(code);
  const keeper = new RunKeeper({ storage: webStorage('sessionStorage'), send: (msg) => socket.send(msg) });
  socket = new SessionSocket({
    // next to the page (a site may serve the lab under a sub-path: docs/deploy.md)
    url: `${scheme}://${window.location.host}${window.location.pathname.replace(/[^/]*$/, '')}ws`,
    storage: webStorage('sessionStorage'),
    // follow again after a dropped connection; not once the teacher's sharing is over
    hello: () => ({ lang: i18n.lang, ...classMode.hello() }),
    onMessage: (msg) => {
      // a server that forgot the session: the keeper restores the page's copy of its run,
      // holding back the default run made meanwhile (run-keeper.js)
      const { pass, event } = keeper.take(msg);
      if (!pass) return;
      if (event && event.kind === 'lost' && classMode.shareCode) {
        const unshared = { type: 'share', code: null, followers: 0 }; // the class went with the old run
        classMode.onMessage(unshared);
        dispatch('share', unshared);
      }
      classMode.onMessage(msg);
      // a followed run (session null) is the teacher's: the address stays the follow link;
      // a run lost to a restart starts again from the settings the address still holds
      let whole = false;
      if (msg.type === 'run' && msg.session) {
        if (event && event.kind === 'lost') whole = relink(msg);
        else urlSync.onRun(msg);
      }
      // the page's own run as it is now (a class's never reaches the page), for the address bar
      const refused = (msg.type === 'save' || msg.type === 'error') && !classMode.following && urlSync.onMessage(msg);
      // an open lesson's address is its link; leaving it gives the address back to the run
      if (msg.type === 'lesson_step' && !classMode.following) {
        urlSync.held = Boolean(msg.id);
        if (!msg.id) urlSync.rewrite();
      }
      // after a jump in time the weights in use are another point's (views/timeline.js)
      if (msg.type === 'timeline' && msg.params) Object.assign(model.params, msg.params);
      const kind = model.apply(msg);
      if (model.startedOver) { // back at the start: the views drop the phase they showed
        model.startedOver = false;
        dispatch('start', msg);
      }
      dispatch(kind, msg);
      if (refused) dispatch('link-refused');
      if (event && event.kind === 'restored') dispatch('notice', { key: 'restore.done', params: { n: event.iteration }, tone: 'info' });
      else if (event) dispatch('notice', { key: whole ? 'restore.address' : 'restore.lost', announcesRun: true }); // the address's run comes next
    },
    onStatus: (status) => {
      keeper.onStatus(status);
      dispatch('connection', status);
    },
  });
  socket.start();
}

start();
