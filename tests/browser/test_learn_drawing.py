"""'Learn this as 3' on the digit pad: a digit drawn with the mouse gets the network's
guess; choosing 3 and learning plays forward, loss, backward and update one by one on
the drawing alone, pauses after the update, and the drawing's probability of 3 rises."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Lab
from tests.helpers.net import poll

DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: a "3" as a pen would draw it on the pad (fractions of its side): two bows
THREE = [(0.25, 0.2), (0.45, 0.12), (0.7, 0.18), (0.72, 0.35), (0.48, 0.47), (0.72, 0.6),
         (0.74, 0.8), (0.5, 0.88), (0.25, 0.8)]


#: records each phase the banner shows, with what the unit images showed meanwhile, and
#: each phase the pad shows beside the drawing, with whether it was in the window
WATCH = """() => {
  window.__seen = [];
  window.__pad = [];
  const banner = document.querySelector('.banner');
  const units = document.querySelector("[data-view='unit-images']");
  const pad = document.querySelector("[data-testid='pad-phase']");
  new MutationObserver(() => {
    const p = banner.dataset.phase;
    if (!window.__seen.length || window.__seen.at(-1)[0] !== p) window.__seen.push([p, []]);
    window.__seen.at(-1)[1].push(units.dataset.showing);
    const q = pad.dataset.phase;
    if (q && (!window.__pad.length || window.__pad.at(-1)[0] !== q)) {
      const r = pad.getBoundingClientRect();
      window.__pad.push([q, !pad.hidden && r.top >= 0 && r.bottom <= window.innerHeight]);
    }
  }).observe(document.body, {attributes: true, subtree: true,
                             attributeFilter: ['data-phase', 'data-showing']});
}"""


def probability(lab: Lab, k: int) -> float:
    return float(lab.page.get_attribute(f".pad-bar[data-k='{k}']", "data-p") or "nan")


def shown_prediction(lab: Lab, k: int) -> float:
    """The pad's probability of ``k`` once the page shows the last drawing's: the
    prediction updates as you draw, and a reply to an earlier stroke can be the one
    shown for a moment (CI read 4 % of a stroke, then the page said 3 %)."""
    def settled() -> tuple[float] | None:
        drawn = [m for m in lab.received if m.get("type") == "drawn"]
        lab.page.wait_for_timeout(300)  # (no newer reply on its way; events pumped)
        if len([m for m in lab.received if m.get("type") == "drawn"]) != len(drawn):
            return None
        p = probability(lab, k)
        return (p,) if p == drawn[-1]["outputs"][k] else None
    return poll(settled, 10, "the pad to show the last drawing's prediction", every=0)[0]


def test_learn_this_as_3_plays_the_four_phases_and_raises_its_probability(
        make_lab: Any) -> None:
    lab: Lab = make_lab(viewport=DESK).open("/?dataset=digits&hidden=16&lr=0.1&batch=32")
    lab.wait_for_run(timeout=30, dataset="digits", hidden=[16])
    page = lab.page
    pad = page.locator(".pad-canvas")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    mark = lab.mark()
    page.mouse.move(box["x"] + box["width"] * THREE[0][0], box["y"] + box["height"] * THREE[0][1])
    page.mouse.down()
    for fx, fy in THREE[1:]:
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=3)
    page.mouse.up()
    lab.wait_for_message("drawn", after=mark, timeout=10)
    lab.settled()
    page.wait_for_selector(".pad-bar[data-k='3']")
    before = shown_prediction(lab, 3)
    page.click("[data-testid='pad-label-3']")
    learn = page.locator("[data-testid='pad-learn']")
    assert learn.text_content() == "Learn this as 3" and learn.get_attribute("id") == "pad-learn"
    page.evaluate(WATCH)
    mark = lab.mark()
    learn.click()
    # a press on the timeline's scrubber meanwhile leaves it be (held and let go, the
    # run trained on at half an iteration a second, past the drawing's step)
    lab.wait_for_message("frame", after=mark, timeout=15, phase="forward")
    page.dispatch_event(".tl-scrub", "pointerdown")
    page.dispatch_event(".tl-scrub", "pointerup")
    # the four phases play one by one on the drawing alone, then the run pauses
    paused = lab.wait_for_message("state", after=mark, timeout=15, playing=False)
    assert paused["iteration"] == 1
    frames = [m for m in lab.received[mark:] if m.get("type") == "frame"]
    assert [f["phase"] for f in frames] == ["forward", "loss", "backward", "update"]
    assert "batch" not in frames[0]["values"] and len(frames[0]["values"]["x"]) == 1
    drawn = lab.wait_for_message("drawn", after=mark, timeout=10, iteration=1)
    lab.settled()
    # the banner named each phase in turn (half a second apart), and in the backward
    # phase the first-layer units' images showed this iteration's gradient
    seen = page.evaluate("() => window.__seen")
    assert [p for p, _ in seen if p != "ready"] == ["forward", "loss", "backward", "update"]
    assert "dW" in next(u for p, u in seen if p == "backward")
    assert page.get_attribute(".banner", "data-phase") == "update"
    # the banner is far above the pad on a desk: the pad shows the phases too, where the
    # learner is (scrolled into the window once the first one plays)
    pad_seen = page.evaluate("() => window.__pad")
    assert [p for p, _ in pad_seen] == ["forward", "loss", "backward", "update"]
    assert all(shown for p, shown in pad_seen if p in ("backward", "update")), pad_seen
    assert page.get_attribute(".pad-phase li[aria-current='step']", "data-phase") == "update"
    assert "weights take one step" in lab.text(".pad-phase-say")
    after = probability(lab, 3)
    assert after == drawn["outputs"][3] and after > before
    assert f"{round(100 * before)}% before learning → {round(100 * after)}% now" in lab.text(
        ".pad-learned")
    assert lab.errors == []
    # the pad after learning, on a desk and a phone, in English and Japanese
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    for size, device in ((DESK, "desk"), (PHONE, "phone")):
        page.set_viewport_size(size)
        for lang in ("en", "ja"):
            page.click(f".lang-btn[data-lang='{lang}']")
            page.evaluate("""() => {
              document.querySelector('.digit-pad').scrollIntoView({block: 'start'});
              window.scrollBy(0, -12);
            }""")
            lab.settled()
            # a desk: the whole page (the network and the banner at the update beside the
            # pad); a phone: the pad as it shows it
            page.screenshot(path=str(lab.shot_dir / f"pad-learned-{device}-{lang}.png"),
                            full_page=device == "desk")
    assert "学習前" in lab.text(".pad-learned")
    # a drawing the run cannot take (a class it does not have) is refused in the reader's
    # words, and the run is kept
    page.evaluate("""() => window.__sockets.at(-1).send(JSON.stringify(
      {type: 'learn', pixels: new Array(64).fill(0), label: 12}))""")
    page.wait_for_selector(".notice:not([hidden])")
    assert lab.text(".notice-text") == (
        "この絵では学習できません（実行はそのままです）: "
        "クラス 12 はありません。クラスは 0〜9 です")
    lab.sync()
    assert lab.messages("state")[-1]["iteration"] == 1 and lab.errors == []
