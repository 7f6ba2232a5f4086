"""Maps and health charts in real Chromium: the output over the input plane is drawn from
the engine's grid (colours differ across the decision boundary), maps arrive at most ten
times a second, every hidden neuron gets a map, and the gradient-norm chart has one
series per layer with the engine's latest values."""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import Lab, parse_number

MAP = "[data-view='output-map']"


def pixel(lab: Lab, fx: float, fy: float) -> tuple[int, int, int]:
    """(r, g, b) of the output map at fractions (fx, fy) of its width and height."""
    rgb = lab.page.eval_on_selector(
        MAP, """(c, [fx, fy]) => {
            const d = c.getContext('2d').getImageData(Math.floor(fx * c.width),
                                                      Math.floor(fy * c.height), 1, 1).data;
            return [d[0], d[1], d[2]];
        }""", [fx, fy])
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def test_the_decision_map_is_drawn_with_both_classes(make_lab: Any) -> None:
    lab = make_lab().open("/?dataset=circle&hidden=6,4&act=tanh&lr=0.1&batch=20&seed=2")
    lab.wait_for_run(dataset="circle", hidden=[6, 4], seed=2)
    lab.page.wait_for_selector(MAP)
    start = lab.mark()
    for _ in range(3):
        lab.page.click(".btn-step-iteration")
    lab.wait_for_message("maps", after=start, timeout=5)
    # train until the inner disc (class 1, blue) and the ring (class 0, vermillion) separate
    for _ in range(40):
        lab.page.click(".btn-step-iteration")
    lab.wait_for_message("maps", after=start, iteration=43)  # the trained weights' maps
    lab.settled()  # ...drawn
    assert lab.errors == []  # (the test's own pixel reads below make Chromium warn)
    centre = pixel(lab, 0.5, 0.5)
    corner = pixel(lab, 0.08, 0.08)
    assert centre != corner
    assert centre[2] > centre[0], f"centre should lean blue (class 1): {centre}"
    assert corner[0] > corner[2], f"corner should lean vermillion (class 0): {corner}"
    # every hidden neuron has its own small map
    n = lab.page.eval_on_selector_all(".bpl-neuron-map", "els => els.length")
    assert n == 6 + 4
    blank = lab.page.eval_on_selector_all(
        ".bpl-neuron-map", """els => els.filter(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return false;
            return true;
        }).length""")
    assert blank == 0
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.locator("[data-slot='maps']").screenshot(path=str(lab.shot_dir / "maps-circle.png"))


def test_maps_arrive_at_most_ten_times_a_second_while_playing(lab: Lab) -> None:
    lab.page.select_option("#ctl-speed", "100")  # 100 iterations a second: weights change often
    start = len(lab.received)
    lab.page.click(".btn-toggle-play")
    t0 = time.monotonic()
    lab.page.wait_for_timeout(2500)  # a rate over real time is what is tested
    lab.page.click(".btn-toggle-play")
    elapsed = time.monotonic() - t0
    maps = [m for m in lab.received[start:] if m["type"] == "maps"]
    assert len(maps) >= 3
    # (the map of the run as play starts and of the iteration it pauses at go at once: the
    # ones in between are the rate)
    assert (len(maps) - 2) / elapsed <= 10.5, (len(maps), elapsed)
    iters = [m["iteration"] for m in maps]
    assert iters == sorted(iters)
    assert iters[-1] - iters[0] > 2 * len(maps)  # many iterations per map: coalesced


def test_gradient_norm_chart_has_one_series_per_layer(make_lab: Any) -> None:
    lab = make_lab().open("/?dataset=spiral&hidden=8,8,8,8,8,8,8,8&act=sigmoid&batch=20")
    lab.wait_for_run(dataset="spiral", activation="sigmoid")
    lab.page.wait_for_function(
        "() => document.querySelectorAll('.net-svg circle.node').length === 2 + 8 * 8 + 1")
    for _ in range(4):
        lab.step("iteration")  # (its metrics come before its state)
    lab.settled()  # the charts redraw on the next animation frame
    chart = "[data-chart='gnorm']"
    legend = lab.page.eval_on_selector_all(f"{chart} .bpl-chart-legend li",
                                           "els => els.map(e => e.textContent)")
    assert legend == [f"L{l}" for l in range(1, 10)]
    # the text alternative carries each layer's latest ‖∂L/∂W‖, as the engine sent it
    gnorm = lab.last("metrics")["points"][-1]["gnorm"]
    text = lab.text(f"{chart} .sr-only")
    for l, g in enumerate(gnorm, start=1):
        part = text.split(f"L{l}: ")[1].split(",")[0]
        assert abs(parse_number(part) - g) <= 0.01 * g
    # vanishing gradients: the first layer's norm is decades below the last's
    assert gnorm[0] < 1e-3 * gnorm[-1]
    # the update/weight ratio chart has the same per-layer series
    ratio = lab.page.eval_on_selector_all("[data-chart='ratio'] .bpl-chart-legend li",
                                          "els => els.map(e => e.textContent)")
    assert ratio == legend
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.locator("[data-slot='charts']").screenshot(
        path=str(lab.shot_dir / "health-sigmoid-8.png"))


