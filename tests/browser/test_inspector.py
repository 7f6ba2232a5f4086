"""The inspector in real Chromium: click a weight or neuron, read its chain rule with the
engine's numbers, follow one sample, set a weight by hand and see the loss change.

Numbers on the page are compared with the frames and ``inspect`` messages the engine
sent over the socket (recorded by the ``Lab`` fixture).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import Lab, parse_number

PANEL = "[data-slot='inspector'] .bpl-inspector"


def frames_of(lab: Lab, iteration: int) -> dict[str, dict[str, Any]]:
    return {m["phase"]: m["values"] for m in lab.messages("frame") if m["iteration"] == iteration}


def wait_since(lab: Lab, start: int, type_: str, timeout: float = 10.0,
               **match: Any) -> dict[str, Any]:
    """The first ``type_`` message matching ``match`` received at or after ``start``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in lab.received[start:]:
            if m.get("type") == type_ and all(m.get(k) == v for k, v in match.items()):
                return m
        lab.page.wait_for_timeout(20)
    raise AssertionError(f"no {type_} message matching {match} within {timeout} s")


def click_element(lab: Lab, element_id: str) -> None:
    """Click a node at its centre, an edge a fifth of the way along (edges cross mid-way)."""
    # the network may be drawn again as a step's answer arrives: wait until the element
    # is in the drawn picture (a path being replaced is "non-rendered" for a moment)
    xy = lab.page.wait_for_function("""sel => {
            const el = document.querySelector(sel);
            if (!el || !el.isConnected || !el.checkVisibility()) return null;
            let g = null, b;
            try {
                g = el.getTotalLength ? el.getPointAtLength(el.getTotalLength() * 0.2) : null;
                b = el.getBBox();
            } catch (e) { return null; }
            const m = el.getScreenCTM();
            if (!m) return null;
            const pt = new DOMPoint(g ? g.x : b.x + b.width / 2, g ? g.y : b.y + b.height / 2)
                .matrixTransform(m);
            return [pt.x, pt.y];
        }""", arg=f".net-svg [data-id='{element_id}']", timeout=5000).json_value()
    lab.page.mouse.click(xy[0], xy[1])


def open_inspector(lab: Lab, element_id: str, **match: Any) -> dict[str, Any]:
    start = len(lab.received)
    click_element(lab, element_id)
    try:
        lab.page.wait_for_selector(f"{PANEL}:not([hidden])", timeout=5000)
    except PlaywrightTimeoutError:  # (a layout still settling moved it under the click:
        click_element(lab, element_id)  # a fresh clone's run on a busy machine; aim again)
        lab.page.wait_for_selector(f"{PANEL}:not([hidden])", timeout=10_000)
    msg = wait_since(lab, start, "inspect", **match)
    lab.page.wait_for_timeout(100)
    return msg


def shown(lab: Lab, selector: str) -> float:
    return parse_number(lab.text(f"{PANEL} {selector}"))


def test_clicking_a_weight_shows_the_engines_chain_rule(lab: Lab) -> None:
    lab.step("iteration")
    wait_since(lab, 0, "frame", phase="update", iteration=0)
    msg = open_inspector(lab, "L2.W.1.0", id="L2.W", index=[1, 0])
    f = frames_of(lab, 0)
    dW = f["backward"]["L2.dW"][1][0]
    # the gradient shown is the backward frame's ∂L/∂w (to the 6 digits shown)
    assert msg["grad"] == dW
    assert abs(shown(lab, "[data-field='grad'] mn") - dW) <= 5e-7 + 1e-6 * abs(dW)
    # one table row per sample of the batch, with a⁽¹⁾ᵢ of that sample from the forward frame
    rows = lab.page.eval_on_selector_all(
        f"{PANEL} .bpl-insp-table tr", "trs => trs.slice(1).map(tr => "
        "[...tr.children].map(td => td.textContent))")
    batch = f["forward"]["batch"]
    a1 = f["forward"]["L1.a"]
    assert len(rows) == min(16, len(batch))
    # a default batch whole (its sum can be checked by hand), and the note says so
    assert len(batch) <= 16 and lab.text(f"{PANEL} [id^='bpl-insp-rows-']").startswith(
        f"All {len(batch)} samples")
    for r, row in enumerate(rows):
        assert int(row[0]) == batch[r]
        assert abs(parse_number(row[3]) - a1[r][1]) <= 5e-5
    # the update it received: prev + step = new, as the update frame has them
    upd = f["update"]
    text = lab.text(f"{PANEL} [data-field='update']")
    nums = [parse_number(t) for t in text.replace("(", " ").replace(")", " ").replace("+", " ")
            .replace("=", " ").split()]
    assert abs(nums[0] - upd["L2.W.prev"][1][0]) <= 5e-7
    assert abs(nums[1] - upd["L2.W.step"][1][0]) <= 5e-7
    assert abs(nums[2] - upd["L2.W"][1][0]) <= 5e-7
    # and the finite-difference check agrees
    assert "✓" in lab.text(f"{PANEL} [data-field='check']")
    # the drawing marks the edge inspected: a halo along that very edge, under it
    mark = lab.page.eval_on_selector(".net-svg .net-inspected", """h => {
        const e = document.querySelector(".net-svg [data-id='L2.W.1.0']");
        const same = ['x1', 'y1', 'x2', 'y2'].every(a => h.getAttribute(a) === e.getAttribute(a));
        return [h.dataset.of, same, getComputedStyle(h).strokeWidth];
    }""")
    assert mark[:2] == ["L2.W.1.0", True] and float(mark[2].rstrip("px")) >= 8, mark
    assert lab.errors == []
    lab.screenshot("inspector-weight-page")
    lab.page.locator(PANEL).screenshot(path=str(lab.shot_dir / "inspector-weight.png"))
    # closed, the mark goes with it
    lab.page.click(f"{PANEL} .bpl-insp-close")
    lab.page.wait_for_selector(".net-svg .net-inspected", state="detached")


