"""The loss landscape in real Chromium, as a learner sees it: the current point is the
map's centre and its colour is the current loss, the path has a dot per iteration run
(up to its cap), the arrow points along the update the next iteration makes, a large
learning rate is seen jumping across the valley and a small one hardly moving; it is
reachable by keyboard, in both languages, without motion when the user asks for none.
Screenshots at 1280×800 (en, ja), 1280×720 in presentation mode and 390×844."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from tests.browser.conftest import Lab

OVER = ".ls-over"
HEAT = ".ls-heat"
IMPORT = "/static/js/views/landscape-map.js"


def open_view(lab: Lab, **match: Any) -> dict[str, Any]:
    """Open the landscape panel (its toggle) and wait for a message matching ``match``
    drawn; returns that message."""
    mark = lab.mark()
    lab.page.click(".ls-toggle")
    return drawn(lab, mark, **match)


def drawn(lab: Lab, mark: int, complete: bool = True, **match: Any) -> dict[str, Any]:
    """The first landscape message after ``mark`` matching ``match`` (with its whole path,
    unless ``complete`` is False), once the page has drawn it."""
    def full(m: dict[str, Any]) -> bool:
        it = m["path"]["iterations"]
        return not complete or (it == list(range(it[0], it[-1] + 1))
                                and it[0] == max(0, m["iteration"] - m["cap"]))

    lab.wait_until(lambda: any(m.get("type") == "landscape" and m.get("open")
                               and all(m.get(k) == v for k, v in match.items()) and full(m)
                               for m in lab.received[mark:]), what=f"a landscape {match}")
    lab.settled()
    return last_landscape(lab)


def last_landscape(lab: Lab) -> dict[str, Any]:
    return lab.last("landscape", open=True)


def dataset(lab: Lab) -> dict[str, str]:
    return dict(lab.page.eval_on_selector(OVER, "c => ({...c.dataset})"))


def steps_to(lab: Lab, n: int) -> None:
    """Step whole iterations until the run has done ``n``."""
    for _ in range(n):
        lab.page.click(".btn-step-iteration")
    lab.wait_until(lambda: bool(lab.messages("state"))
                   and lab.messages("state")[-1]["iteration"] >= n, what=f"iteration {n}")


def test_centre_path_and_arrow_show_the_run(make_lab: Any) -> None:
    lab = make_lab(viewport={"width": 1280, "height": 800}).open("/?seed=4")
    steps_to(lab, 12)
    m = open_view(lab, iteration=12)
    d = dataset(lab)
    x0, y0, side = (float(v) for v in d["plot"].split(","))
    # the current point is drawn at the plot's centre...
    cx, cy = (float(v) for v in d["current"].split(","))
    assert abs(cx - (x0 + side / 2)) < 0.01 and abs(cy - (y0 + side / 2)) < 0.01
    # ...and the heat map's colour there is the colour of the current loss
    got, want = lab.page.evaluate("""async ([sel, url, msg, x, y]) => {
        const { lossRgb, lossScale } = await import(url);
        const d = document.querySelector(sel).getContext('2d').getImageData(
            Math.floor(x), Math.floor(y), 1, 1).data;
        return [[d[0], d[1], d[2]], lossRgb(lossScale(msg)(msg.center))];
    }""", [HEAT, IMPORT, m, cx, cy])
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 8, (got, want)
    assert m["center"] == lab.last("metrics")["points"][-1]["train_loss"]
    # its key says which point that is, and its loss as Numbers writes the train loss
    # measured there (it read "Now (loss …)": during play the two stood at other iterations)
    key = lab.text("li:has(> .ls-sw-now)")
    numbers = lab.text("[data-slot='stats']")
    assert key.startswith("The run after iteration 12: train loss "), key
    assert "measured after iteration 12" in numbers, numbers
    # one dot per iteration run, plus where it started
    assert m["path"]["iterations"] == list(range(13))
    assert int(d["pathPoints"]) == 13
    # the arrow points the way the projected next step goes (canvas y grows downward)
    ax0, ay0, ax1, ay1 = (float(v) for v in d["arrow"].split(","))
    sx, sy = m["step"]["xy"]
    angle = math.atan2(-(ay1 - ay0), ax1 - ax0) - math.atan2(sy, sx)
    assert abs(math.remainder(angle, 2 * math.tau)) < 0.02
    assert (ax0, ay0) == (cx, cy)
    assert lab.errors == []


def test_the_arrow_is_the_next_update_of_two_chosen_weights(make_lab: Any) -> None:
    lab = make_lab().open("/?seed=4&lr=0.3")
    steps_to(lab, 5)
    open_view(lab)
    mark = lab.mark()
    lab.page.select_option(".ls-mode", "weights")
    lab.page.select_option(".ls-axis-a", "L1.W[1,2]")
    lab.wait_until(lambda: any(x.get("type") == "landscape" and x.get("mode") == "weights"
                               and x["axes"][0]["index"] == [1, 2]
                               for x in lab.received[mark:]), what="the chosen weights")
    lab.settled()
    m = last_landscape(lab)
    assert [a["id"] for a in m["axes"]] == ["L1.W", "L2.W"]
    sx, sy = m["step"]["xy"]
    # the update the next iteration makes, entry by entry, is the arrow
    mark = lab.mark()
    lab.page.click(".btn-step-iteration")
    upd = lab.wait_for_message("frame", after=mark, phase="update")["values"]
    i, j = m["axes"][1]["index"]
    assert math.isclose(upd["L1.W.step"][1][2], sx, rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(upd["L2.W.step"][i][j], sy, rel_tol=1e-9, abs_tol=1e-15)
    # the axes are named by the weights, in the picture's words
    label = lab.page.get_attribute(OVER, "aria-label")
    assert "L1.W[1,2]" in label and f"L2.W[{i},{j}]" in label


def path_steps(m: dict[str, Any]) -> tuple[int, int, int, float]:
    """Rises and falls of the loss along the path, its turns back (two consecutive steps
    more than 90° apart), and its extent as a fraction of the picture's half-width."""
    loss = m["path"]["loss"]
    ups = sum(b > a for a, b in itertools.pairwise(loss))
    downs = sum(b < a for a, b in itertools.pairwise(loss))
    xy = m["path"]["xy"]
    d = [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(xy)]
    turns = sum(p[0] * q[0] + p[1] * q[1] < 0 for p, q in itertools.pairwise(d))
    extent = max(max(abs(x), abs(y)) for x, y in xy) / m["span"]
    return ups, downs, turns, extent


