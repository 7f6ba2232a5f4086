"""The charts and the gradient bars in real Chromium, checked for what they show.

Each chart keeps what it drew on its element (`drawn`: the series' iterations and
values, the markers and the cursor, in data and pixel coordinates); the tests
compare that with what the engine sent (the ``metrics`` messages, the backward
frame), never with numbers computed here, and look at the canvas's pixels where
a mark must be. The screenshots are docs/screenshots/charts-*.png (run with
BPL_SCREENSHOTS=1 to refresh them).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from tests.browser.conftest import Lab

DESK = {"viewport": {"width": 1280, "height": 800}}
LESSON = ".lesson-panel"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}

DRAWN = """e => ({...e.drawn, series: e.drawn.series.map(s => ({key: s.key, label: s.label,
  xs: [...s.xs], values: [...s.values], step: s.step}))})"""
#: rows of a chart's canvas with a dark pixel within a pixel of column ``px`` (CSS px)
DARK_IN_COLUMN = """([e, px]) => {
  const c = e.querySelector('canvas'), r = window.devicePixelRatio || 1;
  const x0 = Math.floor(px * r) - 1;
  const d = c.getContext('2d').getImageData(x0, 0, 3, c.height).data;
  let n = 0;
  for (let row = 0; row < c.height; row++) {
    let dark = false;
    for (let k = 0; k < 3; k++) {
      const i = 4 * (3 * row + k);
      if (d[i] < 80 && d[i + 1] < 80 && d[i + 2] < 80 && d[i + 3] > 200) dark = true;
    }
    if (dark) n++;
  }
  return n / r;
}"""
#: the colour under a point of a chart's canvas (CSS px), and around it
PIXELS_NEAR = """(e, [px, py, rad]) => {
  const c = e.querySelector('canvas'), r = window.devicePixelRatio || 1;
  const d = c.getContext('2d').getImageData(Math.round((px - rad) * r), Math.round((py - rad) * r),
                                            Math.round(2 * rad * r), Math.round(2 * rad * r)).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) out.push([d[i], d[i + 1], d[i + 2]]);
  return out;
}"""


def errors(lab: Lab) -> list[str]:
    """The page's errors and warnings, but Chromium's hint about this test's own reads of
    the canvas's pixels (getImageData)."""
    return [e for e in lab.errors if "willReadFrequently" not in e]


def send(lab: Lab, msg: dict[str, Any]) -> None:
    """Send ``msg`` through the page's own socket (as the page's controls would)."""
    lab.page.evaluate("m => window.__sockets.at(-1).send(JSON.stringify(m))", msg)


def configure(lab: Lab, **config: Any) -> dict[str, Any]:
    send(lab, {"type": "configure", "config": config})
    return lab.wait_for_run(**{k: v for k, v in config.items() if k != "schedule"})


def drawn(lab: Lab, chart: str) -> dict[str, Any]:
    lab.settled()  # the charts redraw on the next animation frame
    d: dict[str, Any] = lab.page.eval_on_selector(f"[data-chart='{chart}']", DRAWN)
    return d


def series(d: dict[str, Any], key: str) -> dict[int | float, float]:
    s = next(s for s in d["series"] if s["key"] == key)
    return dict(zip(s["xs"], s["values"], strict=True))


def sent(lab: Lab, key: str, start: int = 0) -> dict[int, float]:
    """``key`` of every metrics and trace point received since ``start``, by iteration."""
    out: dict[int, float] = {}
    for m in lab.received[start:]:
        if m.get("type") == "metrics" and "compare" not in m:
            for p in m["points"] + m.get("trace", []):
                if key in p:
                    out.setdefault(p["iteration"], p[key])
    return out


def roughness(values: list[float]) -> float:
    """Mean |Δ log v| between successive values: how jagged a loss curve is."""
    logs = [math.log(v) for v in values if v > 0]
    return sum(abs(b - a) for a, b in itertools.pairwise(logs)) / (len(logs) - 1)