def test_an_output_weights_chain_rule_brackets_y_minus_t_as_one_factor(lab: Lab) -> None:
    # ∂L/∂w = 1/B Σ_b (y − t) · ∂z/∂w, not "(y − t · ∂z/∂w)", which reads as y − (t·∂z/∂w)
    lab.step("iteration")
    wait_since(lab, 0, "frame", phase="update", iteration=0)
    msg = open_inspector(lab, "L3.W.0.0", id="L3.W", index=[0, 0])
    assert [f["key"] for f in msg["factors"]] == ["y_minus_t", "dz_dw"]
    formula = lab.page.eval_on_selector(
        f"{PANEL} .bpl-factor", "f => f.closest('math').textContent.replace(/\\s+/g, '')")
    assert re.search(r"[Σ∑]b\(y\d*−t\d*\)·∂z", formula), formula
    assert lab.errors == []


def test_the_current_phase_highlights_the_factor_it_computes(lab: Lab) -> None:
    lab.step("iteration")
    open_inspector(lab, "L1.W.0.2", id="L1.W", index=[0, 2])
    lab.step("phase")  # forward of iteration 1
    lab.page.wait_for_selector(f"{PANEL} .bpl-active[data-phase='forward']", timeout=5000)
    assert lab.page.query_selector(f"{PANEL} .bpl-active[data-phase='backward']") is None
    lab.step("phase")  # loss
    lab.step("phase")  # backward: ∂L/∂a, ∂a/∂z and the product are computed now
    lab.page.wait_for_selector(f"{PANEL} .bpl-active[data-phase='backward']", timeout=5000)


def test_clicking_a_neuron_then_a_data_point_follows_that_sample(lab: Lab) -> None:
    lab.step("iteration")
    msg = open_inspector(lab, "L2.a.1", id="L2.a", index=[1])
    assert msg["kind"] == "unit"
    # its gradient, the sum over the batch, then the mean the tooltip shows, B times
    # smaller: the page says which is which
    total = lab.text(f"{PANEL} [data-field='sum-numbers']")
    assert abs(parse_number(total.split("=")[-1]) - msg["grad"]) <= 5e-7
    assert f"the sum ÷ {msg['batch_size']}" in lab.text(f"{PANEL} [data-field='tip-mean']")
    # the neuron inspected is marked in the drawing
    lab.page.wait_for_selector(".net-svg .net-inspected[data-of='L2.a.1']")
    maps = wait_since(lab, 0, "maps", iteration=1)
    run = lab.last("run")
    k = 5
    p = run["data"]["p_train"][k]
    lo, hi = maps["extent"]
    lab.page.locator("[data-view='output-map']").scroll_into_view_if_needed()
    box = lab.page.locator("[data-view='output-map']").bounding_box()
    assert box is not None
    x = box["x"] + (p[0] - lo) / (hi - lo) * box["width"]
    y = box["y"] + (hi - p[1]) / (hi - lo) * box["height"]
    start = len(lab.received)
    lab.page.mouse.click(x, y)
    focus = wait_since(lab, start, "focus")
    assert focus["split"] == "train"
    picked = focus["index"]
    got = run["data"]["p_train"][picked]
    assert abs(got[0] - p[0]) < (hi - lo) / 40 and abs(got[1] - p[1]) < (hi - lo) / 40
    insp = wait_since(lab, start, "inspect", id="L2.a", mode="sample")
    assert insp["mode"] == "sample" and insp["sample"]["index"] == picked
    lab.page.wait_for_timeout(200)
    assert f"#{picked}" in lab.text(f"{PANEL} [data-field='meta']")
    # the unit's z for that sample, as the focus message (engine, eval mode) has it
    assert insp["forward"]["z"] == focus["values"]["L2.z"][1]
    # ∂ℓ/∂a expanded over the next layer, ending in the value the engine computed
    sum_text = lab.text(f"{PANEL} [data-field='sum']")
    assert abs(parse_number(sum_text.split("=")[-1]) - insp["sum"]["value"]) <= 5e-7
    # the sample's node values, layer by layer, are on the page as text
    rows = lab.page.eval_on_selector_all(
        "[data-view='focus'] tr", "trs => trs.map(tr => [...tr.children].map(c => c.textContent))")
    shown_a = {r[0]: [parse_number(v) for v in r[1:]] for r in rows}
    for key in ("L1.a", "L2.a"):
        assert len(shown_a[key]) == len(focus["values"][key])
        for got_v, want in zip(shown_a[key], focus["values"][key], strict=True):
            assert abs(got_v - want) <= 5e-4
    lab.page.locator(PANEL).screenshot(path=str(lab.shot_dir / "inspector-unit-sample.png"))
    # back to the batch
    start = len(lab.received)
    lab.page.click(f"{PANEL} .bpl-insp-batch")
    back = wait_since(lab, start, "inspect", id="L2.a", mode="batch")
    assert back["mode"] == "batch"
    # over the batch the page shows means (mean of tanh(z), not tanh of the mean z) and
    # each sample's own z and a = tanh(z), whose δ add up to the sum shown
    lab.page.wait_for_selector(f"{PANEL} .bpl-insp-table")
    assert "not tanh of the mean z" in lab.text(f"{PANEL} .bpl-insp-note")
    table = lab.page.eval_on_selector_all(
        f"{PANEL} .bpl-insp-table tr",
        "trs => trs.slice(1).map(tr => [...tr.children].map(c => c.textContent))")
    assert len(table) == len(back["rows"]) > 0
    for row in table:
        z, a = parse_number(row[1]), parse_number(row[2])
        assert abs(math.tanh(z) - a) <= 2e-4, row
    # and the sum's mean is the δ a tooltip shows (a batch mean)
    mean_line = lab.page.eval_on_selector_all(
        f"{PANEL} math", "ms => ms.map(m => m.textContent).filter(t => t.startsWith('meanbδ'))")
    assert len(mean_line) == 1
    assert abs(parse_number(mean_line[0].split("=")[-1])
               - back["grad"] / back["batch_size"]) <= 5e-6
    # a row's sample number follows that sample too, without the map: its own chain rule
    second = back["rows"][1]["sample"]
    start = len(lab.received)
    lab.page.locator(f"{PANEL} .bpl-insp-table .bpl-insp-follow").nth(1).click()
    insp = wait_since(lab, start, "inspect", id="L2.a", mode="sample")
    assert insp["sample"] == {**insp["sample"], "split": "train", "index": second}
    lab.page.wait_for_function(
        "([sel, k]) => document.querySelector(sel).textContent.includes('#' + k)",
        arg=[f"{PANEL} [data-field='meta']", second])


