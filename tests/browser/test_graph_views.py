"""The computational graph and the activation curve in real Chromium, checked against
the frames and ``inspect`` messages the engine sent (recorded by the ``Lab`` fixture).

The graph shows one sample of the batch: every node's value in the forward phase and
its local derivative and ∂L/∂ of its value in the backward phase are the frame's
numbers, and the chain rule along a weight's path multiplies out to the inspector's
gradient of that weight. The activation curve is the engine's f and f′ with this
batch's z on it; a sigmoid layer with large weights is mostly saturated, a ReLU layer
with very negative biases is dead.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

import numpy as np
from playwright.sync_api import expect

from tests.browser.conftest import Lab, parse_number

DESK = {"viewport": {"width": 1280, "height": 800}}
SINGLE = "/?dataset=single&hidden=&batch=2&out=sigmoid&loss=mse"
GRAPH = "[data-slot='graph'] .bpl-graph"
ACT = "[data-slot='activation'] .bpl-act"

#: every node of the graph: key → the full-precision numbers it shows (None: nothing yet)
#: and the texts it shows
NODES_JS = """() => Object.fromEntries([...document.querySelectorAll('.graph-svg .gnode')]
.map(g => {
  const num = (sel) => { const e = g.querySelector(sel);
    return e && e.dataset.v ? Number(e.dataset.v) : null; };
  const text = (sel) => { const e = g.querySelector(sel); return e ? e.textContent : ''; };
  return [g.dataset.key, {val: num('.g-val'), grad: num('.g-grad'), local: num('.g-local'),
    valText: text('.g-val'), gradText: text('.g-grad'), localText: text('.g-local'),
    onPath: g.classList.contains('on-path')}];
}))"""


def frames_of(lab: Lab, iteration: int) -> dict[str, dict[str, Any]]:
    return {m["phase"]: m["values"] for m in lab.messages("frame") if m["iteration"] == iteration}


def nodes(lab: Lab) -> dict[str, dict[str, Any]]:
    lab.settled()
    return lab.page.evaluate(NODES_JS)


def close(shown: float | None, want: float) -> bool:
    return shown is not None and math.isclose(shown, want, rel_tol=1e-12, abs_tol=1e-15)


def reads_as(text: str, want: float) -> bool:
    """The text shows ``want`` to the 3 significant digits it is written with."""
    v = parse_number(re.sub(r"^[^\d−\-]*", "", text).replace("e−", "e-"))
    return math.isclose(v, want, rel_tol=6e-3, abs_tol=1e-12)


def product_shown(lab: Lab) -> float:
    return float(lab.page.get_attribute(f"{GRAPH} .bpl-graph-numbers", "data-product") or "nan")


def open_inspector_on_path(lab: Lab) -> dict[str, Any]:
    mark = lab.mark()
    lab.page.click(f"{GRAPH} .bpl-graph-inspect")
    return lab.wait_for_message("inspect", after=mark)


def test_each_node_shows_the_frames_numbers_phase_by_phase(make_lab: Any) -> None:
    lab = make_lab(**DESK).open(SINGLE)
    run = lab.wait_for_run(dataset="single")
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    # the single neuron: x → w·x → + b → σ → L, with the textbook's names
    before = nodes(lab)
    assert set(before) == {"x.0", "w.1.0.0", "mul.1.0.0", "b.1.0", "add.1.0", "f.1.0",
                           "loss", "t.0"}
    assert close(before["w.1.0.0"]["val"], run["params"]["L1.W"][0][0])
    assert before["add.1.0"]["val"] is None and before["loss"]["val"] is None

    lab.step("phase")  # forward
    fwd = frames_of(lab, 0)["forward"]
    g = nodes(lab)
    w, b = run["params"]["L1.W"][0][0], run["params"]["L1.b"][0]
    x, z, y, t = fwd["x"][0][0], fwd["L1.z"][0][0], fwd["L1.a"][0][0], fwd["t"][0][0]
    assert close(g["x.0"]["val"], x) and close(g["t.0"]["val"], t)
    assert close(g["mul.1.0.0"]["val"], w * x) and close(g["b.1.0"]["val"], b)
    assert close(g["add.1.0"]["val"], z) and reads_as(g["add.1.0"]["valText"], z)
    assert close(g["f.1.0"]["val"], y) and reads_as(g["f.1.0"]["valText"], y)
    assert all(n["grad"] is None for k, n in g.items() if k not in ("w.1.0.0", "b.1.0"))
    assert g["loss"]["val"] is None

    lab.step("phase")  # loss
    loss = frames_of(lab, 0)["loss"]
    g = nodes(lab)
    assert close(g["loss"]["val"], loss["loss.data"])
    ell = lab.text(f"{GRAPH} .bpl-graph-sample").split("ℓ = ")[1]
    assert math.isclose(parse_number(ell), loss["loss.per_sample"][0], rel_tol=1e-3)
    assert g["f.1.0"]["grad"] is None  # gradients come with the backward pass

    lab.step("phase")  # backward
    back = frames_of(lab, 0)["backward"]
    g = nodes(lab)
    delta = back["L1.delta"][0][0]
    assert close(g["loss"]["grad"], 1.0)
    assert close(g["loss"]["local"], loss["L1.da"][0][0])  # ∂L/∂y = (y − t)/B
    assert close(g["f.1.0"]["grad"], loss["L1.da"][0][0])
    assert close(g["f.1.0"]["local"], back["L1.dfz"][0][0])  # f′(z) = σ(z)(1 − σ(z))
    assert reads_as(g["f.1.0"]["localText"], back["L1.dfz"][0][0])
    assert close(g["add.1.0"]["grad"], delta) and close(g["add.1.0"]["local"], 1.0)
    assert close(g["mul.1.0.0"]["grad"], delta) and close(g["mul.1.0.0"]["local"], x)
    assert close(g["b.1.0"]["grad"], delta) and close(g["w.1.0.0"]["grad"], delta * x)
    assert close(g["x.0"]["grad"], back["L0.da"][0][0])
    # the path of w is marked from the loss to w
    assert [k for k, n in g.items() if n["onPath"]] == [
        "w.1.0.0", "mul.1.0.0", "add.1.0", "f.1.0", "loss"]

    lab.step("phase")  # update: each parameter's new value and the step it took
    upd = frames_of(lab, 0)["update"]
    g = nodes(lab)
    assert close(g["w.1.0.0"]["val"], upd["L1.W"][0][0])
    assert close(g["w.1.0.0"]["grad"], upd["L1.W.step"][0][0])
    assert g["w.1.0.0"]["gradText"].startswith("Δ")
    assert close(g["b.1.0"]["val"], upd["L1.b"][0])
    # the forward values stay those of the weights forward used
    assert close(g["mul.1.0.0"]["val"], w * x)

    # the other sample of the batch: its own row of every frame
    lab.page.click(f"{GRAPH} .bpl-graph-next")
    g = nodes(lab)
    assert lab.page.get_attribute(GRAPH, "data-row") == "1"
    assert close(g["add.1.0"]["val"], fwd["L1.z"][1][0])
    assert close(g["f.1.0"]["local"], back["L1.dfz"][1][0])
    assert close(g["b.1.0"]["val"], upd["L1.b"][0])
    assert f"#{fwd['batch'][1]}" in lab.text(f"{GRAPH} .bpl-graph-sample")
    assert lab.errors == []


def test_the_product_along_the_path_is_the_inspectors_gradient(make_lab: Any) -> None:
    # 2-2-1 on XOR, one sample a batch: the path's product is ∂L/∂w itself
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=2&batch=1")
    lab.wait_for_run(dataset="xor", hidden=[2])
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    lab.step("iteration")
    lab.settled()
    # the first layer's w¹₁₁ (the default path): L → σ → + → × → tanh → + → × → w
    g = nodes(lab)
    assert [k for k, n in g.items() if n["onPath"]] == [
        "w.1.0.0", "mul.1.0.0", "add.1.0", "f.1.0", "mul.2.0.0", "add.2.0", "f.2.0", "loss"]
    msg = open_inspector_on_path(lab)
    assert (msg["id"], msg["index"]) == ("L1.W", [0, 0])
    assert math.isclose(product_shown(lab), msg["grad"], rel_tol=1e-9)
    back = frames_of(lab, 0)["backward"]
    assert math.isclose(product_shown(lab), back["L1.dW"][0][0], rel_tol=1e-9)
    # the chain's factors, in order from the loss: ∂L/∂z (sigmoid + bce together), 1,
    # w⁽²⁾, f′(z⁽¹⁾), 1, x — and each is the number on its node
    numbers = lab.page.eval_on_selector_all(
        f"{GRAPH} .bpl-graph-numbers mn[data-node]", "els => els.map(e => e.dataset.node)")
    assert numbers == ["loss", "add.2.0", "mul.2.0.0", "f.1.0", "add.1.0", "mul.1.0.0"]
    assert "1 of the batch’s 1" in lab.text(f"{GRAPH} .bpl-graph-sample")

    # choose the output layer's w²₂₁ by clicking its leaf: a shorter chain, the same check
    lab.page.click(f"{GRAPH} .gnode[data-key='w.2.1.0']")
    g = nodes(lab)
    assert [k for k, n in g.items() if n["onPath"]] == ["w.2.1.0", "mul.2.1.0", "add.2.0",
                                                         "f.2.0", "loss"]
    msg = open_inspector_on_path(lab)
    assert (msg["id"], msg["index"]) == ("L2.W", [1, 0])
    assert math.isclose(product_shown(lab), msg["grad"], rel_tol=1e-9)
    assert lab.errors == []


def test_with_a_batch_the_samples_products_add_up_to_the_gradient(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=2&batch=4")
    lab.wait_for_run(dataset="xor", hidden=[2], batch_size=4)
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    lab.step("iteration")
    msg = open_inspector_on_path(lab)
    B = msg["batch_size"]
    assert B == 4
    products = []
    for r in range(B):
        lab.settled()
        assert lab.page.get_attribute(GRAPH, "data-row") == str(r)
        products.append(product_shown(lab))
        # the inspector's row is the sample's own ∂ℓ_b/∂w; the graph's is its share of ∂L/∂w
        assert math.isclose(products[-1] * B, msg["rows"][r]["product"], rel_tol=1e-9,
                            abs_tol=1e-15)
        if r < B - 1:
            lab.page.click(f"{GRAPH} .bpl-graph-next")
    assert lab.page.is_disabled(f"{GRAPH} .bpl-graph-next")
    assert math.isclose(sum(products), msg["grad"], rel_tol=1e-9, abs_tol=1e-15)
    total = float(lab.page.get_attribute(f"{GRAPH} .bpl-graph-sum", "data-total") or "nan")
    assert total == frames_of(lab, 0)["backward"]["L1.dW"][0][0]
    assert "add up to ∂L/∂w¹₁₁" in lab.text(f"{GRAPH} .bpl-graph-sum")
    assert lab.errors == []


def test_the_graph_is_reached_and_driven_by_keyboard_in_both_languages(make_lab: Any) -> None:
    lab = make_lab(**DESK).open(SINGLE)
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    lab.step("iteration")
    page = lab.page
    page.focus(f"{GRAPH} .gnode[tabindex='0']")
    assert page.evaluate("() => document.activeElement.dataset.key") == "x.0"
    state = lab.last("state")["iteration"]
    page.keyboard.press("ArrowRight")  # moves in the graph, does not step the run
    assert page.evaluate("() => document.activeElement.dataset.key") == "mul.1.0.0"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.dataset.key") == "b.1.0"
    label = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert label.startswith("b ·") and "Enter follows its path" in label
    page.keyboard.press("Enter")
    lab.settled()
    assert "Chain rule of b" in lab.text(f"{GRAPH} .bpl-graph-path")
    g = nodes(lab)
    assert [k for k, n in g.items() if n["onPath"]] == ["b.1.0", "add.1.0", "f.1.0", "loss"]
    lab.sync()
    assert lab.last("state")["iteration"] == state
    assert "b ·" in lab.text(f"{GRAPH} .bpl-graph-focus")
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.settled()
    assert lab.text(f"{GRAPH} h2") == "計算グラフ（1サンプル）"
    assert "b の連鎖律" in lab.text(f"{GRAPH} .bpl-graph-path")
    assert lab.text(f"{ACT} h2") == "活性化関数の曲線"
    assert lab.errors == []


LOADED_JS = """name => performance.getEntriesByType('resource')
    .some(e => new URL(e.name).pathname === '/static/js/views/' + name)"""


def test_the_graph_is_offered_for_small_networks_only(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=4,4")
    lab.wait_for_run(hidden=[4, 4])
    lab.settled()
    assert lab.page.locator("[data-slot='graph']").is_hidden()
    # its code is not even fetched
    assert not lab.page.evaluate(LOADED_JS, "graph-panel.js")
    show_curve(lab)  # the curve's is, once its panel comes near the screen
    assert lab.page.evaluate(LOADED_JS, "activation-panel.js")
    # a run the graph fits brings it
    for field, value in (("#ctl-layers", "1"), ("#ctl-neurons", "2")):
        lab.page.fill(field, value)
        lab.page.press(field, "Tab")
    lab.wait_for_run(hidden=[2])
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    assert lab.page.evaluate(LOADED_JS, "graph-panel.js")
    assert lab.errors == []


# ---- the activation curve ------------------------------------------------------------------

#: every dot of one panel of the activation view, and the curve's points, in SVG units
DOTS_JS = """(panel) => {
  const svg = document.querySelector('.act-svg');
  const sel = panel === 'f' ? '.act-dots:not(.act-ddots) circle' : '.act-ddots circle';
  const curve = svg.querySelector(panel === 'f' ? '.act-f' : '.act-df').getAttribute('d');
  const pts = curve.trim().split(' ').map(s => s.slice(1).split(',').map(Number));
  const dots = [...svg.querySelectorAll(sel)].map(c => ({
    cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')), z: Number(c.dataset.z),
    row: Number(c.dataset.row), unit: Number(c.dataset.unit)}));
  return {dots, pts, zlo: Number(svg.dataset.zlo), zhi: Number(svg.dataset.zhi),
          px0: Number(svg.dataset.px0), px1: Number(svg.dataset.px1)};
}"""


def curve_y(pts: list[list[float]], x: float) -> float:
    """The drawn polyline's y at x."""
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (x - x0) / (x1 - x0) * (y1 - y0)
    raise AssertionError(f"x = {x} is off the curve")


