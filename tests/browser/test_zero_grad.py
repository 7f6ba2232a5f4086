"""The forgotten zero_grad() on the page (lesson 16, the catalog's lesson-only
``accumulate_grads``): the switch is not offered in a normal run's settings; in the
lesson it is shown, ticked, locked and marked; after an update the inspector shows
both gradients — this iteration's ∂L/∂w from backward and the sum Σg the update used —
and says why they differ; the optimizer strip shows Σg per layer even for plain SGD.
Numbers are compared with the frames the engine sent."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Lab, parse_number
from tests.browser.test_inspector import PANEL, frames_of, open_inspector, wait_since
from tests.browser.test_lessons import DESK, LESSON


def shown(lab: Lab, field: str) -> float:
    """The number a line of the inspector's update ends with (its last <mn>: the
    symbols before it may hold digits, as w's indices do)."""
    return parse_number(lab.page.eval_on_selector(
        f"{PANEL} [data-field='{field}']",
        "el => [...el.querySelectorAll('mn')].pop().textContent"))


def close6(a: float, b: float) -> bool:
    """``a`` is ``b`` to the 6 significant digits the inspector writes."""
    return abs(a - b) <= 5e-7 + 1e-6 * abs(b)


def test_the_page_marks_gradients_never_reset_and_shows_both_gradients(make_lab: Any) -> None:
    lab = make_lab(viewport=DESK)
    page = lab.page
    page.goto(lab.base_url + "/")
    page.wait_for_selector(".conn[data-state='open']", timeout=20_000)
    lab.wait_for_message("run", after=0)
    assert page.is_hidden("#adv-accumulate_grads")  # a normal run: not offered

    mark = lab.mark()
    page.goto(f"{lab.base_url}/?lesson=zero-grad&step=1")
    page.wait_for_selector(".conn[data-state='open']", timeout=20_000)
    lab.wait_for_message("lesson_step", after=mark, id="zero-grad", step=1)
    box = page.locator("#adv-accumulate_grads")
    expect(box).to_be_visible()
    expect(box).to_be_checked()
    expect(box).to_be_disabled()
    assert lab.text("label[for='adv-accumulate_grads']").startswith("⚠")

    start = lab.mark()
    page.click(f"{LESSON} .lesson-act")  # the step's two iterations
    wait_since(lab, start, "frame", phase="update", iteration=1)
    lab.sync()
    msg = open_inspector(lab, "L2.W.1.0", id="L2.W", index=[1, 0])
    f = frames_of(lab, 1)
    g = f["backward"]["L2.dW"][1][0]
    total = f["update"]["L2.W.grad_sum"][1][0]
    assert total != g  # the first iteration's gradient is still in it
    u = msg["update"]
    assert (u["grad"], u["grad_sum"], u["grad_used"]) == (g, total, total)
    assert close6(shown(lab, "update-grad"), g)
    assert close6(shown(lab, "grad-sum"), total)
    assert close6(shown(lab, "grad-used"), total)
    assert "p.grad" in lab.text(f"{PANEL} .bpl-insp-accumulated")
    # the strip under the network: Σg of each layer, the update frame's norm
    bar = page.locator(".opt-bar[data-state='grad_sum']").nth(1)
    expect(bar).to_have_attribute("data-value", str(f["update"]["L2.grad_sum_norm"]))
    assert "Σg" in lab.text(".opt-state-head")
    assert lab.errors == []
