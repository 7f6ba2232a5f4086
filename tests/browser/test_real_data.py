"""Real data in Chromium: iris picked from the dataset menu learns, the map says which two
of its four inputs it shows, and the confusion matrix counts the test set, in both
languages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Lab

CONF = "[data-view='confusion']"


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_iris_from_the_menu_plays_and_shows_its_confusion_matrix(make_lab: Any,
                                                                 lang: str) -> None:
    lab: Lab = make_lab(locale="ja-JP" if lang == "ja" else "en-US").open(
        "/?hidden=8&opt=adam&lr=0.03&batch=16")
    page = lab.page
    page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
    page.select_option("#ctl-dataset", "iris")
    run = lab.wait_for_run(dataset="iris")
    assert run["net"]["sizes"][0] == 4 and run["net"]["task"] == "multiclass"
    mark = lab.mark()
    lab.play_until("300", 150)
    lab.wait_for_message("maps", after=mark, timeout=10)
    page.wait_for_selector(f"{CONF}:not([hidden]) td")
    lab.settled()
    maps = lab.last("maps")
    counts = maps["confusion"]["counts"]
    cells = page.eval_on_selector_all(f"{CONF} tbody tr", "rows => rows.map((r) => "
                                      "[...r.querySelectorAll('td')].map((c) => Number(c.textContent)))")
    assert cells == counts and sum(map(sum, counts)) == len(run["data"]["p_test"])
    right = sum(counts[i][i] for i in range(3))
    assert right / sum(map(sum, counts)) >= 0.8  # it learned
    # the map says which two inputs it moves and that the other two stay at their mean
    held = lab.text(".map-held")
    names = run["net"]["features"]
    x, y = maps["axes"]
    assert names[x] in held and names[y] in held
    assert ("2" in held) and (("mean" in held) if lang == "en" else ("平均" in held))
    title = lab.text(f"{CONF} h3")
    assert ("Confusion matrix" in title) if lang == "en" else ("混同行列" in title)
    # another pair of inputs: the next maps show it
    mark = lab.mark()
    page.select_option("#map-axis-0", "0")
    lab.wait_for_message("maps", after=mark, timeout=10)
    assert lab.last("maps")["axes"][0] == 0
    assert lab.errors == []
    lab.screenshot(f"real-data-iris-desk-{lang}")