#: in the page: the formulas of the inspector that run past the section they are in (a
#: table's may: it scrolls sideways, a shadow at its edge says so)
WIDER_THAN_SHEET = """panel => [...document.querySelectorAll(panel + ' .bpl-insp-section math')]
  .filter(e => !e.closest('table')).filter(e => {
    const right = e.closest('.bpl-insp-section').getBoundingClientRect().right;
    return [...e.children].some(c => c.getBoundingClientRect().right > right + 1);
  }).map(e => e.textContent)"""


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_on_a_projector_every_formula_fits_the_inspectors_column(make_lab: Any,
                                                                  lang: str) -> None:
    """Presentation mode at 1280×720: the inspector's column is narrow and its formulas
    big, so one wider than the column is shrunk to fit it (the loss's derivative ended at
    "= y" with its "− t" out of sight, the chain rule at "(∂ℓ/∂a ·")."""
    lab = make_lab(viewport={"width": 1280, "height": 720},
                   locale={"en": "en-US", "ja": "ja-JP"}[lang]).open()
    lab.page.keyboard.press("p")
    lab.page.wait_for_function("() => document.documentElement.classList.contains('present')")
    lab.step("iteration")
    for element, target in (("L2.a.0", {"id": "L2.a", "index": [0]}),
                            ("L3.W.1.0", {"id": "L3.W", "index": [1, 0]})):
        open_inspector(lab, element, **target)
        lab.settled()
        assert lab.page.evaluate(WIDER_THAN_SHEET, PANEL) == [], element
        sizes = lab.page.eval_on_selector_all(
            f"{PANEL} math[display='block']",
            "ms => ms.map(m => parseFloat(getComputedStyle(m).fontSize))")
        assert min(sizes) >= 12 and max(sizes) > 20, sizes  # big where they fit
    # the output weight's chain rule, the point of clicking it, is in sight below the
    # loss's formulas (the loss's prose filled the column: the teacher had to scroll)
    chain = lab.page.eval_on_selector(f"{PANEL} .bpl-factor",
                                      "e => e.closest('math').getBoundingClientRect().bottom")
    assert chain <= 720, chain
    assert lab.page.locator(f"{PANEL} .bpl-insp-loss .bpl-insp-note").first.is_hidden()
    assert lab.errors == []


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_on_a_desk_the_map_stays_in_sight_beside_the_inspector(make_lab: Any, lang: str) -> None:
    """docs/screenshots/inspector-desk-{en,ja}.png: on a 1280×800 desk a learner inspecting
    a neuron clicks a data point where the map is, without scrolling, and the inspector
    follows that sample; the drawing marks the neuron inspected."""
    lab = make_lab(viewport={"width": 1280, "height": 800},
                   locale={"en": "en-US", "ja": "ja-JP"}[lang]).open()
    lab.step("iteration")
    open_inspector(lab, "L2.a.1", id="L2.a", index=[1])
    lab.settled()
    # every formula fits the sheet (the loss's ran off its right edge, cut mid-formula)
    assert lab.page.evaluate(WIDER_THAN_SHEET, PANEL) == []
    # and the words naming the chain rule's table wrap to it (the table scrolls sideways)
    assert lab.page.evaluate("""panel => {
      const t = document.querySelector(panel + " [data-field='rows']");
      const name = document.getElementById(t.getAttribute('aria-labelledby'));
      const section = t.closest('.bpl-insp-section');
      return name.getBoundingClientRect().right - section.getBoundingClientRect().right;
    }""", PANEL) <= 1
    maps = wait_since(lab, 0, "maps", iteration=1)
    p = lab.last("run")["data"]["p_train"][5]
    lo, hi = maps["extent"]
    box = lab.page.locator("[data-view='output-map']").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800, box
    x = box["x"] + (p[0] - lo) / (hi - lo) * box["width"]
    y = box["y"] + (hi - p[1]) / (hi - lo) * box["height"]
    # what a click there lands on: the map, not the inspector's sheet
    under = lab.page.evaluate("([x, y]) => document.elementFromPoint(x, y).dataset.view || ''",
                              [x, y])
    assert under == "output-map"
    start = len(lab.received)
    lab.page.mouse.click(x, y)
    focus = wait_since(lab, start, "focus")
    insp = wait_since(lab, start, "inspect", id="L2.a", mode="sample")
    assert insp["sample"]["index"] == focus["index"]
    lab.page.wait_for_function(
        "([sel, k]) => document.querySelector(sel).textContent.includes('#' + k)",
        arg=[f"{PANEL} [data-field='meta']", focus["index"]])
    lab.page.wait_for_selector(".net-svg .net-inspected[data-of='L2.a.1']")
    lab.settled()
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.screenshot(path=str(lab.shot_dir / f"inspector-desk-{lang}.png"))
    assert lab.errors == []


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_on_a_desk_a_weights_table_shows_its_product_column_whole(
        make_lab: Any, lang: str) -> None:
    """A first-layer weight's table of the batch's samples (its factors and their
    product, the numbers whose mean is ∂L/∂w) ran 74 px past a desk's sheet: the product
    column was out of sight unless the table was scrolled sideways. Each factor's meaning
    (= f′(z)) goes on a line of its own under its symbol, and the table fits."""
    lab = make_lab(viewport={"width": 1280, "height": 800},
                   locale={"en": "en-US", "ja": "ja-JP"}[lang]).open()
    lab.step("iteration")
    open_inspector(lab, "L1.W.0.0", id="L1.W", index=[0, 0])
    lab.settled()
    fit = lab.page.evaluate("""panel => {
      const t = document.querySelector(panel + " [data-field='rows']");
      const box = t.parentElement;
      const product = t.querySelector("th[data-col='product']").getBoundingClientRect();
      return [t.scrollWidth - box.clientWidth, product.right - box.getBoundingClientRect().right];
    }""", PANEL)
    assert fit[0] <= 0 and fit[1] <= 1, fit
    assert lab.errors == []


