"""Play's speed as a learner meets it: the first Play learns XOR while they watch (well
under a minute), and "Play at full speed" is for that one play — after a pause, Play
goes back to the speed the menu shows, as the help says."""

from __future__ import annotations

import time
from typing import Any

#: "well under a minute": XOR's default run needs ~1,100 iterations to reach 95 %
LEARNT_WITHIN_S = 30.0


def test_the_first_play_learns_xor_in_well_under_a_minute(lab: Any) -> None:
    page = lab.page
    speed = page.eval_on_selector("#ctl-speed", "s => Number(s.value)")
    start = time.monotonic()
    page.click(".btn-toggle-play")
    page.wait_for_selector(".btn-toggle-play[aria-pressed='true']")
    # the train accuracy the Numbers panel shows reaches 95 %
    page.wait_for_function(
        "() => parseFloat(document.querySelector('#stat-train-acc').textContent) >= 95",
        timeout=LEARNT_WITHIN_S * 1000)
    took = time.monotonic() - start
    mark = lab.mark()
    page.click(".btn-toggle-play")
    state = lab.wait_for_message("state", after=mark, playing=False)
    assert state["speed"] == speed, (state, speed)
    assert took < LEARNT_WITHIN_S, took
    assert lab.errors == []


def test_full_speed_is_for_one_play_and_play_goes_back_to_the_menus_speed(lab: Any) -> None:
    page = lab.page
    page.select_option("#ctl-speed", "30")
    page.click(".tl-more > summary")  # the timeline's "more"
    mark = lab.mark()
    page.click(".tl-fastest")
    top = lab.last("timeline")["max_speed"]
    fast = lab.wait_for_message("state", after=mark, playing=True)
    assert fast["speed"] == top
    mark = lab.mark()
    page.click(".btn-toggle-play")  # pause
    lab.wait_for_message("state", after=mark, playing=False)
    page.wait_for_selector(".btn-toggle-play[aria-pressed='false']")
    # paused, the menu shows what the next Play will use: the learner's 30, not full speed
    assert page.eval_on_selector("#ctl-speed", "s => s.value") == "30"
    mark = lab.mark()
    page.click(".btn-toggle-play")
    again = lab.wait_for_message("state", after=mark, playing=True)
    assert again["speed"] == 30, again
    page.click(".btn-toggle-play")
    assert lab.errors == []
