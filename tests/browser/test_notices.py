"""Server errors read in the learner's language, from the structured fields."""

from __future__ import annotations

from typing import Any


def test_a_diverging_run_is_explained_in_japanese(make_lab: Any) -> None:
    lab = make_lab(locale="ja-JP").open("/?dataset=xor&hidden=8,8&act=relu&loss=mse&lr=100&seed=3")
    mark = lab.mark()
    for _ in range(40):
        lab.page.click(".btn-step-iteration")
        lab.page.wait_for_timeout(30)
        if any(m.get("type") == "error" for m in lab.received[mark:]):
            break
    err = lab.wait_for_message("error", after=mark, code="nonfinite")
    lab.page.wait_for_selector(".notice:not([hidden])")
    text = lab.text(".notice-text")
    # headline and detail in Japanese, with the engine's own id and iteration
    assert "発散" in text
    assert err["where"] in text and str(err["iteration"]) in text
    assert "during the" not in text and "non-finite" not in text
    lab.page.click(".lang-switch [data-lang='en'], button:has-text('English')")
    lab.page.wait_for_timeout(100)
    assert "during the" in lab.text(".notice-text")
