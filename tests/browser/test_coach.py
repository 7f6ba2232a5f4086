"""The coach in the page: a diverging run's note appears in the learner's language, its
numbers filled in, read out politely, dismissible from the keyboard; on a projector a
growing gap's note takes the timeline to the best test iteration; on a phone it is one
line under the network that opens, and turning it off is remembered. The panel's code
is not part of the first load. Screenshots: coach-desk-en/ja, coach-projector-en,
coach-phone-ja (docs/screenshots/ with BPL_SCREENSHOTS=1)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Lab
from tests.browser.test_lazy_views import BUDGET_KB, Fetches

DESK = {"viewport": {"width": 1280, "height": 800}}
PROJECTOR = {"viewport": {"width": 1280, "height": 720}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
#: a ReLU network at learning rate 10: the loss blows up at iteration 3, layer 2's
#: gradient first (tests/server/test_coach.py checks the numbers)
DIVERGING = "/?dataset=circle&hidden=8,8&act=relu&lr=10"
#: the overfitting lesson's run, a smaller network (lighter to draw at 100 it/s): the test
#: loss is lowest near iteration 20 and the coach says so near 60
MEMORIZING = ("/?dataset=spiral&n=60&noise=0.5&hidden=12,12&act=relu&init=he_normal"
              "&batch=0&lr=0.03&opt=adam")
NOTE = ".coach-note[data-rule='{}']"


def shot(lab: Lab, name: str, whole: bool = True) -> None:
    """Save a screenshot (the first screen only unless ``whole``) as ``name``.png."""
    lab.page.mouse.move(0, 0)
    lab.page.wait_for_function("() => document.getAnimations().length === 0", timeout=10_000)
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.screenshot(path=str(lab.shot_dir / f"{name}.png"), full_page=whole)


def diverge(lab: Lab) -> dict[str, Any]:
    """Step the diverging run until the coach speaks; its ``coach`` message."""
    mark = lab.mark()
    for _ in range(3):
        lab.step("iteration")
    msg = lab.wait_for_message("coach", after=mark)
    lab.page.wait_for_selector(NOTE.format("divergence"), state="attached")
    return msg


def test_a_diverging_run_gets_the_coachs_note_in_both_languages(make_lab: Any) -> None:
    lab = make_lab(**DESK)
    fetches = Fetches(lab)
    lab.open(DIVERGING)
    lab.page.wait_for_load_state("networkidle")
    assert not fetches.fetched("/static/js/views/coach-view.js")  # not before a note
    assert not fetches.fetched("/static/css/coach.css")
    assert sum(fetches.sizes.values()) <= BUDGET_KB * 1024

    msg = diverge(lab)
    (note,) = [n for n in msg["notes"] if n["rule"] == "divergence"]
    assert note["values"]["layer"] == 2
    words = msg["words"]["divergence"]
    item = lab.page.locator(NOTE.format("divergence"))
    assert item.locator(".coach-note-title").text_content() == words["en"]["title"]
    text = str(item.locator(".coach-text").text_content())
    assert "{" not in text and "layer 2 grew first" in text
    assert item.locator(".coach-at").text_content() == f"Iteration {note['iteration']}"
    # read out politely, not over the network (the panel is in the right-hand column)
    live = lab.page.locator("[data-slot='coach'] [aria-live='polite']")
    assert words["en"]["title"] in str(live.text_content())
    panel = lab.page.locator(".coach").bounding_box()
    net = lab.page.locator(".network").bounding_box()
    assert panel is not None and net is not None and panel["x"] >= net["x"] + net["width"]
    shot(lab, "coach-desk-en", whole=False)

    lab.page.click(".lang-btn[data-lang='ja']")
    lab.page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert item.locator(".coach-note-title").text_content() == words["ja"]["title"]
    assert "第2層" in str(item.locator(".coach-text").text_content())
    assert item.locator(".coach-at").text_content() == f"反復 {note['iteration']}"
    shot(lab, "coach-desk-ja", whole=False)

    # dismissed from the keyboard: the panel goes, nothing else does
    lab.page.focus(f"{NOTE.format('divergence')} .coach-dismiss")
    lab.page.keyboard.press("Enter")
    lab.page.wait_for_selector(NOTE.format("divergence"), state="detached")
    assert lab.errors == []


def test_on_a_projector_the_gap_note_goes_to_the_best_test_iteration(make_lab: Any) -> None:
    lab = make_lab(**PROJECTOR).open(MEMORIZING)
    lab.page.keyboard.press("p")
    lab.page.wait_for_function("() => document.documentElement.classList.contains('present')")
    mark = lab.mark()
    lab.page.select_option("#ctl-speed", "100")
    lab.page.click(".btn-toggle-play")
    lab.page.wait_for_selector(NOTE.format("growing-gap"), timeout=20_000)
    lab.page.click(".btn-toggle-play")
    lab.wait_for_message("state", after=mark, playing=False)
    note = next(n for n in lab.last("coach")["notes"] if n["rule"] == "growing-gap")
    best = note["mark"]
    assert best == note["values"]["at"] < note["iteration"]
    # a strip at the bottom of the first screen, under the network, not over it
    box = lab.page.locator(".coach").bounding_box()
    net = lab.page.locator(".network").bounding_box()
    assert box is not None and net is not None
    assert box["y"] >= net["y"] + net["height"] and box["y"] + box["height"] <= 720 + 1
    shot(lab, "coach-projector-en", whole=False)

    mark = lab.mark()
    lab.page.click(f"{NOTE.format('growing-gap')} .coach-mark")
    lab.wait_for_message("state", after=mark, iteration=best)
    # rewound before the note: it is hidden until the run gets there again
    lab.page.wait_for_selector(NOTE.format("growing-gap"), state="detached")
    assert lab.errors == []


def test_on_a_phone_one_line_opens_and_off_is_remembered(make_lab: Any) -> None:
    lab = make_lab(**PHONE, locale="ja-JP").open(DIVERGING)
    msg = diverge(lab)
    title = msg["words"]["divergence"]["ja"]["title"]
    line = lab.page.locator(".coach-summary")
    assert title in str(line.text_content())
    # dated, as each note in the list is (a run that recovered since reads it as past)
    (note,) = [n for n in msg["notes"] if n["rule"] == "divergence"]
    assert f"反復 {note['iteration']}" in str(line.text_content())
    assert line.get_attribute("aria-expanded") == "false"
    assert not lab.page.locator(".coach-notes").is_visible()
    # right under the network, on the first screen
    box, net = line.bounding_box(), lab.page.locator(".network").bounding_box()
    assert box is not None and net is not None
    assert net["y"] + net["height"] <= box["y"] < net["y"] + net["height"] + 40
    assert box["y"] + box["height"] <= 844 - 64  # above the run buttons' bar
    shot(lab, "coach-phone-ja", whole=False)
    line.tap()
    assert line.get_attribute("aria-expanded") == "true"
    assert lab.page.locator(NOTE.format("divergence")).is_visible()

    lab.page.locator("label[for='coach-on']").tap()  # off
    lab.page.wait_for_selector(".coach-off:not([hidden])")
    assert not lab.page.locator(".coach-notes").is_visible()
    lab.page.reload()
    lab.wait_ready()
    lab.page.wait_for_selector(".coach-off:not([hidden])")  # the notes come back, folded
    assert "1" in str(lab.page.locator(".coach-off").text_content())
    assert not lab.page.locator("#coach-on").is_checked()
    assert lab.errors == []
