"""The mechanisms drawn on the network, and the cost of every gradient, in real Chromium.

Each test compares what a learner sees with the engine's own numbers: the frames the
server sent (recorded by the ``Lab`` fixture), or a count done by hand here.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from tests.browser.conftest import Lab, parse_number
from tests.browser.test_charts import PHONE, configure, errors
from tests.browser.test_inspector import PANEL, open_inspector

NET = ".net-svg"
SHOTS = os.environ.get("BPL_MECH_SHOTS", "")  # a folder: save the screenshots looked at


def forward_of(lab: Lab, iteration: int) -> dict[str, Any]:
    return next(m["values"] for m in reversed(lab.messages("frame"))
                if m["iteration"] == iteration and m["phase"] == "forward")


def update_of(lab: Lab, iteration: int) -> dict[str, Any]:
    return next(m["values"] for m in reversed(lab.messages("frame"))
                if m["iteration"] == iteration and m["phase"] == "update")


def shot(lab: Lab, name: str) -> None:
    if SHOTS:
        lab.page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


OVERLAPS = """() => {
  const boxes = (sel) => [...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect());
  const hit = (a, b) => a.left < b.right && b.left < a.right
    && a.top < b.bottom && b.top < a.bottom;
  const badges = boxes('.net-svg .bn-badge rect');
  return boxes('.net-svg .layer-caption').filter(c => badges.some(b => hit(b, c))).length;
}"""


def test_batch_norm_badges_leave_the_layer_captions_whole(make_lab: Any) -> None:
    """Eight normalised layers: the captions go on two staggered lines, both below the
    badges (the upper line ran through them: "Hidden 2" under a BN), and go back up
    when the norm is off again (the same shape keeps its drawing)."""
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    configure(lab, dataset="xor", hidden=[4] * 8, norm="batch")
    lab.settled()
    assert lab.page.locator(f"{NET} .bn-badge").count() == 8
    assert lab.page.evaluate(OVERLAPS) == 0
    low = lab.page.eval_on_selector(f"{NET} .layer-caption", "e => e.getBoundingClientRect().top")
    configure(lab, dataset="xor", hidden=[4] * 8, norm="none")
    lab.settled()
    assert lab.page.locator(f"{NET} .bn-badge").count() == 0
    assert lab.page.eval_on_selector(f"{NET} .layer-caption",
                                     "e => e.getBoundingClientRect().top") < low
    assert lab.errors == []


def test_batch_norm_badge_shows_the_batchs_mu_sigma_and_the_gamma_beta_in_use(
        make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    run = configure(lab, dataset="xor", hidden=[4, 4], activation="tanh", norm="batch",
                    batch_size=8, seed=2, lr=0.3)
    assert run["net"]["norm"] == ["batch", "batch", "none"]
    lab.step("iteration")  # iteration 0: γ, β move in its update
    lab.step("phase")      # iteration 1's forward, with the updated γ, β
    lab.settled()
    assert lab.page.locator(f"{NET} .bn-badge").count() == 2
    fwd, upd = forward_of(lab, 1), update_of(lab, 0)
    lab.page.focus(f"{NET} .bn-badge[data-layer='1']")  # keyboard: the numbers appear
    assert lab.page.get_attribute(f"{NET} .bn-numbers[data-layer='1']", "visibility") == "visible"
    shot(lab, "bn")
    z = fwd["L1.z"]
    for j in range(4):
        col = [row[j] for row in z]
        mu = sum(col) / len(col)
        sigma = math.sqrt(sum((v - mu) ** 2 for v in col) / len(col) + 1e-5)
        unit = f"{NET} .bn-numbers[data-layer='1'] .bn-unit[data-unit='{j}']"
        got = {k: lab.number(f"{unit} [data-value='{k}']")
               for k in ("mu", "sigma", "gamma", "beta")}
        # shown to 2 decimals: the frame's batch statistics, and this batch's z by hand
        assert abs(got["mu"] - fwd["L1.mu"][j]) <= 0.0051 and abs(got["mu"] - mu) <= 0.0051
        assert abs(got["sigma"] - sigma) <= 0.0051
        assert abs(got["gamma"] - upd["L1.gamma"][j]) <= 0.0051
        assert abs(got["beta"] - upd["L1.beta"][j]) <= 0.0051
    assert any(abs(g - 1) > 1e-4 for g in upd["L1.gamma"])  # γ did move: not the initial 1s
    lab.page.focus(f"{NET} .node[data-id='L1.a.2']")  # the unit's tooltip says it too
    tip = lab.text("#net-tip")
    assert "μ = " in tip and "σ = " in tip and "batch norm" in tip
    lab.page.focus(".btn-step-phase")
    assert lab.page.get_attribute(f"{NET} .bn-numbers[data-layer='1']", "visibility") == "hidden"
    # Enter on the badge keeps its numbers up (a click or a tap does the same)
    badge = f"{NET} .bn-badge[data-layer='2']"
    lab.page.focus(badge)
    lab.page.keyboard.press("Enter")
    lab.page.focus(".btn-step-phase")
    assert lab.page.get_attribute(badge, "aria-expanded") == "true"
    assert lab.page.get_attribute(f"{NET} .bn-numbers[data-layer='2']", "visibility") == "visible"
    mu2 = lab.number(f"{NET} .bn-numbers[data-layer='2'] .bn-unit[data-unit='0'] [data-value='mu']")
    assert abs(mu2 - fwd["L2.mu"][0]) <= 0.0051
    assert errors(lab) == []


def test_one_skip_edge_per_residual_block(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    run = configure(lab, dataset="xor", hidden=[3, 3, 3], residual=True, seed=1)
    # 2 inputs → 3 units has no skip (widths differ); layers 2 and 3 have one each
    assert run["net"]["residual"] == [False, True, True, False]
    lab.settled()
    skips = lab.page.locator(f"{NET} .skip")
    assert skips.count() == 2
    assert [skips.nth(k).get_attribute("data-layer") for k in range(2)] == ["2", "3"]
    assert "layer 2" in (skips.nth(0).get_attribute("aria-label") or "")
    assert lab.page.locator(".mech-legend [data-legend='skip']").is_visible()
    lab.step("phase")
    lab.settled()
    shot(lab, "skip")
    configure(lab, dataset="xor", hidden=[3, 3, 3], residual=False, seed=1)
    lab.settled()
    assert lab.page.locator(f"{NET} .skip").count() == 0
    assert errors(lab) == []


def test_dropout_greys_the_units_this_iterations_mask_switched_off(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    configure(lab, dataset="xor", hidden=[8], dropout=0.5, batch_size=1, seed=3)
    lab.step("phase")
    lab.settled()
    mask = forward_of(lab, 0)["L1.mask"][0]
    off = [j for j, m in enumerate(mask) if m == 0]
    assert 0 < len(off) < 8  # some units dropped, some kept: the picture shows which
    for j in range(8):
        wedge = f"{NET} .mech-drop[data-unit='L1.{j}']"
        assert float(lab.page.get_attribute(wedge, "data-dropped") or "nan") == (j in off)
        assert bool(lab.page.get_attribute(wedge, "d")) == (j in off)
    shot(lab, "dropout-batch1")
    # a batch of 8: each unit greyed by the share of the batch its mask switched off
    configure(lab, dataset="xor", hidden=[6], dropout=0.5, batch_size=8, seed=4)
    lab.step("phase")
    lab.settled()
    masks = forward_of(lab, 0)["L1.mask"]
    for j in range(6):
        k = sum(1 for row in masks if row[j] == 0)
        wedge = f"{NET} .mech-drop[data-unit='L1.{j}']"
        assert float(lab.page.get_attribute(wedge, "data-dropped") or "nan") == k / 8
        lab.page.focus(f"{NET} .node[data-id='L1.a.{j}']")
        assert f"switched off for {k} of 8 samples" in lab.text("#net-tip")
    assert errors(lab) == []


def test_fast_play_greys_the_units_of_the_last_compact_frame(make_lab: Any) -> None:
    """Playing fast the page gets compact frames (no masks): the wedges come from their
    per-unit share, the engine's, for the iteration painted last."""
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    configure(lab, dataset="xor", hidden=[6], dropout=0.5, batch_size=4, seed=5)
    lab.play_until("30", 6)
    lab.settled()
    last = next(m for m in reversed(lab.messages("frame")) if m["phase"] == "forward")
    assert last["compact"] and "L1.mask" not in last["values"]
    dropped = last["values"]["L1.dropped"]
    for j in range(6):
        wedge = f"{NET} .mech-drop[data-unit='L1.{j}']"
        assert float(lab.page.get_attribute(wedge, "data-dropped") or "nan") == dropped[j]
    assert errors(lab) == []


