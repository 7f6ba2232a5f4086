"""A learner's own CSV in Chromium: picked with the file picker or dropped on the settings
panel it becomes the run's data; a bad file is refused with the row and column in the
page's language and the run goes on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Lab

GOOD = "height,weight,kind\n" + "".join(
    f"{i % 7},{(i * 3) % 11},{'big' if (i % 7) + ((i * 3) % 11) > 8 else 'small'}\n"
    for i in range(40))
BAD = "size,weight,kind\n1,2,big\n3,four,small\n"

DROP = """([text, name]) => {
  const dt = new DataTransfer();
  dt.items.add(new File([text], name, { type: 'text/csv' }));
  const panel = document.querySelector('[data-slot="controls"]');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    panel.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  }
}"""


INPUT_NAMES = """() => {
  const svg = document.querySelector('.net-svg').getBoundingClientRect();
  return [...document.querySelectorAll('.net-svg .io-label')].map(e => {
    const r = e.getBoundingClientRect();
    return [e.textContent, r.left - svg.left, svg.right - r.right];
  });
}"""


def assert_names_inside(lab: Lab, names: list[str]) -> None:
    """The network drawing's input names read ``names``, each wholly inside the drawing."""
    lab.settled()
    seen = lab.page.evaluate(INPUT_NAMES)
    assert [name for name, _, _ in seen] == names
    assert all(left >= 0 and right >= 0 for _, left, right in seen), seen


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_own_csv_by_picker_and_by_drop_and_a_bad_one_refused(make_lab: Any, lang: str) -> None:
    lab: Lab = make_lab(locale="ja-JP" if lang == "ja" else "en-US").open("/?dataset=circle")
    page = lab.page
    page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
    before = lab.wait_for_run(dataset="circle")
    # a bad file: the notice names row 3, column 2; the run is the one there was
    mark = lab.mark()
    page.set_input_files(".csv-input", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                               "buffer": BAD.encode()}])
    err = lab.wait_for_message("error", after=mark)
    assert (err["code"], err["reason"], err["row"], err["column"]) == ("csv", "not_a_number", 3, 2)
    page.wait_for_selector(".notice:not([hidden])")
    text = lab.text(".notice-text")
    assert "four" in text and "3" in text and "2" in text
    assert ("row 3, column 2" in text) if lang == "en" else ("3 行目・2 列目" in text)
    # ...and so does the picker, beside its button (on a phone the notice is out of sight)
    status = lab.text(".csv-status")
    assert status.startswith("bad.csv") and "four" in status, status
    assert ("row 3, column 2" in status) if lang == "en" else ("3 行目・2 列目" in status)
    # a file too large to send: said beside the button; the last file's notice goes
    page.set_input_files(".csv-input", files=[{"name": "big.csv", "mimeType": "text/csv",
                                               "buffer": b"1,2\n" * 20_000}])
    page.wait_for_selector(".notice", state="hidden")
    assert lab.text(".csv-status").startswith("big.csv")
    assert lab.last("run")["session"] == before["session"]
    assert page.eval_on_selector("#ctl-dataset", "s => s.value") == "circle"
    # a good file, dropped on the settings panel: a run on it
    mark = lab.mark()
    page.evaluate(DROP, [GOOD, "plants.csv"])
    run = lab.wait_for_message("run", after=mark)
    assert run["config"]["dataset"] == "own" and run["net"]["features"] == ["height", "weight"]
    page.wait_for_function("() => document.querySelector('#ctl-dataset').value === 'own'")
    page.wait_for_selector(".notice", state="hidden")
    # two columns are the whole map, yet the split, the scaling and the confusion matrix
    # the list of mistakes points to are shown, with the run's own numbers
    lab.wait_for_message("maps", after=mark)
    lab.settled()
    split = lab.text(".map-split")
    n_train, n_test = len(run["data"]["p_train"]), len(run["data"]["p_test"])
    assert page.is_visible(".map-split") and str(n_train) in split and str(n_test) in split
    assert ("standardised" in split) if lang == "en" else ("標準化" in split)
    page.wait_for_selector("[data-view='confusion'] td")
    counts = lab.last("maps")["confusion"]["counts"]
    assert sum(map(sum, counts)) == n_test
    assert not page.is_visible(".map-held")  # no input is held: the map is the data's plane
    plane = {"en": "Horizontal: height · vertical: weight", "ja": "横軸：height・縦軸：weight"}
    assert lab.text(".map-plane") == plane[lang]  # ...whose axes are named
    # the file's classes are named as the file names them, not 'class 0 / class 1': in the
    # map's legend, the matrix's heads and the list of mistakes
    assert run["config"]["table"]["labels"] == ["big", "small"]
    assert page.eval_on_selector_all(".pts-legend-item", "els => els.map(e => e.textContent)") == [
        "big", "small"]
    heads = page.eval_on_selector_all("[data-view='confusion'] th:not(.conf-corner)",
                                      "els => els.map(e => e.textContent)")
    assert heads == ["big", "small", "big", "small"]
    shown = page.eval_on_selector_all(".wrong-item .wrong-pair",
                                      "els => els.map(e => e.textContent)")
    assert len(shown) == len(lab.last("maps")["misclassified"]["examples"])
    assert all(s in ("big → small", "small → big") for s in shown), shown
    # the inputs' names are whole in the drawing ("height", not "eight"), at a desk and on
    # a projector's larger type
    assert_names_inside(lab, ["height", "weight"])
    page.set_viewport_size({"width": 1280, "height": 720})
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.classList.contains('present')")
    assert_names_inside(lab, ["height", "weight"])
    page.keyboard.press("p")
    # a setting changed: the same table, another network
    mark = lab.mark()
    page.fill("#ctl-neurons", "6")
    page.press("#ctl-neurons", "Enter")
    again = lab.wait_for_message("run", after=mark)
    assert again["config"]["table"] == run["config"]["table"] and again["net"]["sizes"][1] == 6
    assert lab.errors == []


def test_a_csv_saved_by_japanese_excel_is_read_with_its_japanese_names(make_lab: Any) -> None:
    """Japanese Excel saves "CSV" in Shift_JIS: the page reads it as such (its names
    were replacement characters); a UTF-8 file with a BOM as UTF-8, a European one in
    Windows-1252 as that, Excel's "Unicode text" (UTF-16) as UTF-16."""
    lab: Lab = make_lab(locale="ja-JP").open("/?dataset=circle")
    sjis = GOOD.replace("height,weight,kind", "身長,体重,種類").encode("cp932")
    # a European spreadsheet's Windows-1252 mostly reads as Shift_JIS too ("Temp駻ature"):
    # the page takes the reading that makes words
    latin = GOOD.replace("height,weight,kind", "Température,Größe,Catégorie").encode("cp1252")
    utf16 = GOOD.replace("height,weight,kind", "Höhe,Gewicht,Art").encode("utf-16")  # (a BOM)
    for name, data, want in (("excel.csv", sjis, ["身長", "体重"]),
                             ("bom.csv", b"\xef\xbb\xbf" + GOOD.encode(), ["height", "weight"]),
                             ("excel-fr.csv", latin, ["Température", "Größe"]),
                             ("unicode.txt", utf16, ["Höhe", "Gewicht"])):
        shown = [w if len(w) <= 10 else w[:9] + "…" for w in want]  # (cut beside a node)
        mark = lab.mark()
        lab.page.set_input_files(".csv-input", files=[{"name": name, "mimeType": "text/csv",
                                                       "buffer": data}])
        run = lab.wait_for_message("run", after=mark)
        assert run["net"]["features"] == want
        assert_names_inside(lab, shown)
    assert lab.errors == []