def show_curve(lab: Lab) -> None:
    """Scroll the activation panel into view: its code loads when it comes near the screen."""
    lab.page.eval_on_selector("[data-slot='activation']", "e => e.scrollIntoView()")
    lab.page.wait_for_selector(f"{ACT} .act-svg")


def wait_dots(lab: Lab, panel: str, count: int) -> dict[str, Any]:
    if not lab.page.locator(f"{ACT} .act-svg").count():
        show_curve(lab)
    lab.page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length === n",
        arg=[".act-dots:not(.act-ddots) circle" if panel == "f" else ".act-ddots circle", count])
    return lab.page.evaluate(DOTS_JS, panel)


def share_shown(lab: Lab) -> float:
    lab.page.wait_for_function("s => document.querySelector(s).dataset.share !== undefined",
                               arg=ACT)
    return float(lab.page.get_attribute(ACT, "data-share") or "nan")


#: the points of both curves (f and f′) that fall inside a flat end's label, in SVG units
CURVE_UNDER_LABELS = """sel => {
  const svg = document.querySelector(sel);
  const labels = [...svg.querySelectorAll('.act-region-label')].map(e => e.getBBox());
  const hits = [];
  for (const path of svg.querySelectorAll('.act-curve')) {
    const n = path.getTotalLength();
    for (let k = 0; k <= 400; k++) {
      const p = path.getPointAtLength(n * k / 400);
      for (const b of labels) {
        const inside = p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height;
        if (inside) hits.push([p.x, p.y]);
      }
    }
  }
  return {labels: labels.length, hits};
}"""


