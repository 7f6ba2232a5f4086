"""The first load stays light (docs/performance.md, "Page"): views a learner does not
see on the first screen are fetched when first needed (static/js/views/lazy-slot.js),
and then show what happened before they loaded."""

from __future__ import annotations

import urllib.parse
from typing import Any

from tests.browser.conftest import Lab

DESK = {"viewport": {"width": 1280, "height": 860}}
SINGLE = "/?dataset=single&hidden=&batch=2&out=sigmoid&loss=mse"
ACT = "[data-slot='activation'] .bpl-act"
GRAPH = "[data-slot='graph'] .bpl-graph"
#: the page-weight target for the first load, KB transferred (bench/page.py)
BUDGET_KB = 150

#: fetched only when needed: the graph, the curve, the dialogs, the earlier runs, the
#: landscape, the lessons, the optimizer-state strip, the other language, a table's views
#: (real data, a CSV), and their stylesheets and words
LAZY = (
    "/static/js/views/graph-panel.js", "/static/js/views/graph-draw.js",
    "/static/js/views/graph-values.js", "/static/js/views/graph-layout.js",
    "/static/css/graph-panel.css", "/static/js/views/activation-panel.js",
    "/static/js/views/help-dialog.js", "/static/js/views/share-dialog.js",
    "/static/css/share-dialog.css", "/static/js/views/confirm-dialog.js",
    "/static/js/views/runs-menu.js", "/static/js/lessons/course-list.js",
    "/static/js/lessons/lesson-panel.js", "/static/css/lesson-panel.css",
    "/static/js/views/landscape-view.js", "/static/css/landscape-panel.css",
    "/static/js/views/optimizer-state.js", "/static/css/runs.css", "/static/js/strings-ja.js",
    "/static/js/views/real-data-views.js", "/static/css/real-data.css",
    "/static/js/strings-en-lessons.js", "/static/js/strings-en-later.js",
    "/static/js/views/chart-compare.js",  # (once there is something to compare with)
    "/static/js/views/follow-bar.js", "/static/css/follow-bar.css",  # (following a class)
    "/static/js/views/csv-read.js",  # (a file picked)
    "/static/js/views/step-downloads.js",  # (the timeline's fold opened)
    "/static/js/projector-fold.js",  # (presentation mode)
    "/static/js/views/inspected-mark.js",  # (the first weight or neuron inspected)
)


class Fetches:
    """The page's HTML, JS and CSS responses: path → bytes of body received."""

    def __init__(self, lab: Lab) -> None:
        self.sizes: dict[str, int] = {}
        lab.page.on("requestfinished", self.on_finished)

    def on_finished(self, request: Any) -> None:
        if request.resource_type in ("document", "script", "stylesheet"):
            path = urllib.parse.urlsplit(request.url).path
            self.sizes[path] = request.sizes()["responseBodySize"]

    def fetched(self, path: str) -> bool:
        return path in self.sizes

    def arrives(self, lab: Lab, path: str, seconds: float = 10.0) -> bool:
        """Whether ``path`` is fetched within ``seconds`` (a response's "finished" event
        may reach the test after the page has used it, on a busy machine)."""
        for _ in range(int(seconds / 0.05)):
            if self.fetched(path):
                return True
            lab.page.wait_for_timeout(50)
        return self.fetched(path)


def open_quiet(lab: Lab, path: str = "/") -> Fetches:
    """Open the page and wait until its network is quiet: what it fetched is the first load."""
    fetches = Fetches(lab)
    lab.open(path)
    lab.page.wait_for_load_state("networkidle")
    return fetches