def test_a_large_rate_crosses_the_valley_a_small_one_crawls(make_lab: Any) -> None:
    big = make_lab().open("/?lr=3&seed=1")
    steps_to(big, 40)
    m = open_view(big, iteration=40)
    ups, downs, turns, extent = path_steps(m)
    assert ups >= 5 and downs >= 5, (ups, downs)  # up the far side, down again, …
    assert turns >= 5  # back and forth
    assert extent > 0.1  # across a good part of the picture
    assert big.page.is_hidden(".ls-note") or "hides" not in big.text(".ls-note")

    small = make_lab().open("/?lr=0.003&seed=1")
    steps_to(small, 40)
    m = open_view(small, iteration=40)
    ups, downs, _, extent = path_steps(m)
    assert downs >= 35 and ups <= 3  # steadily down...
    assert extent < 0.01  # ...by very little: the whole path under the current point's ring
    assert "hides under the ring" in small.text(".ls-note")
    # fitting the path to the picture shows its 41 dots spread out
    mark = small.mark()
    small.page.click(".ls-zoom-fit")
    fitted = drawn(small, mark, iteration=40)
    assert fitted["span"] < m["span"] / 50
    assert path_steps(fitted)[3] > 0.5


def test_the_path_keeps_its_cap_of_iterations(make_lab: Any) -> None:
    lab = make_lab().open("/?seed=2")
    open_view(lab)
    lab.play_until("300", 260)
    n = lab.messages("state")[-1]["iteration"]
    m = drawn(lab, 0, iteration=n)
    assert m["cap"] == 200
    assert m["path"]["iterations"] == list(range(n - 200, n + 1))
    assert int(dataset(lab)["pathPoints"]) == 201


def test_keyboard_languages_and_reduced_motion(make_lab: Any) -> None:
    lab = make_lab(reduced_motion="reduce").open("/?seed=3")
    page = lab.page
    steps_to(lab, 3)
    page.focus(".ls-toggle")
    mark = lab.mark()
    page.keyboard.press("Enter")
    m = drawn(lab, mark, iteration=3)
    assert page.get_attribute(".ls-toggle", "aria-expanded") == "true"
    # without motion the arrow is drawn whole at once
    mark = lab.mark()
    page.click(".btn-step-iteration")
    drawn(lab, mark, iteration=4)
    assert dataset(lab)["grow"] == "1"
    # the slice by keyboard: the select, then + on the focused map zooms in
    page.focus(".ls-mode")
    mark = lab.mark()
    page.keyboard.press("ArrowDown")  # two random directions → the last step and across it
    m = drawn(lab, mark, mode="step")
    assert "along the last step" in page.get_attribute(OVER, "aria-label")
    page.focus(OVER)
    mark = lab.mark()
    page.keyboard.press("+")
    zoomed = drawn(lab, mark, mode="step")
    assert zoomed["span"] == m["span"] / 2
    # Japanese
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert lab.text(".bpl-landscape h2") == "損失の地形"
    assert "直前の1歩の向き" in page.get_attribute(OVER, "aria-label")
    assert lab.errors == []