def test_a_learner_adds_points_of_two_classes_and_trains_on_them(lab: Lab) -> None:
    maps = lab.wait_for_message("maps", after=0)
    lo, hi = maps["extent"]
    lab.page.locator(MAP).scroll_into_view_if_needed()
    bar = "[data-view='add-points']"
    # too few points: said beside the buttons, nothing sent
    lab.page.click(f"{bar} .pts-add")
    box = lab.page.locator(MAP).bounding_box()
    assert box is not None

    def click_at(x1: float, x2: float) -> None:
        lab.page.mouse.click(box["x"] + (x1 - lo) / (hi - lo) * box["width"],
                             box["y"] + (hi - x2) / (hi - lo) * box["height"])

    click_at(0.0, 0.0)
    runs = len(lab.messages("run"))
    lab.page.click(f"{bar} .pts-train")
    assert "at least two" in lab.text(f"{bar} .pts-status")
    assert len(lab.messages("run")) == runs
    lab.page.click(f"{bar} .pts-clear")
    # still adding: three points of class 0 on the left, three of class 1 on the right
    assert lab.page.get_attribute(f"{bar} .pts-add", "aria-pressed") == "true"
    wanted = [(-3.0, 2.0, 0), (-2.5, -1.0, 0), (-3.5, 0.5, 0),
              (3.0, 1.5, 1), (2.0, -2.0, 1), (3.5, -0.5, 1)]
    for x1, x2, k in wanted:
        lab.page.click(f"{bar} .pts-class[data-cls='{k}']")
        click_at(x1, x2)
    assert "6/" in lab.text(f"{bar} .pts-status")
    lab.page.locator("[data-slot='maps']").screenshot(path=str(lab.shot_dir / "add-points.png"))
    lab.page.click(f"{bar} .pts-train")
    run = lab.wait_for_run(dataset="custom")
    pts = run["config"]["points"]
    assert len(pts) == 6
    tol = (hi - lo) / 100
    for (x1, x2, k), got in zip(wanted, pts, strict=True):
        assert abs(got[0] - x1) <= tol and abs(got[1] - x2) <= tol and got[2] == k
    # the run trains on exactly those points, and the menu says so
    data = run["data"]
    assert len(data["p_train"]) + len(data["p_test"]) == 6
    lab.settled()
    assert lab.page.eval_on_selector("#ctl-dataset", "s => s.value") == "custom"
    assert "My points" in lab.page.eval_on_selector(
        "#ctl-dataset", "s => s.options[s.selectedIndex].textContent")
    start = lab.mark()
    lab.step("iteration")
    lab.wait_for_message("frame", after=start, phase="update")
    assert lab.page.is_hidden(f"{bar} .pts-classes")
    # clearing the points leaves the run alone
    lab.page.click(f"{bar} .pts-clear")
    assert lab.page.is_hidden(f"{bar} .pts-clear")
    assert lab.messages("run")[-1]["config"]["dataset"] == "custom"
    assert lab.errors == []


def test_choosing_my_points_without_points_opens_add_mode(lab: Lab) -> None:
    runs = len(lab.messages("run"))
    lab.page.select_option("#ctl-dataset", "custom")
    lab.page.wait_for_selector("[data-view='add-points'] .pts-add[aria-pressed='true']",
                               timeout=3000)
    assert lab.page.eval_on_selector("#ctl-dataset", "s => s.value") == "xor"
    assert len(lab.messages("run")) == runs
    # the keyboard can add points too: arrows move a cursor, Enter places a point
    lo, hi = lab.wait_for_message("maps", after=0)["extent"]
    lab.page.focus(MAP)
    lab.page.keyboard.press("Enter")
    for _ in range(5):
        lab.page.keyboard.press("ArrowRight")
    lab.page.keyboard.press("Enter")
    assert "2/" in lab.text("[data-view='add-points'] .pts-status")
    start = lab.mark()
    lab.page.click("[data-view='add-points'] .pts-train")
    run = lab.wait_for_message("run", after=start)
    (a, b), (c, d) = (p[:2] for p in run["config"]["points"])
    assert b == d and abs((c - a) - 0.2 * (hi - lo)) <= (hi - lo) / 50
    # the arrows did not step the run
    assert lab.messages("frame") == []
    assert lab.errors == []