def labels_clear_of_the_curves(lab: Lab) -> None:
    """Each flat end's label ("saturated", "dead") is written where neither curve runs."""
    seen = lab.page.evaluate(CURVE_UNDER_LABELS, f"{ACT} .act-svg")
    assert seen["labels"] > 0 and seen["hits"] == [], seen


def test_the_batchs_z_lie_on_the_engines_curve(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=3&act=tanh&batch=8")
    lab.wait_for_run(hidden=[3], activation="tanh")
    lab.step("phase")  # forward: z and a = tanh(z) of 8 samples × 3 units
    fwd = frames_of(lab, 0)["forward"]
    got = wait_dots(lab, "f", 8 * 3)
    assert lab.page.locator(f"{ACT} .act-ddots circle").count() == 0  # f′ comes with backward
    assert "backward pass has computed f′(z)" in lab.text(f"{ACT} .bpl-act-note")
    scale = (got["px1"] - got["px0"]) / (got["zhi"] - got["zlo"])
    for d in got["dots"]:
        z = fwd["L1.z"][d["row"]][d["unit"]]
        assert d["z"] == z  # the frame's z, exactly
        assert abs(d["cx"] - (got["px0"] + (z - got["zlo"]) * scale)) < 0.01
        assert abs(d["cy"] - curve_y(got["pts"], d["cx"])) < 0.6  # on the drawn f
    # the engine's curve: its points are tanh's own (GET /api/activation)
    curve = lab.page.evaluate("""async () => (await fetch(
        '/api/activation?name=tanh&lo=-4&hi=4&n=9')).json()""")
    assert curve["f"] == np.tanh(np.asarray(curve["z"])).tolist()
    lab.step("phase")
    lab.step("phase")  # backward: f′(z) dots from the frame's L1.dfz, on the drawn f′
    back = frames_of(lab, 0)["backward"]
    got = wait_dots(lab, "df", 8 * 3)
    for d in got["dots"]:
        assert d["z"] == fwd["L1.z"][d["row"]][d["unit"]]
        assert abs(d["cy"] - curve_y(got["pts"], d["cx"])) < 0.6
    dfz = lab.page.eval_on_selector_all(
        f"{ACT} .act-ddots circle",
        "cs => cs.map(c => [+c.dataset.row, +c.dataset.unit, +c.dataset.y])")
    assert all(y == back["L1.dfz"][r][j] for r, j, y in dfz)
    # the share is the count of z in tanh's flat ends (|z| ≥ 2.993)
    zs = [z for row in fwd["L1.z"] for z in row]
    assert share_shown(lab) == sum(abs(z) >= 2.9932228461263852 for z in zs) / len(zs)
    assert lab.errors == []


def test_a_sigmoid_layer_with_large_weights_is_mostly_saturated(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=4&act=sigmoid&init=normal&init_scale=20")
    lab.wait_for_run(activation="sigmoid", init_scale=20)
    lab.step("phase")
    wait_dots(lab, "f", 10 * 4)
    assert share_shown(lab) >= 0.8
    assert lab.page.get_attribute(ACT, "data-kind") == "saturated"
    text = lab.text(f"{ACT} .bpl-act-share")
    assert "saturated ends (z ≤ −5.99 or z ≥ 5.99" in text
    assert lab.page.locator(f"{ACT} .act-saturated").count() == 2  # both flat ends shaded
    # the same layer at the default small weights: hardly any
    small = make_lab(**DESK).open("/?dataset=xor&hidden=4&act=sigmoid")
    small.wait_for_run(activation="sigmoid")
    small.step("phase")
    wait_dots(small, "f", 10 * 4)
    assert share_shown(small) <= 0.1
    assert lab.errors == [] and small.errors == []


def test_a_relu_layer_with_negative_biases_is_dead(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=4&act=relu")
    lab.wait_for_run(activation="relu")
    # set every bias of the hidden layer far below zero, by hand (the inspector's edit)
    for j in range(4):
        mark = lab.mark()
        lab.page.evaluate("j => window.__sockets.at(-1).send(JSON.stringify("
                          "{type: 'edit', id: 'L1.b', index: [j], value: -50}))", j)
        lab.wait_for_message("edit", after=mark)
    lab.step("phase")
    wait_dots(lab, "f", 10 * 4)
    assert share_shown(lab) == 1.0
    assert lab.page.get_attribute(ACT, "data-kind") == "dead"
    assert "dead region (z ≤ 0, f′ = 0" in lab.text(f"{ACT} .bpl-act-share")
    assert "Units dead for the whole batch: 4 of 4" in lab.text(f"{ACT} .bpl-act-units")
    # fast play (the batch's means only) names the shaded region: in Japanese as shaded, for
    # it is peach here and grey at a sigmoid's flat ends (the words said 「グレーの領域」)
    lab.play_until("100", 5)
    expect(lab.page.locator(f"{ACT} .bpl-act-share")).to_have_text(
        "Shaded: dead (f′ = 0) (|f′| below 1% of its largest)")
    lab.page.click(".lang-btn[data-lang='ja']")
    expect(lab.page.locator(f"{ACT} .bpl-act-share")).to_have_text(
        "網かけの領域: 死（f′ = 0）（|f′| が最大値の 1% 未満）")
    # Leaky ReLU has no flat end: its slope α is written where z < 0
    leaky = make_lab(**DESK).open("/?dataset=xor&hidden=4&act=leaky_relu&alpha=0.1")
    leaky.wait_for_run(activation="leaky_relu")
    leaky.step("phase")
    wait_dots(leaky, "f", 10 * 4)
    assert share_shown(leaky) == 0.0
    assert "the slope there is α = 0.1" in leaky.text(f"{ACT} .bpl-act-share")
    assert lab.errors == [] and leaky.errors == []


# ---- screens: a desk, a projector, a phone ---------------------------------------------------

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


def shoot(lab: Lab, selector: str, name: str) -> None:
    """One panel as a learner sees it (docs/screenshots with BPL_SCREENSHOTS=1)."""
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.settled()
    lab.page.locator(selector).screenshot(path=str(lab.shot_dir / f"{name}.png"))


def viewport_shot(lab: Lab, selector: str, name: str) -> None:
    """The screen with ``selector`` scrolled to its top, as it is seen there."""
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.eval_on_selector(selector, "e => e.scrollIntoView({block: 'start'})")
    lab.settled()
    lab.page.screenshot(path=str(lab.shot_dir / f"{name}.png"))


def text_px(lab: Lab, selector: str) -> float:
    """The rendered height in CSS px of the first text ``selector`` matches."""
    return float(lab.page.eval_on_selector(selector, "e => e.getBoundingClientRect().height"))


def test_the_views_on_a_desk_a_projector_and_a_phone(make_lab: Any) -> None:
    # the desk: the single neuron after its backward pass, English and Japanese
    lab = make_lab(**DESK, reduced_motion="reduce").open(SINGLE)
    lab.page.wait_for_selector(f"{GRAPH} .graph-svg")
    for _ in range(3):
        lab.step("phase")
    lab.page.click(f"{GRAPH} .bpl-graph-next")  # x = 1: a weight's gradient that is not 0
    shoot(lab, GRAPH, "graph-single-en")
    desk_px = text_px(lab, f"{GRAPH} .gnode-add .g-val")
    lab.page.click(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    shoot(lab, GRAPH, "graph-single-ja")
    show_curve(lab)
    shoot(lab, ACT, "activation-single-ja")
    # the projector: presentation mode at 1280×720, the graph readable from the back
    lab.page.set_viewport_size({"width": 1280, "height": 720})
    lab.page.keyboard.press("p")
    lab.page.wait_for_function("() => document.documentElement.classList.contains('present')")
    lab.page.click(".lang-btn[data-lang='en']")
    viewport_shot(lab, GRAPH, "graph-presentation")
    assert text_px(lab, f"{GRAPH} .gnode-add .g-val") >= 1.3 * desk_px
    box = lab.page.eval_on_selector(f"{GRAPH} .graph-svg", "e => e.getBoundingClientRect().bottom")
    assert box <= 720  # the whole graph on one projected screen
    assert lab.errors == []

    # 2-2-1 on XOR, in Japanese, and its hidden layer's tanh curve
    xor = make_lab(**DESK, locale="ja-JP", reduced_motion="reduce").open(
        "/?dataset=xor&hidden=2&batch=4")
    xor.page.wait_for_selector(f"{GRAPH} .graph-svg")
    for _ in range(3):
        xor.step("phase")
    shoot(xor, GRAPH, "graph-221-ja")
    xor.page.click(".lang-btn[data-lang='en']")
    xor.page.wait_for_function("() => document.documentElement.lang === 'en'")
    shoot(xor, GRAPH, "graph-221-en")
    wait_dots(xor, "df", 4 * 2)
    shoot(xor, ACT, "activation-tanh-en")
    assert xor.errors == []

    # saturated sigmoid and dead ReLU, as the activation view shows them
    sat = make_lab(**DESK, reduced_motion="reduce").open(
        "/?dataset=xor&hidden=4&act=sigmoid&init=normal&init_scale=3")
    for _ in range(3):
        sat.step("phase")
    wait_dots(sat, "df", 40)
    assert share_shown(sat) > 0.5
    labels_clear_of_the_curves(sat)  # σ's upper flat end runs along the top of f's panel
    shoot(sat, ACT, "activation-sigmoid-saturated")
    relu = make_lab(**DESK, locale="ja-JP", reduced_motion="reduce").open(
        "/?dataset=xor&hidden=4&act=relu&init_scale=2&init=uniform")
    for j in range(4):
        mark = relu.mark()
        relu.page.evaluate("j => window.__sockets.at(-1).send(JSON.stringify("
                           "{type: 'edit', id: 'L1.b', index: [j], value: j < 3 ? -6 : 1}))", j)
        relu.wait_for_message("edit", after=mark)
    for _ in range(3):
        relu.step("phase")
    wait_dots(relu, "df", 40)
    assert 0.5 < share_shown(relu) < 1.0
    labels_clear_of_the_curves(relu)
    shoot(relu, ACT, "activation-relu-dead-ja")
    assert sat.errors == [] and relu.errors == []

    # the phone: the page never scrolls sideways; the graph scrolls inside its panel
    phone = make_lab(**PHONE, reduced_motion="reduce").open("/?dataset=xor&hidden=2&batch=4")
    phone.page.wait_for_selector(f"{GRAPH} .graph-svg")
    for _ in range(3):
        phone.step("phase")
    page = phone.page
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    inner = page.eval_on_selector(f"{GRAPH} .bpl-graph-scroll",
                                  "e => [e.scrollWidth, e.clientWidth]")
    assert inner[0] > inner[1]  # wider than the phone: it scrolls, the numbers stay legible
    assert text_px(phone, f"{GRAPH} .gnode-add .g-val") >= 9
    show_curve(phone)
    for sel in (f"{GRAPH} .bpl-graph-next", f"{ACT} .bpl-act-layer"):
        h = page.eval_on_selector(sel, "e => e.getBoundingClientRect().height")
        assert h >= 44, sel  # a tap target
    viewport_shot(phone, GRAPH, "graph-phone")
    viewport_shot(phone, ACT, "activation-phone")
    assert phone.errors == []
