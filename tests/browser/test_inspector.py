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
    xy = lab.page.eval_on_selector(
        f".net-svg [data-id='{element_id}']", """el => {
            const g = el.getTotalLength ? el.getPointAtLength(el.getTotalLength() * 0.2)
                : null;
            const b = el.getBBox();
            const pt = new DOMPoint(g ? g.x : b.x + b.width / 2, g ? g.y : b.y + b.height / 2)
                .matrixTransform(el.getScreenCTM());
            return [pt.x, pt.y];
        }""")
    lab.page.mouse.click(xy[0], xy[1])


def open_inspector(lab: Lab, element_id: str, **match: Any) -> dict[str, Any]:
    start = len(lab.received)
    click_element(lab, element_id)
    lab.page.wait_for_selector(f"{PANEL}:not([hidden])", timeout=5000)
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
    assert len(rows) == min(8, len(batch))
    for r, row in enumerate(rows):
        assert int(row[0]) == batch[r]
        assert abs(parse_number(row[3]) - a1[r][1]) <= 5e-5
    # the update it received: prev + step = new, as the update frame has them
    upd = f["update"]
    text = lab.text(f"{PANEL} [data-field='update'] + math")
    nums = [parse_number(t) for t in text.replace("(", " ").replace(")", " ").replace("+", " ")
            .replace("=", " ").split()]
    assert abs(nums[0] - upd["L2.W.prev"][1][0]) <= 5e-7
    assert abs(nums[1] - upd["L2.W.step"][1][0]) <= 5e-7
    assert abs(nums[2] - upd["L2.W"][1][0]) <= 5e-7
    # and the finite-difference check agrees
    assert "✓" in lab.text(f"{PANEL} [data-field='check']")
    assert lab.errors == []
    lab.screenshot("inspector-weight-page")
    lab.page.locator(PANEL).screenshot(path=str(lab.shot_dir / "inspector-weight.png"))


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
    lab.page.wait_for_function("document.documentElement.lang === 'ja'")
    lab.page.wait_for_timeout(200)
    text = lab.page.evaluate("""() => ['inspector', 'maps', 'charts'].map((slot) => {
        const c = document.querySelector(`[data-slot='${slot}']`).cloneNode(true);
        c.querySelectorAll('math, .sr-only').forEach((m) => m.remove());
        const attrs = [...c.querySelectorAll('[aria-label]')]
            .map((e) => e.getAttribute('aria-label'));
        return c.textContent + ' ' + attrs.join(' ');
    }).join(' ')""")
    words = set(re.findall(r"[A-Za-z]{3,}", text))
    # function and optimizer names, written the same in Japanese texts
    assert words <= {"tanh", "sgd"}, words
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