def test_editing_a_weight_changes_the_loss_shown(lab: Lab) -> None:
    lab.step("iteration")
    open_inspector(lab, "L3.W.2.0", id="L3.W", index=[2, 0])
    before = lab.last("metrics")["points"][-1]["train_loss"]
    lab.page.fill(f"{PANEL} .bpl-insp-edit input", "4.5")
    start = len(lab.received)
    lab.page.click(f"{PANEL} .bpl-insp-edit button[type='submit']")
    edit = wait_since(lab, start, "edit", applied=True)
    assert edit["value"] == 4.5 and edit["id"] == "L3.W"
    assert edit["train_loss"] != before
    lab.page.wait_for_selector(f"{PANEL} [data-field='edited']:not(:empty)", timeout=5000)
    text = lab.text(f"{PANEL} [data-field='edited']")
    assert f"{edit['train_loss']:.4f}".replace("-", "−") in text
    # the maps are redrawn for the new weight
    wait_since(lab, start, "maps")
    # and the next iteration starts from the edited weight
    start = len(lab.received)
    lab.step("iteration")
    upd = wait_since(lab, start, "frame", phase="update", iteration=1)
    assert upd["values"]["L3.W.prev"][2][0] == 4.5


def test_a_bad_edit_value_is_refused_in_the_page(lab: Lab) -> None:
    lab.step("iteration")
    open_inspector(lab, "L1.W.0.0", id="L1.W", index=[0, 0])
    count = len(lab.messages("edit"))
    lab.page.fill(f"{PANEL} .bpl-insp-edit input", "")
    lab.page.click(f"{PANEL} .bpl-insp-edit button[type='submit']")
    lab.page.wait_for_timeout(300)
    assert len(lab.messages("edit")) == count
    assert lab.errors == []


def test_inspector_maps_and_charts_read_in_japanese(lab: Lab) -> None:
    lab.step("iteration")
    open_inspector(lab, "L1.W.1.2", id="L1.W", index=[1, 2])
    lab.page.click(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.page.wait_for_timeout(200)
    text = lab.page.evaluate("""() => ['inspector', 'maps', 'charts'].map((slot) => {
        const c = document.querySelector(`[data-slot='${slot}']`).cloneNode(true);
        c.querySelectorAll('math, .sr-only').forEach((m) => m.remove());
        const attrs = [...c.querySelectorAll('[aria-label]')]
            .map((e) => e.getAttribute('aria-label'));
        return c.textContent + ' ' + attrs.join(' ');
    }).join(' ')""")
    words = set(re.findall(r"[A-Za-z]{3,}", text))
    # function and optimizer names, written the same in Japanese texts (the optimizer
    # by its label, not its id "sgd"), and the libraries the iteration's downloads are for
    assert words <= {"tanh", "SGD", "NumPy", "PyTorch"}, words
    assert "SGD による反復 1 の更新" in text
    assert "インスペクタ" in text and "連鎖律" in text and "データとネットワークの予測" in text
    lab.page.locator(PANEL).screenshot(path=str(lab.shot_dir / "inspector-weight-ja.png"))


def test_inspector_and_maps_fit_a_phone_held_upright(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 390, "height": 844}, is_mobile=True,
                   has_touch=True).open("/?hidden=8,8&dataset=spiral")
    lab.page.wait_for_function("() => location.search.includes('dataset=spiral')")
    lab.page.wait_for_function(
        "() => document.querySelectorAll('.net-svg circle.node').length === 2 + 8 + 8 + 1")
    lab.step("iteration")
    open_inspector(lab, "L2.W.3.5", id="L2.W", index=[3, 5])
    start = len(lab.received)
    lab.page.locator("[data-view='output-map']").scroll_into_view_if_needed()
    lab.page.locator("[data-view='output-map']").focus()
    lab.page.keyboard.press("ArrowRight")  # the keyboard way to pick a sample
    wait_since(lab, start, "focus", index=0)
    lab.page.wait_for_timeout(300)
    # picking a sample is all the arrow did: the run did not step a phase as well
    assert [m for m in lab.received[start:] if m["type"] == "frame"] == []
    width = lab.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], width
    assert lab.errors == []


