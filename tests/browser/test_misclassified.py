"""The examples the network gets wrong, beside the confusion matrix, in Chromium: digits
drawn as their 8×8 pictures with true → predicted and the probability the last maps
message carries, a click on a wrong cell showing that pair alone, right again after a
rewind; iris in Japanese on a phone, its inputs written out."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Lab, parse_number

WRONG = "[data-view='misclassified']"
DESK = {"width": 1280, "height": 800}

SHOWN = f"""() => [...document.querySelectorAll("{WRONG} .wrong-item")].map((li) => [
  Number(li.dataset.index), Number(li.dataset.true), Number(li.dataset.pred),
  li.querySelector('.wrong-p').textContent])"""

# the darkest and the lightest pixel of the first picture, as [r, g, b]
PIXELS = f"""(ks) => {{
  const c = document.querySelector("{WRONG} .wrong-image");
  const d = c.getContext('2d').getImageData(0, 0, 8, 8).data;
  return ks.map((k) => [d[4 * k], d[4 * k + 1], d[4 * k + 2]]);
}}"""


def shown_is(lab: Lab, maps: dict[str, Any], pair: tuple[int, int] | None = None) -> bool:
    """Whether the page lists ``maps``'s mistakes (of ``pair`` only), each with its
    probability as the message has it."""
    want = [(e["index"], e["true"], e["pred"], e["p"]) for e in maps["misclassified"]["examples"]
            if pair is None or (e["true"], e["pred"]) == pair]
    got = lab.page.evaluate(SHOWN)
    return len(got) == len(want) and all(
        (g[0], g[1], g[2]) == w[:3] and abs(parse_number(g[3]) - 100 * w[3]) <= 0.05
        for g, w in zip(got, want, strict=True))


def test_digits_shows_the_test_digits_it_gets_wrong_and_a_cell_filters_them(make_lab: Any) -> None:
    lab: Lab = make_lab(viewport=DESK).open("/?dataset=digits&hidden=16&opt=adam&lr=0.01&batch=32")
    lab.wait_for_run(timeout=30, dataset="digits")
    page = lab.page
    lab.play_until("100", 20)
    lab.settled()
    page.wait_for_selector(f"{WRONG}:not([hidden]) .wrong-item canvas")
    # the paused iteration's maps come after the pause (an earlier one may be shown first)
    paused = lab.last("state")["iteration"]
    lab.wait_until(lambda: lab.last("maps")["iteration"] == paused
                   and shown_is(lab, lab.last("maps")), what="the paused iteration's mistakes")
    maps = lab.last("maps")
    mis = maps["misclassified"]
    assert mis["image"] and 0 < len(mis["examples"]) <= 24
    assert str(mis["wrong"]) in lab.text(f"{WRONG} .wrong-summary")
    assert "test set" in lab.text(f"{WRONG} h3")
    # the first picture is its 64 pixels: ink (dark) where the digit is 16, white where 0
    v = mis["examples"][0]["values"]
    dark, light = v.index(max(v)), v.index(min(v))
    (r1, g1, b1), (r0, g0, b0) = page.evaluate(PIXELS, [dark, light])
    assert r1 < 60 and (r0, g0, b0) == (255, 255, 255) and r1 == g1 == b1
    lab.screenshot("misclassified-digits-desk")
    # the ten-by-ten matrix fits its column, its last column (9) in sight (it ran 7 px over)
    fit = page.eval_on_selector("[data-view='confusion'] .conf-scroll", "e => [e.scrollWidth, "
                                "e.clientWidth, e.getBoundingClientRect().right, "
                                "e.closest('.panel').getBoundingClientRect().right]")
    assert fit[0] <= fit[1] and fit[2] <= fit[3], fit
    # a wrong cell of the matrix: only that pair's mistakes, then all again
    e = mis["examples"][-1]
    cell = page.locator(f"[data-view='confusion'] td[data-pair='{e['true']}-{e['pred']}']")
    count = int(cell.inner_text())
    cell.click()
    assert page.get_attribute(WRONG, "data-filter") == f"{e['true']}-{e['pred']}"
    assert shown_is(lab, maps, (e["true"], e["pred"]))
    line = lab.text(f"{WRONG} .wrong-filter")
    assert f"class {e['true']} predicted as {e['pred']}" in line and f"of {count}" in line
    assert cell.get_attribute("aria-pressed") == "true"
    page.click(f"{WRONG} .wrong-all")
    assert page.get_attribute(WRONG, "data-filter") == ""
    assert shown_is(lab, maps)
    # a rewind: the list is iteration 5's (the maps the server sends for it)
    mark = lab.mark()
    page.evaluate("() => window.__sockets.at(-1).send("
                  "JSON.stringify({type: 'seek', iteration: 5}))")
    back = lab.wait_for_message("maps", after=mark, iteration=5)
    lab.settled()
    lab.wait_until(lambda: shown_is(lab, lab.last("maps")), what="iteration 5's mistakes")
    assert lab.last("maps")["iteration"] == 5
    assert back["misclassified"]["wrong"] != mis["wrong"]
    assert lab.errors == []


def test_iris_on_a_phone_in_japanese_writes_out_its_inputs(make_lab: Any) -> None:
    lab: Lab = make_lab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                        locale="ja-JP").open("/?dataset=iris&hidden=3&lr=0.03&batch=16")
    run = lab.wait_for_run(dataset="iris")
    page = lab.page
    page.wait_for_selector(f"{WRONG}:not([hidden]) .wrong-item")  # untrained: it errs
    lab.settled()
    maps = lab.last("maps")
    # the paused iteration's maps come after the pause (an earlier one may be shown first)
    paused = lab.last("state")["iteration"]
    lab.wait_until(lambda: lab.last("maps")["iteration"] == paused
                   and shown_is(lab, lab.last("maps")), what="the paused iteration's mistakes")
    maps = lab.last("maps")
    first = maps["misclassified"]["examples"][0]
    values = lab.text(f"{WRONG} .wrong-item .wrong-values")
    assert run["net"]["features"][0] == "sepal length (cm)"  # (the dataset's, in English)
    assert "がく片の長さ (cm)" in values and str(first["values"][0]) in values  # (the page's)
    assert "間違えた例（テストデータ）" in lab.text(f"{WRONG} h3")
    assert "件" in lab.text(f"{WRONG} .wrong-summary")
    box = page.locator(WRONG).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.locator(WRONG).screenshot(path=str(lab.shot_dir / "misclassified-iris-phone-ja.png"))
    assert lab.errors == []
