"""Server errors read in the learner's language, from the structured fields."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def test_a_diverging_run_is_explained_in_japanese(make_lab: Any) -> None:
    lab = make_lab(locale="ja-JP").open("/?dataset=xor&hidden=8,8&act=relu&loss=mse&lr=100&seed=3")
    mark = lab.mark()
    for _ in range(40):
        step = lab.mark()
        lab.page.click(".btn-step-iteration")
        lab.wait_for_message("state", after=step)  # (after the step's frames or error)
        if any(m.get("type") == "error" for m in lab.received[mark:]):
            break
    err = lab.wait_for_message("error", after=mark, code="nonfinite")
    lab.page.wait_for_selector(".notice:not([hidden])")
    text = lab.text(".notice-text")
    # headline and detail in Japanese: the first quantity that went NaN/∞ in words
    # (never the engine's internal id) and the iteration
    assert "発散" in text and "最初に NaN/∞ になったのは" in text
    assert err["where"] not in text and str(err["iteration"]) in text
    assert "was the first value" not in text and "non-finite" not in text
    lab.page.click(".lang-switch [data-lang='en'], button:has-text('English')")
    expect(lab.page.locator(".notice-text")).to_contain_text("was the first value to become")
    assert err["where"] not in lab.text(".notice-text")


#: what is on top at the centre of the open notice's ×: the × itself, or what covers it
ON_TOP_OF_CLOSE = """() => {
  const b = document.querySelector('.notice:not([hidden]) .icon-btn').getBoundingClientRect();
  const e = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
  return e ? e.closest('.notice') !== null : false;
}"""


def test_on_a_desk_a_notice_can_be_closed_beside_the_open_inspector(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open("/")
    mark = lab.mark()
    lab.page.click(".net-svg [data-id='L2.W.1.0']", force=True)
    lab.wait_for_message("inspect", after=mark, id="L2.W")
    lab.page.wait_for_selector(".bpl-inspector:not([hidden]) .bpl-insp-head")
    lab.sync()  # an error the page shows as a notice, its × on the right where the sheet is
    lab.page.wait_for_selector(".notice:not([hidden])")
    lab.settled()
    assert lab.page.evaluate(ON_TOP_OF_CLOSE), "the inspector covers the notice's ×"
    lab.page.click(".notice:not([hidden]) .icon-btn")
    lab.page.wait_for_selector(".notice", state="hidden")
    assert lab.page.is_visible(".bpl-inspector .bpl-insp-head") and lab.errors == []