def test_closing_the_inspector_on_a_phone_leaves_no_tooltip_over_the_network(
        make_lab: Any) -> None:
    """A neuron tapped on a phone opens the inspector's sheet; its × hands the focus back to
    the neuron, which showed the neuron's tooltip over the network until the next tap."""
    lab = make_lab(viewport={"width": 390, "height": 844}, is_mobile=True,
                   has_touch=True, locale="ja-JP").open()
    lab.step("iteration")
    page = lab.page
    node = page.locator(".net-svg circle.node[data-id='L1.a.1']")
    node.scroll_into_view_if_needed()
    box = node.bounding_box()
    assert box is not None
    mark = lab.mark()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lab.wait_for_message("inspect", after=mark, id="L1.a")
    page.wait_for_selector(".bpl-inspector:not([hidden])")
    close = page.locator(".bpl-insp-close").first.bounding_box()
    assert close is not None
    page.touchscreen.tap(close["x"] + close["width"] / 2, close["y"] + close["height"] / 2)
    page.wait_for_selector(".bpl-inspector", state="hidden")
    lab.settled()
    page.wait_for_timeout(300)
    assert page.locator(".net-tip").is_hidden()
    assert page.evaluate("() => document.activeElement.dataset.id") == "L1.a.1"  # (focus back)
    assert lab.errors == []


def edge_style(lab: Lab, element_id: str) -> tuple[str, float]:
    """(stroke colour, stroke width) of an edge as drawn now."""
    got = lab.page.eval_on_selector(
        f".net-svg line.edge[data-id='{element_id}']",
        "el => [getComputedStyle(el).stroke, parseFloat(el.style.strokeWidth)]")
    return str(got[0]), float(got[1])


def test_a_hand_edit_redraws_the_edge_output_and_loss_at_once(lab: Lab) -> None:
    lab.step("iteration")
    open_inspector(lab, "L3.W.2.0", id="L3.W", index=[2, 0])
    colour0, width0 = edge_style(lab, "L3.W.2.0")
    frames = len(lab.messages("frame"))
    for value in (-8.0, 8.0):
        lab.page.fill(f"{PANEL} .bpl-insp-edit input", str(value))
        start = len(lab.received)
        lab.page.click(f"{PANEL} .bpl-insp-edit button[type='submit']")
        edit = wait_since(lab, start, "edit", applied=True, value=value)
        assert edit["params"]["L3.W"][2][0] == value
        lab.page.wait_for_timeout(150)
        colour, width = edge_style(lab, "L3.W.2.0")
        # the largest |w| of the network: the widest stroke, coloured by its sign
        assert width == 6.0
        if value < 0:
            negative = colour
        else:
            assert colour != negative
        # the output and loss the new weight gives on the last batch, on the diagram
        y = sum(r[0] for r in edit["batch"]["y"]) / len(edit["batch"]["y"])
        assert lab.text(".net-svg .out-label tspan").startswith("ȳ =")  # a batch mean
        assert abs(parse_number(lab.text(".net-svg .out-label tspan").split("=")[1]) - y) <= 0.006
        assert abs(parse_number(lab.text(".net-svg .loss-label").split("=")[1])
                   - edit["batch"]["loss"]) <= 5e-4
        # and in the numbers beside it
        assert abs(lab.number("#stat-batch-loss") - edit["batch"]["loss"]) <= 5e-4
        assert abs(lab.number("#stat-train-loss") - edit["train_loss"]) <= 5e-4
    assert (colour0, width0) != (colour, width)
    # all of it without waiting for the next iteration's frames
    assert len(lab.messages("frame")) == frames
    assert lab.errors == []


FILLS = "els => els.map(e => e.style.fill)"