def test_dead_and_saturated_units_are_marked_as_the_engine_flags_them(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    configure(lab, dataset="xor", hidden=[4], activation="relu", batch_size=0, seed=1)
    lab.page.evaluate("m => window.__sockets.at(-1).send(JSON.stringify(m))",
                      {"type": "edit", "id": "L1.b", "index": [1], "value": -50.0})
    lab.wait_for_message("edit")
    lab.step("phase")
    lab.settled()
    dead = forward_of(lab, 0)["L1.dead"]
    assert dead[1] == 1.0  # its bias keeps it below 0 for every sample
    for j in range(4):
        ring = lab.page.get_attribute(f"{NET} .mech-dead[data-unit='L1.{j}']", "visibility")
        assert ring == ("visible" if dead[j] else "hidden")
    legend = lab.text(".mech-legend [data-legend='dead']")
    assert legend == f"dead ReLU: {int(sum(dead))}"
    title = lab.page.get_attribute(".mech-legend .mech-item:has([data-legend='dead'])", "title")
    assert f"({int(sum(dead))} now)" in (title or "")
    lab.page.focus(f"{NET} .node[data-id='L1.a.1']")
    assert "dead: 0 for every sample" in lab.text("#net-tip")
    shot(lab, "dead")
    configure(lab, dataset="xor", hidden=[6], activation="tanh", init="normal", init_scale=20,
              batch_size=0, seed=1)
    lab.step("phase")
    lab.settled()
    sat = forward_of(lab, 0)["L1.saturated"]
    assert sum(sat) > 0
    for j in range(6):
        ring = lab.page.get_attribute(f"{NET} .mech-sat[data-unit='L1.{j}']", "visibility")
        assert ring == ("visible" if sat[j] else "hidden")
        dead_ring = lab.page.get_attribute(f"{NET} .mech-dead[data-unit='L1.{j}']", "visibility")
        assert dead_ring == "hidden"  # tanh is never "dead": the two marks differ
    assert lab.text(".mech-legend [data-legend='saturated']") == f"saturated: {int(sum(sat))}"
    shot(lab, "saturated")
    assert errors(lab) == []


def adam_stepped(lab: Lab, iterations: int) -> dict[str, Any]:
    """An Adam run on XOR (4-4) stepped ``iterations`` whole iterations, its optimizer
    state strip shown; the last update frame's values."""
    configure(lab, dataset="xor", hidden=[4, 4], optimizer={"name": "adam"}, seed=1)
    # Adam keeps state: the strip (fetched for the first optimizer that does) waits for it
    lab.page.wait_for_selector(".opt-state", state="visible")
    for _ in range(iterations):
        lab.step("iteration")
    lab.settled()
    return update_of(lab, iterations - 1)


def update_rule(lab: Lab, optimizer: dict[str, Any]) -> str:
    """The update banner's formula after one iteration of a small run with ``optimizer``."""
    configure(lab, dataset="xor", hidden=[4], optimizer=optimizer, seed=1)
    for _ in range(4):
        lab.step("phase")
    lab.page.wait_for_selector("[data-slot='banner'][data-phase='update']")
    lab.settled()
    return lab.text("[data-slot='banner'] .banner-math")


def test_the_update_banner_shows_the_rule_of_the_optimizer_in_force(make_lab: Any) -> None:
    """The update's banner gave plain SGD's W ← W − η ∂L/∂W whatever the optimizer: with
    Adam it now gives Adam's rule (the catalog's, as the inspector's); plain SGD keeps its
    formula."""
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    banner = "[data-slot='banner']"
    for optimizer, shown in (({"name": "adam"}, "Adam: m = β₁ m"),
                             ({"name": "sgd", "momentum": 0.9}, "SGD: "),
                             ({"name": "sgd"}, None)):
        math = update_rule(lab, optimizer)
        if shown is None:
            assert lab.page.locator(f"{banner} .banner-math math").count() == 1
            assert lab.page.get_attribute(f"{banner} .banner-math math",
                                          "aria-label") == "W ← W − η ∂L/∂W"
        else:
            assert math.startswith(shown), (optimizer, math)
            assert lab.page.locator(f"{banner} .banner-math math").count() == 0
    assert errors(lab) == []


def test_a_japanese_page_gives_the_optimizers_rule_in_japanese(make_lab: Any) -> None:
    """The rules with words (SGD's momentum "(b = g at first) … or b", RMSprop's "with
    momentum … else", AdamW's "then Adam with g the plain gradient") came in English on a
    Japanese page: they come in Japanese, their formulas as written."""
    lab = make_lab(viewport={"width": 1280, "height": 800}, locale="ja-JP").open()
    for optimizer, shown in (({"name": "sgd", "momentum": 0.9}, "（最初は b = g）"),
                             ({"name": "rmsprop", "momentum": 0.5}, "モーメンタムありなら"),
                             ({"name": "adamw"}, "続いて g を素の勾配として Adam")):
        math = update_rule(lab, optimizer)
        assert shown in math, (optimizer, math)
        assert not re.search(r"[A-Za-z]{3,}", math.replace("Nesterov", "").replace(
            "Adam", "").replace("RMSprop", "").replace("SGD", "")), math  # no English words
    assert errors(lab) == []


def test_on_a_phone_each_optimizer_state_bar_reads_its_value_inside_its_track(
        make_lab: Any) -> None:
    """A phone's layers are too narrow for the values beside the bars (they were bars
    with no number and no scale): each value stands inside its track's end."""
    lab = make_lab(**PHONE).open()
    strip = ".opt-state"
    upd = adam_stepped(lab, 1)
    for l in (1, 2, 3):
        for name in ("exp_avg", "exp_avg_sq"):
            at = f"{strip} .opt-layer[data-layer='{l}']"
            value = f"{at} .opt-value[data-state='{name}']"
            assert math.isclose(parse_number(lab.text(value)), upd[f"L{l}.{name}_norm"],
                                rel_tol=0.05)
            track = lab.page.locator(f"{at} .opt-track").nth(
                0 if name == "exp_avg" else 1).bounding_box()
            box = lab.page.locator(value).bounding_box()
            assert track is not None and box is not None
            assert track["x"] - 1 <= box["x"] and box["x"] + box["width"] <= \
                track["x"] + track["width"] + 1, (name, l, box, track)
    assert errors(lab) == []


def test_optimizer_state_strip_shows_each_layers_buffers_by_the_catalogs_names(
        make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    strip = ".opt-state"
    upd = adam_stepped(lab, 2)
    for l in (1, 2, 3):
        for name in ("exp_avg", "exp_avg_sq"):
            bar = f"{strip} .opt-layer[data-layer='{l}'] .opt-bar[data-state='{name}']"
            assert float(lab.page.get_attribute(bar, "data-value") or "nan") == \
                upd[f"L{l}.{name}_norm"]
            assert float(lab.page.get_attribute(bar, "width") or "0") > 0
            value = f"{strip} .opt-layer[data-layer='{l}'] .opt-value[data-state='{name}']"
            shown = parse_number(lab.text(value))
            assert math.isclose(shown, upd[f"L{l}.{name}_norm"], rel_tol=0.05)
    assert "iteration 2" in lab.text(f"{strip} .opt-state-head")
    label = lab.page.get_attribute(f"{strip} .opt-layer[data-layer='2']", "aria-label") or ""
    assert "‖m‖" in label and "‖v‖" in label
    shot(lab, "optimizer")
    # plain SGD keeps no state: nothing drawn; with momentum, one buffer b per layer
    configure(lab, dataset="xor", hidden=[4, 4], optimizer={"name": "sgd"}, seed=1)
    lab.settled()
    assert lab.page.locator(strip).is_hidden()
    configure(lab, dataset="xor", hidden=[4, 4], optimizer={"name": "sgd", "momentum": 0.9},
              seed=1)
    lab.step("iteration")
    lab.settled()
    bars = lab.page.locator(f"{strip} .opt-bar")
    assert bars.count() == 3
    assert {bars.nth(k).get_attribute("data-state") for k in range(3)} == {"momentum_buffer"}
    assert float(bars.nth(0).get_attribute("data-value") or "nan") == \
        update_of(lab, 0)["L1.momentum_buffer_norm"]
    # an optimizer changed mid-run (`set`): the strip follows the timeline's settings
    mark = lab.mark()
    lab.page.evaluate("m => window.__sockets.at(-1).send(JSON.stringify(m))",
                      {"type": "set", "optimizer": {"name": "rmsprop"}})
    lab.wait_for_message("timeline", after=mark)
    lab.step("iteration")
    lab.settled()
    states = lab.page.locator(f"{strip} .opt-bar")
    assert {states.nth(k).get_attribute("data-state") for k in range(states.count())} == \
        {"square_avg"}
    assert float(states.nth(0).get_attribute("data-value") or "nan") == \
        update_of(lab, 1)["L1.square_avg_norm"]
    assert errors(lab) == []


def numbers(text: str) -> list[float]:
    return [float(s.replace(",", "")) for s in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def test_cost_of_every_gradient_beside_the_check_in_both_languages(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open()
    configure(lab, dataset="xor", hidden=[3], batch_size=4, seed=1)
    lab.step("iteration")
    open_inspector(lab, "L1.W.0.1")
    lab.page.wait_for_selector(f"{PANEL} [data-field='cost']")
    # 2-3-1 by hand: P = 2·3 + 3 + 3·1 + 1 = 13; a forward pass of 4 samples
    # F = 4·(2·3 + 3·1) = 36 multiply-adds; numerically 2·13 passes, 2·13·36 = 936;
    # the backward pass 2F = 72; 936 / 72 = 13
    numeric = lab.text(f"{PANEL} [data-field='cost-numeric']")
    assert numbers(numeric) == [13, 2, 26, 36, 936]
    assert numbers(lab.text(f"{PANEL} [data-field='cost-backprop']")) == [2, 2, 36, 13, 72]
    assert numbers(lab.text(f"{PANEL} [data-field='cost-ratio']")) == [13]
    assert numbers(lab.text(f"{PANEL} [data-field='cost-note']")) == [4]
    check = lab.page.locator(f"{PANEL} [data-field='check']")
    cost = lab.page.locator(f"{PANEL} [data-field='cost']")
    assert check.is_visible() and cost.is_visible()
    cost.scroll_into_view_if_needed()
    shot(lab, "cost-en")
    lab.page.keyboard.press("l")  # 日本語
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.settled()
    ja = lab.text(f"{PANEL} [data-field='cost-numeric']")
    assert "積和" in ja and numbers(ja) == [13, 2, 26, 1, 36, 936]
    assert numbers(lab.text(f"{PANEL} [data-field='cost-backprop']")) == [1, 2, 2, 36, 13, 72]
    cost.scroll_into_view_if_needed()
    shot(lab, "cost-ja")
    assert errors(lab) == []
