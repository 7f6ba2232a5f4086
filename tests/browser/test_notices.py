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