def shoot(lab: Lab, name: str) -> None:
    """A screenshot of the screen with the landscape's map in the middle."""
    lab.page.evaluate("() => document.querySelector('.ls-stack').scrollIntoView({block: 'center'})")
    lab.settled()
    lab.page.wait_for_function("() => document.querySelector('.ls-over').dataset.grow === '1'")
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.screenshot(path=str(lab.shot_dir / f"{name}.png"))


def test_screenshots(make_lab: Any) -> None:
    """The landscape on a desk in both languages, on a projector and on a phone; on the
    projector the chosen slice's name reads whole, its zoom beside it."""
    lab = make_lab(viewport={"width": 1280, "height": 800}).open("/?lr=3&seed=1")
    steps_to(lab, 30)
    open_view(lab, iteration=30)
    for lang in ("en", "ja"):  # (the same run in each language)
        lab.page.click(f".lang-btn[data-lang='{lang}']")
        lab.page.wait_for_function(f"() => document.documentElement.lang === '{lang}'")
        shoot(lab, f"landscape-{lang}")
    assert lab.errors == []
    lab = make_lab(viewport={"width": 1280, "height": 720}).open("/?lr=1&seed=1")
    lab.page.keyboard.press("p")
    lab.page.wait_for_function("() => document.documentElement.classList.contains('present')")
    steps_to(lab, 30)
    open_view(lab, iteration=30)
    mark = lab.mark()
    lab.page.select_option(".ls-mode", "step")
    step = drawn(lab, mark, mode="step")
    assert lab.squeezed(".ls-mode") <= 1  # "The last step and across it", whole
    mark = lab.mark()
    lab.page.click(".ls-zoom-fit")  # the path, spread over the picture
    lab.wait_until(lambda: last_landscape(lab)["span"] < step["span"], what="the fitted zoom")
    lab.settled()
    shoot(lab, "landscape-present")
    phone = make_lab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                     device_scale_factor=2).open("/?lr=0.3&seed=1")
    steps_to(phone, 30)
    open_view(phone, iteration=30)
    width = phone.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    shoot(phone, "landscape-phone")


def test_a_class_sees_the_teachers_landscape(make_lab: Any) -> None:
    from tests.browser.test_follow import PHONE, share

    teacher = make_lab().open("/?lr=3&seed=1")
    code = share(teacher)
    teacher.page.keyboard.press("Escape")
    student = make_lab(**PHONE).open(f"/?follow={code}")
    steps_to(teacher, 10)
    m = open_view(teacher, iteration=10)
    got = drawn(student, 0, iteration=10)
    assert (got["center"], got["path"]["iterations"]) == (m["center"], m["path"]["iterations"])
    assert student.page.is_disabled(".ls-toggle") and student.page.is_disabled(".ls-mode")
    # ...and the greyed button says why (the lesson's text asks to press it)
    assert student.page.get_attribute(".ls-toggle", "title") == \
        "Your teacher opens it for the class"
    assert int(dataset(student)["pathPoints"]) == 11
    # the teacher closes it: so does the class's
    teacher.page.click(".ls-toggle")
    student.wait_until(lambda: student.last("landscape")["open"] is False, what="the close")
    student.settled()
    assert student.page.is_hidden(".ls-figure")


def test_a_coarser_grid_and_a_refusal_are_said_in_the_readers_words(make_lab: Any) -> None:
    """A run too large for a fine landscape gets a coarser grid, and one too large for any
    a refusal, each said in the page's language in words, not the server's setting names
    (the Japanese page read "max_piece_ms" in both) nor its English sentence."""
    lab = make_lab(locale="ja-JP").open("/?dataset=digits")
    lab.page.click(".ls-toggle")
    lab.wait_until(lambda: any(m.get("type") == "landscape" and m.get("open") and m.get("limit")
                               for m in lab.received), what="a coarser landscape")
    m = last_landscape(lab)
    assert m["limit"] == "max_piece_ms" and m["size"] < m["requested"]
    lab.page.wait_for_function(
        "() => document.querySelector('.ls-note').textContent.includes('格子')")
    note = lab.text(".ls-note")
    assert f"{m['requested']}×{m['requested']} ではなく {m['size']}×{m['size']} の格子" in note
    assert "計算に使える時間" in note and not re.search(r"[A-Za-z_]{3,}", note), note
    assert lab.errors == []
    # a network too large for the coarsest grid: refused, in English words of the page's own
    lab = make_lab().open("/?dataset=breast_cancer&hidden=32,32")
    lab.page.click(".ls-toggle")
    lab.wait_until(lambda: any(m.get("type") == "error" and m.get("limit") == "max_piece_ms"
                               for m in lab.received), what="the refusal")
    lab.page.wait_for_function(
        "() => document.querySelector('.ls-note').textContent.includes('coarsest')")
    note = lab.text(".ls-note")
    assert note.startswith("No loss landscape for this run: even the coarsest grid takes longer")
    assert "max_piece_ms" not in note and "Fewer samples or a smaller network" in note
    assert lab.errors == []
