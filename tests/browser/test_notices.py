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


def test_a_servers_limit_is_said_in_words_with_what_to_do(make_lab: Any) -> None:
    """A network or a batch beyond the server's limits is refused in the reader's words:
    what is too large and what to do. The Japanese page said only "サーバーの上限
    max_batch を超えています", a setting's id; its numbers stay in the English details."""
    lab = make_lab(locale="ja-JP").open("/?dataset=digits&batch=0")
    lab.wait_until(lambda: any(m.get("type") == "error" and m.get("limit") == "max_batch"
                               for m in lab.received), what="the batch refused")
    lab.page.wait_for_function(
        "() => document.querySelector('.notice-text').textContent.includes('バッチ')")
    text = lab.text(".notice-text")
    assert text == ("上限を超えています: バッチがサーバーの上限より大きいです。"
                    "小さいバッチを選んでください")
    assert "max_batch=512" in lab.page.text_content(".notice-server")  # (behind "details")
    lab = make_lab().open("/?dataset=digits&hidden=128,128,128,128,128&batch=512")
    lab.wait_until(lambda: any(m.get("type") == "error" and m.get("limit") == "max_piece_ms"
                               for m in lab.received), what="the network refused")
    lab.page.wait_for_function(
        "() => document.querySelector('.notice-text').textContent.includes('narrower')")
    assert lab.text(".notice-text") == (
        "Limit exceeded: one step of this network on its data would take longer than the "
        "server allows: use fewer or narrower layers, a smaller batch or fewer samples")
    assert lab.errors == []


def test_a_links_setting_out_of_range_is_named_by_its_control_with_its_range(
        make_lab: Any) -> None:
    """A link with lr=1000 is refused: the notice said 「項目 config.lr を確認してください」,
    a field's id. It names the setting as its control does, with the range it takes; the
    server's sentence stays behind "details", and the page's run is its own."""
    lab = make_lab(locale="ja-JP").open("/?lr=1000")
    lab.wait_until(lambda: any(m.get("type") == "error" and m.get("field") == "config.lr"
                               for m in lab.received), what="the link's lr refused")
    expect(lab.page.locator(".notice-text")).to_have_text(
        "入力が正しくありません: 学習率 η は 0 から 100 の範囲にしてください")
    # and what became of the link: not opened, the page's run goes on
    expect(lab.page.locator(".notice-kept")).to_have_text(
        "リンクの実行は開きませんでした。このページは、それまでの実行を続けています。")
    assert "1000" in (lab.page.text_content(".notice-server") or "")
    assert lab.page.input_value("#ctl-lr") != "1000"
    en = make_lab().open("/?lr=1000")
    en.wait_until(lambda: any(m.get("type") == "error" for m in en.received),
                  what="the link's lr refused")
    expect(en.page.locator(".notice-text")).to_have_text(
        "Invalid input: Learning rate η must be from 0 to 100")
    expect(en.page.locator(".notice-kept")).to_have_text(
        "The link’s run was not opened: this page goes on with the run it had.")
    assert lab.errors == [] and en.errors == []