def test_the_lr_chart_follows_a_step_schedules_drops_at_the_right_iterations(
        make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    configure(lab, dataset="xor", lr=0.1,
              schedule={"name": "step", "step_size": 20, "gamma": 0.5})
    lab.play_until("30", 70)
    lr = series(drawn(lab, "lr"), "lr")
    # the rate each update used, as the engine sent it, one point per iteration or so
    want = sent(lab, "lr")
    assert lr == {it: want[it] for it in lr} and len(lr) >= 60
    # η₀ · γ^⌊t / 20⌋ for the t-th update (t = 0, 1, …): iteration n used t = n − 1
    for n, v in lr.items():
        assert math.isclose(v, 0.1 * 0.5 ** ((n - 1) // 20), rel_tol=1e-12), n
    # a staircase: each value holds up to its own point, so the drops stand at 20, 40, 60…
    xs = sorted(lr)
    drops = [a for a, b in itertools.pairwise(xs) if lr[b] < lr[a]]
    assert drops == list(range(20, xs[-1], 20)) and len(drops) >= 3
    # the charts, one above the other, share one iteration axis (the loss's started at 0,
    # the rate's at 1 and the accuracy's at its first evaluation)
    ends = {c: (d["x0"], d["x1"]) for c in ("loss", "accuracy", "lr", "gnorm", "ratio")
            for d in [drawn(lab, c)]}
    assert len(set(ends.values())) == 1 and ends["loss"][0] == 0, ends
    assert errors(lab) == []


def test_a_linear_axis_reads_in_round_steps(make_lab: Any) -> None:
    """The loss axis's numbers are round (0.72, 0.74, 0.76: a step of 1, 2 or 5 × 10ⁿ),
    evenly spaced, within the values drawn (they were the range's ends and middle)."""
    lab = make_lab(**DESK).open()
    for _ in range(5):
        lab.step("iteration")
    d = drawn(lab, "loss")
    ys = [float(lab_.replace("−", "-")) for lab_ in (x["text"] for x in d["labels"][:-2])]
    assert 2 <= len(ys) <= 5, ys
    steps = {round(b - a, 12) for a, b in itertools.pairwise(sorted(ys))}
    assert len(steps) == 1, ys
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), (ys, step)
    assert d["lo"] - 1e-12 <= min(ys) and max(ys) <= d["hi"] + 1e-12
    assert errors(lab) == []


def test_a_log_chart_whose_every_value_is_0_says_so_not_that_it_is_to_come(
        make_lab: Any) -> None:
    """A ReLU layer dead for every sample (its biases at −50): no gradient reaches any
    weight, every layer's ‖ΔW‖/‖W‖ is 0, and a log scale cannot draw 0. The chart said
    "Appears after the first iteration" after three of them; it says every value is 0."""
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=4&act=relu")
    lab.wait_for_run(activation="relu")
    for j in range(4):
        mark = lab.mark()
        send(lab, {"type": "edit", "id": "L1.b", "index": [j], "value": -50})
        lab.wait_for_message("edit", after=mark)
    for _ in range(3):
        lab.step("iteration")
    ratios = [p["update_ratio"] for m in lab.messages("metrics") for p in m["points"]
              if "update_ratio" in p and p["iteration"] >= 1]
    assert len(ratios) >= 3 and all(r == [0, 0] for r in ratios), ratios
    lab.settled()
    assert lab.text("[data-chart='ratio'] .sr-only") == (
        "Every value is 0: a log scale cannot draw it")
    # and before any iteration, as before
    fresh = make_lab(**DESK).open("/?dataset=xor&hidden=4&act=relu")
    fresh.wait_for_run(activation="relu")
    fresh.settled()
    assert fresh.text("[data-chart='ratio'] .sr-only") == "Appears after the first iteration"
    assert errors(lab) == [] and errors(fresh) == []


def test_a_chart_of_one_iteration_names_it_once_under_its_points(make_lab: Any) -> None:
    """A lesson's run before play has its start's point alone: the x axis says "0" once,
    under the points (it said "0" at both ends, as a range from 0 to 0), and the Numbers
    say it was measured before any update."""
    lab = make_lab(**DESK).open()  # (the lesson's steps hide the network: the page first)
    mark = lab.mark()
    lab.page.goto(f"{lab.base_url}/?lesson=learning-rate&step=1")
    lab.wait_for_message("lesson_step", after=mark, step=1)
    lab.page.wait_for_function(
        "() => { const d = document.querySelector(\"[data-chart='loss']\").drawn;"
        " return d && d.series.some(s => s.xs.length); }")
    d = drawn(lab, "loss")
    assert d["x0"] == d["x1"] == 0
    xs = [x for x in d["labels"] if x["y"] > d["plot"]["bottom"]]
    assert [x["text"] for x in xs] == ["0"], d["labels"]
    middle = (d["plot"]["left"] + d["plot"]["right"]) / 2
    assert abs(xs[0]["x"] + xs[0]["w"] / 2 - middle) < 2
    # the Numbers say where that point is, as outside a lesson ("after iteration 0" before)
    assert "before any update" in lab.text("#stat-at")
    assert errors(lab) == []


def test_a_projected_lesson_step_shows_the_chart_it_talks_about_each_lone_point_a_dot(
        make_lab: Any) -> None:
    """A projector shows one chart: the teacher's pick, except while a lesson step that
    talks about another is open. The vanishing-gradient step asks the class to compare
    each layer's ‖∂L/∂W‖ after one iteration: the gradient-norm chart is projected (it
    showed the loss), and each layer's one point is a dot the back of the room can see,
    whole at the plot's right edge (it was a 3-pixel dash, cut by the plot's edge).
    Leaving the lesson gives the projector the teacher's pick back."""
    lab = make_lab(viewport={"width": 1280, "height": 720}).open()
    page = lab.page
    page.click(".present-btn")
    page.select_option("#chart-projector", "accuracy")  # the teacher's own pick
    mark = lab.mark()
    page.goto(f"{lab.base_url}/?lesson=vanishing-gradients&step=1")
    lab.wait_for_message("lesson_step", after=mark, step=1)
    if not page.evaluate("() => document.documentElement.classList.contains('present')"):
        page.click(".present-btn")
    projected = """() => [...document.querySelectorAll('.bpl-chart')]
        .filter(c => c.getClientRects().length).map(c => c.dataset.chart)"""
    page.wait_for_function(f"() => ({projected})().join() === 'gnorm'")
    assert page.input_value("#chart-projector") == "gnorm"
    page.click(".btn-step-iteration")
    page.wait_for_function(
        "() => (document.querySelector(\"[data-chart='gnorm']\").drawn?.dots || []).length === 8")
    d = drawn(lab, "gnorm")
    dots = {dot["key"]: dot for dot in d["dots"]}
    assert sorted(dots) == [f"L{k}" for k in range(1, 9)]
    for dot in dots.values():
        assert dot["r"] >= 3 and dot["px"] >= d["plot"]["right"] - 1  # iteration 1, at the edge
        # painted whole: the square around its centre, out past the plot's edge, filled
        near = page.eval_on_selector("[data-chart='gnorm']", PIXELS_NEAR,
                                     [dot["px"], dot["py"], 2])
        assert len(near) == 16, (dot["key"], len(near))
    assert dots["L1"]["py"] - dots["L8"]["py"] > 0.5 * (d["plot"]["bottom"] - d["plot"]["top"])
    page.click(f"{LESSON} .lesson-leave")
    page.wait_for_function(f"() => ({projected})().join() === 'accuracy'")
    assert page.input_value("#chart-projector") == "accuracy"
    assert errors(lab) == []


def test_the_batch_loss_is_noisier_than_the_train_loss_with_one_sample_and_equal_with_all(
        make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    configure(lab, dataset="circle", n_samples=200, batch_size=1, lr=0.1, seed=2)
    lab.play_until("30", 60)
    d = drawn(lab, "loss")
    batch, train = series(d, "batch"), series(d, "train")
    assert len(batch) >= 50 and len(train) >= 15
    # one sample's loss jumps from step to step; the whole data set's moves smoothly
    assert roughness(list(batch.values())) > 4 * roughness(list(train.values()))
    # the batch loss of iteration n is drawn at n − 1: its weights are those before its update
    want = sent(lab, "batch_loss")
    assert all(batch[n - 1] == want[n] for n in want if n - 1 in batch)

    configure(lab, dataset="circle", n_samples=200, batch_size=0, lr=0.1, seed=2)
    for _ in range(6):
        lab.step("iteration")
    d = drawn(lab, "loss")
    batch, train = series(d, "batch"), series(d, "train")
    # the whole training set as the batch: the batch loss lies on the train loss
    shared = sorted(set(batch) & set(train))
    assert shared == [1, 2, 3, 4, 5]
    for x in shared:
        assert math.isclose(batch[x], train[x], rel_tol=1e-9), x
    assert errors(lab) == []


def test_the_best_test_marker_sits_at_the_lowest_test_loss(make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    # a network that overfits 40 noisy points: the test loss falls, then rises
    configure(lab, dataset="circle", n_samples=40, noise=0.3, hidden=[32, 32],
              activation="relu", batch_size=0, lr=0.03, optimizer={"name": "adam"}, seed=3)
    lab.play_until("30", 90)
    d = drawn(lab, "loss")
    test = series(d, "test")
    best = min(test, key=lambda x: test[x])
    [marker] = d["markers"]
    assert (marker["x"], marker["y"]) == (best, test[best])
    assert best == min(sent(lab, "test_loss").items(), key=lambda kv: kv[1])[0]
    assert best < max(test.keys()) - 30  # early stopping would have stopped well before
    # the ring is drawn there, in the test loss's colour (vermillion), and said in words
    ring = lab.page.eval_on_selector("[data-chart='loss']", PIXELS_NEAR,
                                     [marker["px"], marker["py"], 7])
    assert any(r > 180 and g < 130 and b < 60 for r, g, b in ring)
    said = lab.text("[data-chart='loss'] .bpl-chart-marks")
    # (JavaScript's toPrecision(3) keeps trailing zeros, as Python's "#.3g" does: 0.170)
    assert said == f"lowest test loss {test[best]:#.3g} after iteration {best}: " \
        "early stopping would stop here"
    assert errors(lab) == []


def test_a_run_whose_test_loss_only_rose_says_so_instead_of_early_stopping_at_its_start(
        make_lab: Any) -> None:
    """A diverging run's lowest test loss is its first: the marker says the loss never fell
    below where it started (it said "early stop at 0"), in both languages."""
    lab = make_lab(**DESK).open()
    configure(lab, dataset="sine", lr=3.0)  # (MSE at a rate past its limit: it only rises)
    for _ in range(3):
        lab.step("iteration")
    lab.settled()
    d = drawn(lab, "loss")
    test = series(d, "test")
    first = min(test)
    assert len(test) >= 2 and min(test, key=lambda x: test[x]) == first, test
    [marker] = d["markers"]
    assert (marker["x"], marker["y"]) == (first, test[first])
    loss = f"{test[first]:#.3g}"
    said = {"en": (f"the test loss has not fallen below {loss}, where it started: early "
                   "stopping would keep the starting weights",
                   f"no lower than at the start: test loss {loss}"),
            "ja": (f"テスト損失は始めの {loss} より下がっていない：早期終了なら始めの重みのまま",
                   f"始めより下がらない：テスト損失 {loss}")}
    for lang in ("ja", "en"):
        lab.page.click(f".lang-btn[data-lang='{lang}']")
        lab.page.wait_for_function(f"() => document.documentElement.lang === '{lang}'")
        lab.settled()
        long, short = said[lang]
        assert lab.text("[data-chart='loss'] .bpl-chart-marks") == long
        assert lab.page.eval_on_selector("[data-chart='loss'] .bpl-chart-marks-short",
                                         "e => e.textContent") == short
    assert errors(lab) == []


def test_every_chart_has_a_cursor_at_the_rewound_iteration(make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    for _ in range(8):
        lab.step("iteration")
    for chart in ("loss", "accuracy", "lr", "gnorm", "ratio"):
        assert drawn(lab, chart)["cursor"] is None  # at the run's end: no cursor
    seen = []
    for it in (7, 6, 5):  # "◀◀ Iteration", as a learner steps back
        mark = lab.mark()
        lab.page.click(".tl-back-iteration")
        lab.wait_for_message("timeline", after=mark, iteration=it)
        for chart in ("loss", "accuracy", "lr", "gnorm", "ratio"):
            d = drawn(lab, chart)
            assert d["cursor"]["x"] == it, chart
            el = lab.page.query_selector(f"[data-chart='{chart}']")
            # a dark line the height of the plot at the cursor, not beside it
            plot = d["height"] - 24
            assert lab.page.evaluate(DARK_IN_COLUMN, [el, d["cursor"]["px"]]) > 0.8 * plot
            assert lab.page.evaluate(DARK_IN_COLUMN, [el, d["cursor"]["px"] - 12]) < 0.4 * plot
        seen.append(drawn(lab, "loss")["cursor"]["px"])
        assert f"you are here: iteration {it}" in lab.text("[data-chart='loss'] .sr-only")
    assert seen == sorted(seen, reverse=True)  # it moved left, one iteration at a time
    assert errors(lab) == []


def bar_heights(lab: Lab) -> list[float]:
    """The bars' heights on the screen, once they have grown (backward's animation)."""
    lab.page.evaluate("""() => Promise.all([...document.querySelectorAll('.gb-bar')]
      .flatMap(e => e.getAnimations()).map(a => a.finished))""")
    heights: list[float] = lab.page.eval_on_selector_all(
        "[data-slot='gradbars'] .gb-bar",
        "els => els.map(e => e.getBoundingClientRect().height)")
    return heights


def test_the_gradient_bars_stand_as_the_backward_frames_norms(make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    configure(lab, dataset="spiral", hidden=[8] * 8, activation="sigmoid", batch_size=20)
    shown = "els => els.map(e => getComputedStyle(e).visibility)"
    lab.settled()  # before a backward pass: no bar (not even a tick at the floor)
    assert set(lab.page.eval_on_selector_all("[data-slot='gradbars'] .gb-bar", shown)) == {
        "hidden"}
    for _ in range(3):
        lab.step("phase")  # forward, loss, backward
    back = lab.last("frame", phase="backward")["values"]
    g = [back[f"L{l}.gnorm"] for l in range(1, 10)]
    lab.settled()
    heights = bar_heights(lab)
    assert len(heights) == 9
    assert set(lab.page.eval_on_selector_all("[data-slot='gradbars'] .gb-bar", shown)) == {
        "visible"}
    # taller bar, larger gradient: the same order, layer by layer (log scale)
    assert sorted(range(9), key=lambda k: heights[k]) == sorted(range(9), key=lambda k: g[k])
    assert heights[0] < heights[8] / 2  # vanishing: the first layer's bar is short
    values = lab.page.eval_on_selector_all("[data-slot='gradbars'] .gb-value",
                                           "els => els.map(e => e.textContent)")
    assert [float(v.replace("−", "-")) for v in values] == [
        float(f"{x:.2g}" if 0.01 <= x < 1000 else f"{x:.1e}") for x in g]
    ratio = float(f"{g[8] / g[0]:.2g}")  # to two figures, as the bars' own numbers
    assert lab.text(".gb-verdict").startswith(
        f"Layer 1’s gradient is ~{ratio:,.0f} times smaller than layer 9’s: vanishing")
    # each bar stands under its weights: between the columns of layers l − 1 and l
    centres = lab.page.evaluate("""() => {
      const x = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                           return (r.left + r.right) / 2; };
      return [1, 5, 9].map(l => [x(`.gb-bar[data-layer="${l}"]`),
        (x(`circle.node[data-id^="L${l - 1}.a."]`) + x(`circle.node[data-id^="L${l}.a."]`)) / 2]);
    }""")
    for bar, between in centres:
        assert abs(bar - between) < 3
    lab.screenshot("charts-gradient-bars-sigmoid")
    # on a phone's width nine values do not fit side by side: every other one a line higher
    lab.page.set_viewport_size({"width": 390, "height": 844})
    lab.page.wait_for_selector(".gb-bars.gb-tight")
    boxes = lab.page.eval_on_selector_all("[data-slot='gradbars'] .gb-value", """els =>
        els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.top]; })""")
    for (_, right, top), (left, _, top2) in itertools.pairwise(boxes):
        assert right <= left or top != top2, boxes  # apart, or on different lines
    lab.page.set_viewport_size(DESK["viewport"])
    # the next iteration's forward pass: the bars stay, faded, as the previous iteration's
    lab.step("phase")
    lab.step("phase")
    lab.settled()
    assert "gb-stale" in lab.page.get_attribute("[data-view='gradient-bars']", "class")
    # ReLU with He's initialization: every layer's gradient within a decade or two
    configure(lab, dataset="spiral", hidden=[8] * 8, activation="relu", init="he_normal",
              batch_size=20)
    lab.step("iteration")
    back = lab.last("frame", phase="backward")["values"]
    g = [back[f"L{l}.gnorm"] for l in range(1, 10)]
    lab.settled()
    heights = bar_heights(lab)
    assert sorted(range(9), key=lambda k: heights[k]) == sorted(range(9), key=lambda k: g[k])
    assert min(heights) > 0.6 * max(heights)
    assert lab.text(".gb-verdict") == ""
    assert errors(lab) == []


#: in the page: sampled every 40 ms for ``ms``, the largest gap between a bar's height on
#: the screen and the height its number gives it, as a share of the plot's height
BAR_GAPS = """ms => new Promise(done => {
  const gaps = [];
  const t0 = performance.now();
  const look = () => {
    let worst = 0;
    for (const bar of document.querySelectorAll("[data-slot='gradbars'] .gb-bar")) {
      const track = bar.parentElement.getBoundingClientRect().height;
      const want = track * parseFloat(bar.style.height) / 100;
      worst = Math.max(worst, Math.abs(bar.getBoundingClientRect().height - want) / track);
    }
    gaps.push(worst);
    if (performance.now() - t0 < ms) setTimeout(look, 40); else done(gaps);
  };
  look();
})"""


def test_the_gradient_bars_stand_at_their_numbers_while_played_slowly(make_lab: Any) -> None:
    """At 4 it/s (every phase shown) and at 1, the bars stand at the heights their numbers
    give them for most of an iteration: their grow fits the time between two backward
    passes, or is left out (at 4 it/s the first layer's bar never reached its height,
    and the largest gradient looked the smallest)."""
    lab = make_lab(**DESK).open()
    page = lab.page
    for speed in ("4", "1"):
        page.select_option("#ctl-speed", speed)
        mark = lab.mark()
        page.click(".btn-toggle-play")
        lab.wait_for_message("frame", after=mark, phase="backward", timeout=10)
        gaps = page.evaluate(BAR_GAPS, 2000)
        mark = lab.mark()
        page.click(".btn-toggle-play")
        lab.wait_for_message("state", after=mark, playing=False)
        standing = sum(g < 0.05 for g in gaps) / len(gaps)
        if speed == "4":  # no time to grow: they stand (the first layer's: never, before)
            assert standing > 0.9, standing
        else:  # they still grow, backward from the output, in a third of an iteration
            assert standing > 0.5 and max(gaps) > 0.1, (standing, max(gaps))
    assert errors(lab) == []


def test_a_compared_branch_and_an_earlier_run_are_drawn_with_their_labels(
        make_lab: Any) -> None:
    lab = make_lab(**DESK).open()
    for _ in range(6):
        lab.step("iteration")
    first = sent(lab, "train_loss")
    mark = lab.mark()
    lab.page.click(".tl-back-iteration")
    lab.page.click(".tl-back-iteration")
    lab.page.click(".tl-back-iteration")
    lab.wait_for_message("timeline", after=mark, iteration=3)
    send(lab, {"type": "set", "lr": 0.3})  # a change in the past: branch 1
    lab.wait_for_message("timeline", after=mark, branch=1)
    for _ in range(3):
        lab.step("iteration")
    mark = lab.mark()
    lab.page.select_option("#chart-compare", "b0")
    cmp = lab.wait_for_message("metrics", after=mark, compare={"branch": 0})
    d = drawn(lab, "loss")
    label = "Original run"  # (as the timeline names it)
    legend = lab.page.eval_on_selector_all("[data-chart='loss'] .bpl-chart-legend li",
                                           "els => els.map(e => e.textContent)")
    assert legend == ["train", "test", "batch", f"train · {label}", f"test · {label}"]
    # branch 0's own numbers, iterations 1-6, beside branch 1's
    assert series(d, "cmp-train") == first == {p["iteration"]: p["train_loss"]
                                               for p in cmp["points"]}
    assert sorted(series(d, "train")) == [1, 2, 3, 4, 5, 6]
    rate = drawn(lab, "lr")
    assert set(series(rate, "cmp-lr").values()) == {0.03}
    assert series(rate, "lr")[6] == 0.3
    gnorm = lab.page.eval_on_selector_all("[data-chart='gnorm'] .bpl-chart-legend li",
                                          "els => els.map(e => e.textContent)")
    assert gnorm == ["L1", "L2", "L3", label]
    assert label in lab.text("[data-chart='accuracy'] .sr-only")

    # an earlier run: sigmoid against this ReLU run
    configure(lab, dataset="xor", activation="sigmoid")
    for _ in range(4):
        lab.step("iteration")
    configure(lab, dataset="xor", activation="relu", init="he_normal")
    lab.settled()  # the page has taken that run (the message came to the test first)
    assert lab.page.eval_on_selector("#chart-compare", "s => s.value") == ""  # the old branches
    for _ in range(4):
        lab.step("iteration")
    runs = lab.last("run")["runs"]
    sigmoid = next(r["id"] for r in runs if r["settings"]["activation"] == "sigmoid")
    mark = lab.mark()
    lab.page.select_option("#chart-compare", f"r{sigmoid}")
    lab.wait_for_message("metrics", after=mark, compare={"run": sigmoid})
    # read once the page has drawn that message: the test has it before the page does
    gnorm_drawn = drawn(lab, "gnorm")
    legend = lab.page.eval_on_selector_all("[data-chart='gnorm'] .bpl-chart-legend li",
                                           "els => els.map(e => e.textContent)")
    assert legend[-1].startswith(f"Run {sigmoid} · sigmoid")
    assert len(series(gnorm_drawn, "cmp-L1")) == 4
    # a reload keeps the comparison: the tab asks for it again (it was gone)
    mark = lab.mark()
    lab.page.reload()
    lab.wait_ready()
    lab.wait_for_message("metrics", after=mark, compare={"run": sigmoid})
    lab.settled()
    assert lab.page.eval_on_selector("#chart-compare", "s => s.value") == f"r{sigmoid}"
    legend = lab.page.eval_on_selector_all("[data-chart='gnorm'] .bpl-chart-legend li",
                                           "els => els.map(e => e.textContent)")
    assert legend[-1].startswith(f"Run {sigmoid} · sigmoid")
    # and so does "nothing", once picked
    lab.page.select_option("#chart-compare", "")
    lab.settled()
    mark = lab.mark()
    lab.page.reload()
    lab.wait_ready()
    lab.settled()
    assert lab.page.eval_on_selector("#chart-compare", "s => s.value") == ""
    assert not [m for m in lab.received[mark:] if m.get("compare")]
    assert errors(lab) == []


#: whether the projector's chart menu shows its chosen name whole (its text as wide as
#: the menu leaves beside its arrow)
PICK_WHOLE = """() => {
  const pick = document.querySelector('#chart-projector');
  const span = document.createElement('span');
  span.style.font = getComputedStyle(pick).font;
  span.style.cssText += 'white-space: pre; position: absolute; display: inline-block; width: auto';
  span.textContent = pick.selectedOptions[0].textContent;
  document.body.append(span);
  const need = span.getBoundingClientRect().width;
  span.remove();
  const cs = getComputedStyle(pick);
  const room = pick.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 20;
  return [pick.selectedOptions[0].textContent, need <= room, Math.round(need), Math.round(room)];
}"""


def projector_shot(lab: Lab, name: str) -> None:
    """What the projector shows: the first screen only (the panels below it load as the
    page scrolls to them, so a full-page shot would show them empty)."""
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.screenshot(path=str(lab.shot_dir / f"{name}.png"), animations="disabled")


def scene(lab: Lab) -> None:
    """A sigmoid run, then a ReLU run compared with it, both on a step schedule with
    warm-up and batches of 4, rewound to iteration 300's backward pass."""
    common = {"dataset": "circle", "hidden": [6, 6], "batch_size": 4, "lr": 0.3,
              "schedule": {"name": "step", "step_size": 150, "gamma": 0.5, "warmup": 30}}
    for extra in ({"activation": "sigmoid"}, {"activation": "relu", "init": "he_normal"}):
        configure(lab, **common, **extra)
        send(lab, {"type": "play", "speed": 1000})
        lab.page.wait_for_function(
            "() => Number(document.querySelector('#stat-iteration').textContent) >= 600")
        mark = lab.mark()
        send(lab, {"type": "pause"})
        lab.wait_for_message("state", after=mark, playing=False)
    earlier = lab.last("run")["runs"][0]["id"]
    mark = lab.mark()
    lab.page.select_option("#chart-compare", f"r{earlier}")
    lab.wait_for_message("metrics", after=mark, compare={"run": earlier})
    send(lab, {"type": "seek", "iteration": 300, "phase": "backward"})
    lab.wait_for_message("timeline", after=mark, iteration=300)
    lab.settled()
    lab.page.evaluate("() => window.scrollTo(0, 0)")


def test_the_charts_on_a_desk_a_projector_and_a_phone(make_lab: Any) -> None:
    """docs/screenshots/charts-*.png: what the charts and bars look like on each screen;
    on each, every chart draws the comparison and the cursor (on a projector the one the
    teacher picks, at its size on the first screen), and nothing overflows."""
    lab = make_lab(**DESK).open()
    scene(lab)
    lab.screenshot("charts-desk-en")
    lab.page.click(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.settled()
    assert "比較" in lab.text(".bpl-compare label")
    # (600 iterations of xor: the test loss still falls, and the lowest is the latest
    # point; "early stopping would stop here" read as if it were time to stop)
    assert lab.text("[data-chart='loss'] .bpl-chart-marks").startswith(
        "テスト損失は最新の点"), lab.text("[data-chart='loss'] .bpl-chart-marks")
    lab.screenshot("charts-desk-ja")
    lab.page.click(".lang-btn[data-lang='en']")
    lab.page.set_viewport_size({"width": 1280, "height": 720})
    lab.page.click(".present-btn")
    lab.settled()
    projector_shot(lab, "charts-present")
    # the side column's panels do not overlap: the coach, with no note at this iteration,
    # is hidden (its heading stayed, pushed the map down and covered the chart's menu)
    side = lab.page.evaluate("""() => {
        const box = (s) => document.querySelector(s).getBoundingClientRect();
        const pick = box('#chart-projector');
        const hit = document.elementFromPoint(pick.x + pick.width / 2, pick.y + pick.height / 2);
        const coach = document.querySelector('.coach');  // (loaded with a run's first note)
        return {coach: coach ? coach.getClientRects().length : 0,
                map: box('[data-slot="maps"]').bottom, chart: box('[data-slot="charts"]').top,
                pick: hit && hit.closest('#chart-projector') !== null};
    }""")
    assert side == {"coach": 0, "map": side["map"], "chart": side["chart"], "pick": True}, side
    assert side["map"] <= side["chart"], side
    # the best-test line says what early stopping would do in fewer words, whole, on
    # the projector's one line (it was cut off: "…after iteratio…"), in both languages
    said = {"ja": "まだ下降中：テスト損失 {y}", "en": "still falling: test loss {y}"}
    for lang in ("ja", "en"):
        lab.page.click(f".lang-btn[data-lang='{lang}']")
        lab.page.wait_for_function(f"() => document.documentElement.lang === '{lang}'")
        lab.settled()
        line = lab.page.eval_on_selector("[data-chart='loss'] .bpl-chart-marks-short", """e => ({
            text: e.textContent, shown: e.getClientRects().length > 0,
            room: e.clientWidth - e.scrollWidth})""")
        best = drawn(lab, "loss")["markers"][0]
        assert line["text"] == said[lang].format(x=best["x"], y=f"{best['y']:#.3g}"), line
        assert line["shown"] and line["room"] >= 0, line
        assert not lab.page.is_visible("[data-chart='loss'] .bpl-chart-marks")
        pick = lab.page.evaluate(PICK_WHOLE)
        assert pick[1], pick  # the menu names the chart whole
        if lang == "ja":
            projector_shot(lab, "charts-present-ja")
    # the projector shows the one chart the teacher picks: each in turn, alone, drawn at the
    # size of its cell on the first screen with the comparison and the cursor
    for chart in ("loss", "accuracy", "lr", "gnorm", "ratio"):
        lab.page.select_option("#chart-projector", chart)
        shown = lab.page.evaluate("""() => [...document.querySelectorAll('.bpl-chart')]
            .filter(c => c.getClientRects().length).map(c => c.dataset.chart)""")
        assert shown == [chart]
        name, whole, *_ = lab.page.evaluate(PICK_WHOLE)
        assert whole, (chart, name, _)
        d = drawn(lab, chart)
        assert d["cursor"]["x"] == 300.75, chart  # iteration 300, update next
        assert any(s["key"].startswith("cmp-") for s in d["series"]), chart
        box = lab.page.eval_on_selector(
            f"[data-chart='{chart}'] canvas", """c => { const r = c.getBoundingClientRect();
                return {w: c.clientWidth, h: c.clientHeight, bottom: r.bottom}; }""")
        assert d["width"] == box["w"] > 0, chart  # redrawn at its size
        assert box["h"] >= 100 and box["bottom"] <= 720, (chart, box)
    phone = make_lab(**PHONE, locale="ja-JP").open()
    scene(phone)
    width = phone.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390  # nothing scrolls sideways
    phone.page.locator("[data-slot='charts']").scroll_into_view_if_needed()
    phone.shot_dir.mkdir(parents=True, exist_ok=True)
    phone.page.screenshot(path=str(phone.shot_dir / "charts-phone-ja.png"), animations="disabled")
    phone.page.locator("[data-slot='gradbars']").scroll_into_view_if_needed()
    phone.page.screenshot(path=str(phone.shot_dir / "charts-phone-bars-ja.png"),
                          animations="disabled")
    assert errors(lab) == [] and errors(phone) == []
