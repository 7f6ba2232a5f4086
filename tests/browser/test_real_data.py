"""Real data in Chromium: iris picked from the dataset menu learns, the map says which two
of its four inputs it shows, and the confusion matrix counts the test set, in both
languages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Lab

CONF = "[data-view='confusion']"
DESK = {"width": 1280, "height": 800}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_iris_from_the_menu_plays_and_shows_its_confusion_matrix(make_lab: Any,
                                                                 lang: str) -> None:
    lab: Lab = make_lab(viewport=DESK, locale="ja-JP" if lang == "ja" else "en-US").open(
        "/?hidden=8&opt=adam&lr=0.03&batch=16")
    page = lab.page
    page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
    page.select_option("#ctl-dataset", "iris")
    run = lab.wait_for_run(dataset="iris")
    assert run["net"]["sizes"][0] == 4 and run["net"]["task"] == "multiclass"
    mark = lab.mark()
    lab.play_until("300", 150)
    # the maps of where it paused (on a busy machine the last one sent while playing
    # may be of an early iteration: maps are spaced out, and the paused one follows)
    paused = lab.last("state", playing=False)["iteration"]
    lab.wait_for_message("maps", after=mark, timeout=30, iteration=paused)
    page.wait_for_selector(f"{CONF}:not([hidden]) td")
    lab.settled()

    def cells() -> list[list[float]]:
        return page.eval_on_selector_all(  # type: ignore[no-any-return]
            f"{CONF} tbody tr",
            "rows => rows.map((r) => [...r.querySelectorAll('td')]"
            ".map((c) => Number(c.textContent)))")

    # the table shows the last maps message's matrix (one may still be on its way)
    lab.wait_until(lambda: cells() == lab.last("maps")["confusion"]["counts"],
                   what="the page's matrix to be the last maps message's")
    maps = lab.last("maps")
    counts = maps["confusion"]["counts"]
    assert sum(map(sum, counts)) == len(run["data"]["p_test"])
    right = sum(counts[i][i] for i in range(3))
    assert right / sum(map(sum, counts)) >= 0.8  # it learned
    # the map says which two inputs it moves and that the other two stay at their mean
    held = lab.text(".map-held")
    # the inputs by name in the page's language (the dataset names them in English)
    names = run["net"]["features"] if lang == "en" else [
        "がく片の長さ (cm)", "がく片の幅 (cm)", "花弁の長さ (cm)", "花弁の幅 (cm)"]
    assert page.eval_on_selector_all("#map-axis-0 option", "os => os.map(o => o.textContent)") \
        == names
    # ...and beside the network's input nodes (cut to fit: "がく片の…")
    beside = page.eval_on_selector_all(".net-svg .io-label", "els => els.map(e => e.textContent)")
    assert all(len(b.rstrip("…")) >= 4 and n.startswith(b.rstrip("…"))
               for b, n in zip(beside, names, strict=True)), beside
    x, y = maps["axes"]
    assert names[x] in held and names[y] in held
    assert ("2" in held) and (("mean" in held) if lang == "en" else ("平均" in held))
    title = lab.text(f"{CONF} h3")
    assert ("Confusion matrix" in title) if lang == "en" else ("混同行列" in title)
    # iris's classes are its species (scikit-learn's names, in its order), not 0, 1, 2
    from sklearn.datasets import load_iris
    species = [str(n) for n in load_iris().target_names]
    heads = page.eval_on_selector_all(f"{CONF} th[scope='col']:not(.conf-corner)",
                                      "ths => ths.map(t => t.textContent)")
    assert heads == species
    legend = lab.text(".pts-legend")
    assert all(n in legend for n in species), legend
    # on a projector the menus and that line are folded away: a short line under the map
    # still names the two inputs it moves
    assert not page.is_visible("[data-testid='map-brief']")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.keyboard.press("p")
    page.wait_for_function("() => document.documentElement.classList.contains('present')")
    assert not page.is_visible(".map-held") and page.is_visible("[data-testid='map-brief']")
    brief = lab.text("[data-testid='map-brief']")
    assert names[x] in brief and names[y] in brief and ("mean" if lang == "en" else "平均") in brief
    page.keyboard.press("p")
    page.set_viewport_size(DESK)
    # another pair of inputs: the next maps show it
    mark = lab.mark()
    page.select_option("#map-axis-0", "0")
    lab.wait_for_message("maps", after=mark, timeout=10)
    assert lab.last("maps")["axes"][0] == 0
    assert lab.errors == []
    lab.screenshot(f"real-data-iris-desk-{lang}")


#: how many lines the confusion matrix's corner takes (its text's line boxes)
CORNER_LINES = """th => {
  const tops = new Set();
  const walk = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top / 4));
  }
  return tops.size;
}"""

UNIT_PIXEL = """([j, i]) => {
  const c = document.querySelector(`.unit-image[data-unit="${j}"]`);
  const d = c.getContext('2d').getImageData(i % 8, Math.floor(i / 8), 1, 1).data;
  return [d[0], d[1], d[2]];
}"""


def test_digits_draws_its_input_as_a_picture_and_each_unit_as_an_image(make_lab: Any) -> None:
    lab: Lab = make_lab(viewport=DESK).open("/?dataset=digits&hidden=32&opt=adam&lr=0.01&batch=32")
    run = lab.wait_for_run(timeout=30, dataset="digits", hidden=[32])  # 1797 rows to draw
    assert run["net"]["sizes"] == [64, 32, 10]
    page = lab.page
    # the 64 input nodes are an 8×8 picture: 8 columns and 8 rows of pixels, no 64 labels
    xs, ys = page.eval_on_selector_all(
        ".net-svg circle.node.pixel",
        "cs => [new Set(cs.map((c) => c.getAttribute('cx'))).size, "
        "new Set(cs.map((c) => c.getAttribute('cy'))).size]")
    assert (xs, ys) == (8, 8)
    assert page.locator(".net-svg circle.node.pixel").count() == 64
    # one 8×8 image per first-layer unit: its weights, then in the backward pass its gradient
    # (drawn on the page's next frames after the run: under load, after the check above)
    lab.settled()
    page.wait_for_function("() => document.querySelectorAll('.unit-image').length === 32")
    assert page.locator(".unit-image").count() == 32
    assert page.eval_on_selector(".unit-image", "c => [c.width, c.height]") == [8, 8]
    lab.play_until("300", 60)  # units that have learned something, for the picture
    for _ in range(3):
        lab.step("phase")
    lab.settled()
    assert page.get_attribute("[data-view='unit-images']", "data-showing") == "dW"
    dW = lab.last("frame", phase="backward")["values"]["L1.dW"]
    i = max(range(64), key=lambda k: abs(dW[k][0]))
    r, _, b = page.evaluate(UNIT_PIXEL, [0, i])
    assert (b > r) == (dW[i][0] > 0)  # blue for a positive gradient, vermillion for negative
    lab.screenshot("real-data-digits-desk")
    # ten classes make the matrix narrow: its corner ('true class ↓', 'predicted class →')
    # takes two lines, not three
    page.wait_for_selector(f"{CONF}:not([hidden]) td")
    assert page.eval_on_selector(f"{CONF} .conf-corner", CORNER_LINES) == 2
    lab.step("phase")
    lab.settled()
    assert page.get_attribute("[data-view='unit-images']", "data-showing") == "W"
    assert lab.errors == []


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


@pytest.mark.parametrize("dataset", ["iris", "digits"])
def test_real_data_fits_a_phone(make_lab: Any, dataset: str) -> None:
    lab: Lab = make_lab(**PHONE, locale="ja-JP").open(
        f"/?dataset={dataset}&hidden={8 if dataset == 'iris' else 32}&opt=adam&lr=0.01&batch=32")
    lab.wait_for_run(timeout=30, dataset=dataset)
    lab.play_until("300", 60, timeout_ms=60_000)
    lab.settled()
    page = lab.page
    page.wait_for_selector(f"{CONF}:not([hidden]) td")
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= 390, f"the page scrolls sideways: {wide} px"
    for sel in (CONF, "[data-view='map-axes']") + (
            ("[data-view='unit-images']",) if dataset == "digits" else ()):
        box = page.locator(sel).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, sel
    assert lab.errors == []
    # the screenshot: the map and what goes with it, as the phone shows them
    page.locator(".bpl-maps").scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('.bpl-maps').scrollIntoView({block: 'start'})")
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(lab.shot_dir / f"real-data-{dataset}-phone-ja.png"))


def test_a_digit_drawn_with_the_mouse_gets_the_networks_guess(make_lab: Any) -> None:
    lab: Lab = make_lab(viewport=DESK).open("/?dataset=digits&hidden=16&opt=adam&lr=0.01&batch=32")
    lab.wait_for_run(timeout=30, dataset="digits", hidden=[16])
    page = lab.page
    pad = page.locator(".pad-canvas")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    mark = lab.mark()
    # a "1": one stroke down the middle
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x, box["y"] + box["height"] * (0.15 + 0.07 * k))
    page.mouse.up()
    drawn = lab.wait_for_message("drawn", after=mark, timeout=10)
    assert len(drawn["outputs"]) == 10 and 0 <= drawn["predicted"] <= 9
    page.wait_for_selector(".pad-bar.is-predicted")
    assert page.locator(".pad-bar").count() == 10
    answer = lab.text(".pad-answer")
    assert str(drawn["predicted"]) in answer
    # the downsampling is scikit-learn's: inked pixels of 32×32 counted in 4×4 blocks
    counts = page.evaluate("""async () => {
      const { countBlocks } = await import('/static/js/views/digit-pad.js');
      const px = new Uint8ClampedArray(32 * 32 * 4);
      for (let y = 0; y < 32; y += 1) for (let x = 0; x < 32; x += 1) {
        if (x < 16 && (y < 4 || x % 2 === 0)) px[(y * 32 + x) * 4 + 3] = 255;
      }
      return countBlocks(px);
    }""")
    assert counts[:8] == [16, 16, 16, 16, 0, 0, 0, 0] and counts[8:12] == [8, 8, 8, 8]
    assert lab.errors == []
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    pad_view = page.locator("[data-view='digit-pad']")
    pad_view.screenshot(path=str(lab.shot_dir / "real-data-draw.png"))


def test_digits_from_the_menu_gets_a_network_that_suits_its_64_inputs(make_lab: Any) -> None:
    # the default 4 + 4 network: picking digits sets one hidden layer of 32 and says why
    lab: Lab = make_lab(viewport=DESK).open("/")
    page = lab.page
    assert lab.wait_for_run(dataset="xor")["config"]["hidden"] == [4, 4]
    page.select_option("#ctl-dataset", "digits")
    run = lab.wait_for_run(timeout=30, dataset="digits")
    assert run["config"]["hidden"] == [32] and run["config"]["optimizer"]["name"] == "sgd"
    page.wait_for_selector("[data-testid='net-suggest']:not([hidden])")
    assert lab.text("[data-testid='net-suggest']").startswith(
        "With 64 inputs, 4 + 4 hidden neurons learn poorly: this run has a hidden layer of 32")
    assert page.input_value("#ctl-neurons") == "32" and page.input_value("#ctl-layers") == "1"
    assert page.eval_on_selector("#ctl-neurons", "e => e.validity.valid")  # (32: in range)
    assert not page.is_visible(".ctl-suggest-use")
    # leaving digits for iris, digits' network goes with it: back to 4 + 4, a valid field
    page.select_option("#ctl-dataset", "iris")
    assert lab.wait_for_run(timeout=30, dataset="iris")["config"]["hidden"] == [4, 4]
    lab.settled()
    assert page.input_value("#ctl-neurons") == "4" and page.input_value("#ctl-layers") == "2"
    assert page.eval_on_selector("#ctl-neurons", "e => e.validity.valid && e.max === '16'")
    assert lab.errors == []
    # a link's network is kept (the link chose it), and the page suggests 32 in Japanese
    ja: Lab = make_lab(viewport=DESK, locale="ja-JP").open("/?hidden=8")
    page = ja.page
    # (the page may get the default run first, then the link's: wait for the link's)
    ja.wait_for_run(timeout=30, dataset="xor", hidden=[8])
    page.select_option("#ctl-dataset", "digits")
    assert ja.wait_for_run(timeout=30, dataset="digits")["config"]["hidden"] == [8]
    page.wait_for_selector("[data-testid='net-suggest']:not([hidden])")
    suggest = ja.text("[data-testid='net-suggest']")
    assert "隠れ層を 32 ニューロンにするとよく学習できます" in suggest
    page.click(".ctl-suggest-use")
    ja.wait_for_run(timeout=30, dataset="digits", hidden=[32])
    page.wait_for_selector(".ctl-suggest-use", state="hidden")
    assert ja.errors == []


def test_the_unit_images_wait_for_their_own_runs_weights(make_lab: Any) -> None:
    """The digits' views load with the first digits run; the events that came meanwhile
    are replayed with the page's model as it is by then. Leaving digits for iris at once
    (a busy machine), digits' run was replayed against iris's 4 × 4 weights and the page
    threw ("Cannot read properties of undefined"). A run's unit images draw only their own
    run's weights; the next run's event follows."""
    lab: Lab = make_lab(viewport=DESK).open("/")
    out = lab.page.evaluate("""async () => {
      const { UnitImages } = await import('/static/js/views/unit-images.js');
      const units = new UnitImages(document.createElement('div'), { t: (k) => k });
      units.setRun([8, 8], 32);  // digits: 64 pixels, 32 units
      const other = { params: { 'L1.W': [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]] } };
      units.update(other, null);  // (iris's weights)
      const skipped = units.root.dataset.showing === undefined;
      const own = { params: { 'L1.W': Array.from({ length: 64 }, () => new Array(32).fill(0.5)) } };
      units.update(own, null);
      return [skipped, units.root.dataset.showing];
    }""")
    assert out == [True, "W"]
    assert lab.errors == []


def test_a_regression_run_on_a_batch_of_one_reads_right(make_lab: Any) -> None:
    """Diabetes (a regression) shows no accuracy rows of dashes, and the inspector of a
    batch of one says 'sample', not '1 samples' (in both languages)."""
    lab: Lab = make_lab(viewport=DESK).open("/?dataset=diabetes&hidden=4&batch=1")
    lab.wait_for_run(dataset="diabetes", batch_size=1)
    page = lab.page
    lab.step("iteration")
    lab.settled()
    assert page.is_visible("#stat-test-loss") and lab.text("#stat-test-loss") != "—"
    assert not page.is_visible("#stat-train-acc") and not page.is_visible("#stat-test-acc")
    mark = lab.mark()
    page.click(".net-svg [data-id='L2.W.0.0']", force=True)
    lab.wait_for_message("inspect", after=mark, id="L2.W")
    # (the table's name: the note above it, aria-labelledby)
    page.wait_for_selector(".bpl-inspector:not([hidden]) [id^='bpl-insp-rows-']")
    assert "the whole batch (1 sample) ·" in lab.text(".bpl-insp-meta")
    assert lab.text(".bpl-inspector [id^='bpl-insp-rows-']").startswith("The batch’s one sample")
    assert "1 samples" not in lab.text(".bpl-inspector")
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert lab.text(".bpl-inspector [id^='bpl-insp-rows-']").startswith("バッチの 1 サンプル")
    assert "中の先頭" not in lab.text(".bpl-inspector")
    assert lab.errors == []


def test_breast_cancers_classes_are_its_diagnoses_in_the_pages_language(make_lab: Any) -> None:
    """scikit-learn's breast cancer: class 0 is malignant, 1 benign; the matrix and the map's
    legend say so, in English and in Japanese, not "class 0" and "class 1"."""
    from sklearn.datasets import load_breast_cancer
    assert [str(n) for n in load_breast_cancer().target_names] == ["malignant", "benign"]
    lab: Lab = make_lab(viewport=DESK).open("/?dataset=breast_cancer&hidden=4")
    lab.wait_for_run(timeout=30, dataset="breast_cancer")
    page = lab.page
    lab.step("iteration")
    page.wait_for_selector(f"{CONF}:not([hidden]) td")
    heads = "ths => ths.map(t => t.textContent)"
    sel = f"{CONF} th[scope='col']:not(.conf-corner)"
    lab.wait_until(lambda: page.eval_on_selector_all(sel, heads) == ["malignant", "benign"],
                   what="the diagnoses over the matrix's columns")
    assert "malignant" in lab.text(".pts-legend") and "benign" in lab.text(".pts-legend")
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    lab.wait_until(lambda: page.eval_on_selector_all(sel, heads) == ["悪性", "良性"],
                   what="the diagnoses in Japanese")
    assert "悪性" in lab.text(".pts-legend")
    assert lab.errors == []