def test_a_focused_sample_fills_the_network_nodes_with_its_own_values(lab: Lab) -> None:
    lab.step("iteration")
    maps = wait_since(lab, 0, "maps", iteration=1)
    run = lab.last("run")
    lo, hi = maps["extent"]
    p = run["data"]["p_train"][3]
    lab.page.locator("[data-view='output-map']").scroll_into_view_if_needed()
    box = lab.page.locator("[data-view='output-map']").bounding_box()
    assert box is not None
    start = len(lab.received)
    lab.page.mouse.click(box["x"] + (p[0] - lo) / (hi - lo) * box["width"],
                         box["y"] + (hi - p[1]) / (hi - lo) * box["height"])
    focus = wait_since(lab, start, "focus")
    k = focus["index"]
    bar = ".net-focus"
    lab.page.wait_for_selector(f"{bar}:not([hidden])", timeout=5000)
    assert f"#{k}" in lab.text(bar)
    # hovering a hidden neuron shows that sample's a, not the batch mean
    lab.page.locator(".net-svg").scroll_into_view_if_needed()
    lab.page.hover(".net-svg [data-id='L1.a.2']")
    lab.page.wait_for_selector(".net-tip:not([hidden])", timeout=3000)
    a = parse_number(lab.text(".net-tip [data-value='a']").split("=")[1].split("(")[0])
    assert abs(a - focus["values"]["L1.a"][2]) <= 5e-4
    assert f"#{k}" in lab.text(".net-tip small")
    # the output node shows the sample's output and loss
    assert lab.text(".net-svg .out-label tspan").startswith("y =")  # one sample's own
    y_shown = parse_number(lab.text(".net-svg .out-label tspan").split("=")[1])
    assert abs(y_shown - focus["values"]["y"][0]) <= 0.006
    assert abs(parse_number(lab.text(".net-svg .loss-label").split("=")[1])
               - focus["loss"]) <= 5e-4
    lab.page.locator("[data-slot='network']").screenshot(
        path=str(lab.shot_dir / "network-focus.png"))
    # node fills differ from the batch-mean picture (a sample is not the mean)
    fills = lab.page.eval_on_selector_all(".net-svg circle.node", FILLS)
    lab.page.click(f"{bar} button")
    lab.page.wait_for_selector(bar, state="hidden", timeout=5000)
    wait_since(lab, start, "focus", index=None)
    lab.page.hover(".net-svg [data-id='L1.a.2']")
    lab.page.wait_for_timeout(100)
    mean = sum(r[2] for r in lab.last("frame", phase="forward")["values"]["L1.a"])
    mean /= len(lab.last("frame", phase="forward")["values"]["L1.a"])
    a = parse_number(lab.text(".net-tip [data-value='a']").split("=")[1].split("(")[0])
    assert abs(a - mean) <= 5e-4
    assert "batch mean" in lab.text(".net-tip small")
    back = lab.page.eval_on_selector_all(".net-svg circle.node", FILLS)
    assert back != fills
    assert lab.errors == []


NEURON_MAP = "[data-view='neuron-maps'] canvas[data-id='L1.a'][data-index='1']"


def tip_number(lab: Lab, key: str) -> float:
    return parse_number(lab.text(f".net-tip [data-value='{key}']").split("=")[1].split("(")[0])


def test_a_hand_edit_refreshes_the_hidden_units_and_their_maps_at_once(lab: Lab) -> None:
    """A first-layer weight set by hand: the units it feeds show, without a new frame,
    what the new weights give on the last batch (fills, tooltip) and their maps."""
    lab.step("iteration")
    wait_since(lab, 0, "maps", iteration=1)
    open_inspector(lab, "L1.W.0.1", id="L1.W", index=[0, 1])
    fills = lab.page.eval_on_selector_all(".net-svg circle.node", FILLS)
    map_before = lab.page.eval_on_selector(NEURON_MAP, "c => c.toDataURL()")
    frames = len(lab.messages("frame"))
    lab.page.fill(f"{PANEL} .bpl-insp-edit input", "-9")
    start = len(lab.received)
    lab.page.click(f"{PANEL} .bpl-insp-edit button[type='submit']")
    edit = wait_since(lab, start, "edit", applied=True, value=-9)
    means = edit["batch"]["means"]
    # the engine's numbers: the last batch's forward pass with the new weights
    fwd = lab.last("frame", phase="forward")["values"]
    assert sorted(means) == ["L1.a", "L1.z", "L2.a", "L2.z", "L3.a", "L3.z"]
    y = edit["batch"]["y"]
    assert abs(means["L3.a"][0] - sum(r[0] for r in y) / len(y)) < 1e-12
    assert means["L1.a"][1] != sum(r[1] for r in fwd["L1.a"]) / len(fwd["L1.a"])
    # fills: the unit the edited weight feeds changes, the input layer does not
    lab.page.wait_for_function(
        "f => document.querySelector(\".net-svg [data-id='L1.a.1']\").style.fill !== f",
        arg=fills[2 + 1], timeout=3000)
    now = lab.page.eval_on_selector_all(".net-svg circle.node", FILLS)
    assert now[:2] == fills[:2] and now[2 + 1] != fills[2 + 1]
    # the tooltip gives the same numbers
    lab.page.mouse.move(0, 0)
    lab.page.hover(".net-svg [data-id='L1.a.1']")
    lab.page.wait_for_selector(".net-tip:not([hidden])", timeout=3000)
    lab.page.wait_for_timeout(100)
    assert abs(tip_number(lab, "a") - means["L1.a"][1]) <= 5e-4
    assert abs(tip_number(lab, "z") - means["L1.z"][1]) <= 5e-4
    # δ belongs to the old weights: it waits for the next backward pass
    assert lab.page.locator(".net-tip [data-value='delta']").count() == 0
    # the unit's map is redrawn for the new weight
    wait_since(lab, start, "maps")
    lab.page.wait_for_function(
        f"m => document.querySelector(\"{NEURON_MAP}\").toDataURL() !== m",
        arg=map_before, timeout=3000)
    assert len(lab.messages("frame")) == frames
    # the next frame takes over again: its own forward pass
    lab.step()
    lab.page.hover(".net-svg [data-id='L1.a.1']")
    lab.page.wait_for_timeout(100)
    fwd = lab.last("frame", phase="forward")["values"]
    mean = sum(r[1] for r in fwd["L1.a"]) / len(fwd["L1.a"])
    assert abs(tip_number(lab, "a") - mean) <= 5e-4
    assert lab.errors == []


# ---- every explanation true (issue 11) ---------------------------------------------