def test_the_first_load_leaves_the_views_not_on_screen_for_later(make_lab: Any) -> None:
    lab = make_lab(**DESK)
    fetches = open_quiet(lab)
    assert [p for p in LAZY if fetches.fetched(p)] == []
    assert fetches.arrives(lab, "/static/js/strings-en.js")
    assert sum(fetches.sizes.values()) <= BUDGET_KB * 1024, fetches.sizes
    assert lab.page.locator(ACT).count() == 0  # the curve's placeholder only
    assert lab.text("[data-slot='activation'] h2") == "Activation curve"

    # a dialog opened by a button: its code and its stylesheet come on the first open
    lab.page.click(".share-btn")
    lab.page.wait_for_selector("dialog.share-dialog[open]")
    assert fetches.arrives(lab, "/static/js/views/share-dialog.js")
    assert fetches.arrives(lab, "/static/css/share-dialog.css")
    align = lab.page.eval_on_selector(".share-code", "e => getComputedStyle(e).textAlign")
    assert align == "center"  # styled as it opens
    lab.page.keyboard.press("Escape")
    lab.page.click(".help-btn")
    lab.page.wait_for_selector("dialog.help[open]")
    assert lab.text("dialog.help h2") == "Keyboard shortcuts"
    lab.page.keyboard.press("Escape")

    # the other language: fetched on the first switch, then everything is relabelled
    lab.page.click(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert fetches.arrives(lab, "/static/js/strings-ja.js")
    assert lab.text(".btn-step-phase") == "1フェーズ進む"
    assert lab.text("dialog.help h2") == "キーボード操作"
    assert lab.text("[data-slot='activation'] h2") == "活性化関数の曲線"
    assert lab.errors == []


def test_the_curve_loads_in_view_and_shows_the_frame_it_missed(make_lab: Any) -> None:
    slot = "[data-slot='activation']"
    height = f"() => document.querySelector(\"{slot}\").getBoundingClientRect().height"
    # its placeholder holds the panel's place: nothing below moves as it loads
    lab = make_lab(**DESK)
    fetches = open_quiet(lab)
    before = lab.page.evaluate(height)
    lab.page.eval_on_selector(slot, "e => e.scrollIntoView()")
    lab.page.wait_for_selector(f"{ACT} .act-svg")
    assert fetches.arrives(lab, "/static/js/views/activation-panel.js")
    lab.settled()
    assert abs(lab.page.evaluate(height) - before) <= 8

    # a frame that came before the curve loaded is drawn once it has
    lab = make_lab(**DESK)
    fetches = open_quiet(lab)
    lab.step("phase")  # forward
    fwd = lab.last("frame", phase="forward")["values"]
    assert not fetches.fetched("/static/js/views/activation-panel.js")
    lab.page.eval_on_selector(slot, "e => e.scrollIntoView()")
    lab.page.wait_for_selector(f"{ACT} .act-svg")
    rows, units = len(fwd["L1.z"]), len(fwd["L1.z"][0])
    lab.page.wait_for_function(
        "n => document.querySelectorAll('.act-dots:not(.act-ddots) circle').length === n",
        arg=rows * units)
    assert lab.errors == []


def test_the_graph_comes_with_a_network_it_draws(make_lab: Any) -> None:
    lab = make_lab(**DESK)
    fetches = open_quiet(lab, SINGLE)
    run = lab.wait_for_run(dataset="single")
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    assert fetches.arrives(lab, "/static/js/views/graph-panel.js")
    assert fetches.arrives(lab, "/static/css/graph-panel.css")
    lab.step("phase")  # forward
    fwd = lab.last("frame", phase="forward")["values"]
    lab.settled()
    shown = lab.page.evaluate("""() => {
      const num = (key, sel) => Number(document.querySelector(
        `.graph-svg .gnode[data-key="${key}"] ${sel}`).dataset.v);
      return { w: num('w.1.0.0', '.g-val'), z: num('add.1.0', '.g-val') };
    }""")
    assert shown["w"] == run["params"]["L1.W"][0][0]
    assert shown["z"] == fwd["L1.z"][0][0]
    assert lab.errors == []


def test_a_view_built_late_gets_only_the_latest_runs_events(make_lab: Any) -> None:
    """A view loaded after a second run came replays that run's events, not the first
    run's (drawn with the page's model, by then the second run's: digits' unit images
    drawn from iris's weights threw); a class's status and the connection outlast the run
    and are kept (dropping the connection left the lessons unable to open)."""
    lab = make_lab(**DESK)
    open_quiet(lab)
    got = lab.page.evaluate("""async () => {
      const { LazySlot, latestOf } = await import('/static/js/views/lazy-slot.js');
      const seen = [];
      class View { update(e) { seen.push(`${e.kind}:${e.msg.n}`); } }
      const slot = new LazySlot(document.createElement('div'), {}, {
        load: () => Promise.resolve(View),
        keep: latestOf(['run', 'state', 'focus', 'follow-mode', 'connection']) });
      for (const [kind, n] of [['run', 1], ['state', 1], ['focus', 1], ['follow-mode', 1],
                               ['connection', 1], ['run', 2], ['state', 2]]) {
        slot.update({ kind, msg: { n } });
      }
      await slot.load();
      slot.update({ kind: 'state', msg: { n: 3 } });
      return seen;
    }""")
    assert got == ["follow-mode:1", "connection:1", "run:2", "state:2", "state:3"]