DESK = {"viewport": {"width": 1280, "height": 800}}


def to_japanese(lab: Lab) -> None:
    lab.page.click(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.page.wait_for_timeout(200)


def shoot(lab: Lab, name: str) -> None:
    """The inspector panel as a learner sees it (docs/screenshots with BPL_SCREENSHOTS=1)."""
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.locator(PANEL).screenshot(path=str(lab.shot_dir / f"{name}.png"))


def table(lab: Lab) -> list[dict[str, str]]:
    """The chain rule's table: one dict per row, by column key (data-col)."""
    return lab.page.eval_on_selector_all(
        f"{PANEL} [data-field='rows'] tr", """trs => trs.slice(1).map(tr => Object.fromEntries(
            [...tr.children].map((td, k) => [td.dataset.col || String(k), td.textContent])))""")


def step_phases(lab: Lab, n: int) -> None:
    for _ in range(n):
        lab.step("phase")


def test_batch_norm_the_check_is_of_the_gradient_shown_and_the_norm_step_is_there(
        make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?hidden=4,4&act=tanh&norm=batch")
    lab.step("iteration")
    step_phases(lab, 3)  # forward, loss, backward of iteration 1: no update yet
    msg = open_inspector(lab, "L2.W.1.0", id="L2.W", index=[1, 0], iteration=1)
    grad = lab.last("frame", phase="backward", iteration=1)["values"]["L2.dW"][1][0]
    assert msg["grad"] == grad and msg["update"] is None
    # the check's backprop is the table's gradient, computed as training computed it
    check = lab.text(f"{PANEL} [data-field='check']")
    bp = parse_number(check.split(",")[0].split()[-1])
    assert abs(bp - grad) <= 5e-9 + 1e-7 * abs(grad), (check, grad)
    assert abs(shown(lab, "[data-field='grad'] mn") - grad) <= 5e-7 + 1e-6 * abs(grad)
    assert "✓" in check and "Training mode" in lab.text(f"{PANEL} [data-field='check-mode']")
    # the normalisation step of the unit, with this batch's statistics
    stats = lab.text(f"{PANEL} [data-field='norm-stats']")
    assert fmt4(msg["norm"]["mean"]) in stats and fmt4(msg["norm"]["var"]) in stats
    shoot(lab, "inspector-batchnorm-en")
    to_japanese(lab)
    assert "学習モード" in lab.text(f"{PANEL} [data-field='check-mode']")
    shoot(lab, "inspector-batchnorm-ja")
    # a unit of the layer: a = f(z̃), with z̃ = γ·û + β from its z, per sample
    lab.page.locator(".net-svg").scroll_into_view_if_needed()
    unit = open_inspector(lab, "L1.a.1", id="L1.a", index=[1])
    nb = unit["norm"]
    rows = table(lab)
    assert rows and len(rows) == len(unit["rows"])
    for row in rows:
        z, u, zn, a = (parse_number(row[k]) for k in ("z", "u", "zn", "a"))
        assert abs(u - (z - nb["mean"]) * nb["inv_std"]) <= 2e-4
        assert abs(zn - (nb["gamma"] * u + nb["beta"])) <= 2e-4
        assert abs(a - math.tanh(zn)) <= 2e-4, row
    assert lab.errors == []


def fmt4(v: float) -> str:
    """A number as the page writes it with 4 digits (true minus sign)."""
    return f"{v:.4f}".replace("-", "−")


def test_a_clipped_gradient_says_so_and_prev_plus_step_checks_by_hand(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?hidden=4,4&clip_norm=0.01")
    lab.step("iteration")
    msg = open_inspector(lab, "L2.W.1.0", id="L2.W", index=[1, 0])
    u = msg["update"]
    upd = lab.last("frame", phase="update", iteration=0)["values"]
    clip = lab.text(f"{PANEL} [data-field='clip']")
    assert "Norm clipping" in clip
    assert f"{upd['clip.total_norm']:.6f}" in clip and f"{u['clip']['factor']:.6f}" in clip
    # the g the optimizer received is on the page, and −η·g is the step shown
    g = parse_number(lab.text(f"{PANEL} [data-field='grad-used'] mn"))
    assert abs(g - u["grad_used"]) <= 5e-7 + 1e-6 * abs(g)
    assert abs(g) < abs(msg["grad"]) * 0.5
    nums = lab.text(f"{PANEL} [data-field='update']")
    prev, step, new = (parse_number(t) for t in nums.replace("(", " ").replace(")", " ")
                       .replace("+", " ").replace("=", " ").split())
    assert abs(step - (-u["lr"] * g)) <= 1e-9 + 1e-4 * abs(step)
    assert abs(prev + step - new) <= 2e-6
    shoot(lab, "inspector-clip-en")
    to_japanese(lab)
    assert "クリッピング" in lab.text(f"{PANEL} [data-field='clip']")
    shoot(lab, "inspector-clip-ja")
    assert lab.errors == []


def test_rmsprop_state_is_shown_under_its_own_names(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?hidden=4,4&opt=rmsprop&momentum=0.9&centered=1&lr=0.01")
    lab.step("iteration")
    msg = open_inspector(lab, "L2.W.1.0", id="L2.W", index=[1, 0])
    st = msg["update"]["state"]
    items = {name: lab.text(f"{PANEL} [data-field='state'] [data-state='{name}']")
             for name in ("square_avg", "grad_avg", "momentum_buffer")}
    assert "running average of the squared gradients" in items["square_avg"]
    assert items["square_avg"].startswith("v")  # v is the average of g², not a step direction
    buffer = items["momentum_buffer"]
    assert buffer.startswith("b") and "momentum buffer" in buffer
    for name, text in items.items():
        value = parse_number(text.split("=")[1].split()[0])
        assert abs(value - st[name]) <= 5e-7 + 1e-5 * abs(st[name]), (name, text)
    assert "v ← α·v + (1 − α)·g²" in lab.text(f"{PANEL} [data-field='rule']")
    to_japanese(lab)
    assert "移動平均" in lab.text(f"{PANEL} [data-field='state'] [data-state='square_avg']")
    assert lab.errors == []


def test_the_single_neuron_shows_the_half_and_the_mean_over_the_batch(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=single&hidden=&batch=2&out=sigmoid&loss=mse")
    lab.step("iteration")
    msg = open_inspector(lab, "L1.W.0.0", id="L1.W", index=[0, 0])
    fwd = lab.last("frame", phase="forward", iteration=0)["values"]
    rows = table(lab)
    assert len(rows) == 2
    for r, row in enumerate(rows):
        x, t, y = fwd["x"][r][0], fwd["t"][r][0], fwd["L1.a"][r][0]
        # each row is the textbook (y − t)·f′(z)·x of one sample: no 1/B, no ½ left
        assert abs(parse_number(row["dL_dy"]) - (y - t)) <= 5e-5
        assert abs(parse_number(row["da_dz"]) - y * (1 - y)) <= 5e-5
        assert abs(parse_number(row["dz_dw"]) - x) <= 5e-5
        assert abs(parse_number(row["product"]) - (y - t) * y * (1 - y) * x) <= 5e-7
    # the loss says where the ½ and the 1/B go, and the sum shows the 1/B
    assert lab.page.locator(f"{PANEL} [data-field='loss-def']").count() == 1
    assert "½ cancels the 2" in lab.text(f"{PANEL} .bpl-insp-section")
    assert "1/2 of their sum" in lab.text(f"{PANEL} [data-field='loss-note']")
    total = lab.text(f"{PANEL} [data-field='sum-numbers']")
    assert "12·(" in total.replace(" ", "")  # = (1/2)·(Σ_b …), MathML text runs together
    assert abs(parse_number(total.split("=")[-1]) - msg["grad"]) <= 5e-7
    shoot(lab, "inspector-single-en")
    to_japanese(lab)
    assert "和の 1/2" in lab.text(f"{PANEL} [data-field='loss-note']")
    assert "½" in lab.text("[data-slot='inspector']")
    shoot(lab, "inspector-single-ja")
    assert lab.errors == []


def test_softmax_output_reads_as_a_formula_with_one_hot_targets_and_class_colours(
        make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=blobs3&hidden=4")
    lab.step("iteration")
    msg = open_inspector(lab, "L2.a.1", id="L2.a", index=[1])
    chain = lab.page.eval_on_selector_all(
        f"{PANEL} .bpl-insp-section", "ss => ss.map(s => s.querySelector('math')?.textContent)")
    formula = next(f for f in chain if f and f.startswith("∑b∂L∂z"))
    lhs, rhs = formula.split("=", 1)
    assert lhs != rhs and "y" in rhs and "t" in rhs, formula
    fwd = lab.last("frame", phase="forward", iteration=0)["values"]
    for r, row in enumerate(table(lab)):
        onehot = [int(v) for v in fwd["t"][r]]
        assert row["target"] == f"[{', '.join(map(str, onehot))}]"
        assert abs(parse_number(row["product"]) - (fwd["L2.a"][r][1] - fwd["t"][r][1])) <= 5e-6
    # output neurons wear their class's colour, the map's
    rings = lab.page.eval_on_selector_all(
        ".net-svg circle.class-ring", "cs => cs.map(c => [c.getAttribute('stroke'), "
        "getComputedStyle(c).visibility])")
    assert [r[0] for r in rings] == ["#d55e00", "#0072b2", "#009e73"]
    assert all(r[1] == "visible" for r in rings)
    assert msg["loss"] == "cross_entropy"
    shoot(lab, "inspector-softmax-en")
    to_japanese(lab)
    assert "ワンホット" in lab.text(f"{PANEL} [data-field='rows']")
    shoot(lab, "inspector-softmax-ja")
    assert lab.errors == []


INTERNAL_ID = re.compile(r"\b(?:L\d+\.\w+|loss\.\w+)")


def test_a_diverging_run_names_the_first_bad_quantity_in_words(make_lab: Any) -> None:
    lab = make_lab(**DESK).open("/?dataset=xor&hidden=8,8&act=relu&loss=mse&lr=100&seed=3")
    mark = lab.mark()
    for _ in range(40):
        lab.page.click(".btn-step-iteration")
        lab.page.wait_for_timeout(30)
        if any(m.get("type") == "error" for m in lab.received[mark:]):
            break
    err = lab.wait_for_message("error", after=mark, code="nonfinite")
    lab.page.wait_for_selector(".notice:not([hidden])")
    words = {"loss.data": "the data loss L"}
    text = lab.text(".notice-text")
    assert not INTERNAL_ID.search(text), text
    assert lab.page.get_attribute(".notice-text", "title") is None
    if err["where"] in words:
        assert words[err["where"]] in text
    assert "first value to become NaN or ∞" in text and str(err["iteration"]) in text
    to_japanese(lab)
    text = lab.text(".notice-text")
    assert not INTERNAL_ID.search(text) and "最初に NaN/∞ になったのは" in text
