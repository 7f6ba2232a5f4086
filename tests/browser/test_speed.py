"""Play's speed as a learner meets it: the first Play learns XOR while they watch (well
under a minute), and "Play at full speed" is for that one play — after a pause, Play
goes back to the speed the menu shows, as the help says."""

from __future__ import annotations

import itertools
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


#: in the page: each time the banner or the Numbers panel changes its iteration, what
#: the banner, the Numbers panel and the timeline say then
WATCH_COUNTERS = """() => {
  const seen = window.__counters = [];
  const num = s => Number((s.match(/(\\d+)\\D*$/) || [0, NaN])[1]);
  const read = (who) => {
    const tl = document.querySelector("[data-slot='timeline']");
    seen.push({
      who,
      banner: num(document.querySelector('.banner-title').textContent),
      stats: Number(document.querySelector('#stat-iteration').textContent),
      timeline: Number(tl.dataset.iteration) + (tl.dataset.phase === 'forward' ? 0 : 1),
      at: document.querySelector('#stat-at').textContent,
    });
  };
  const watch = (sel, who) => new MutationObserver(() => read(who)).observe(
    document.querySelector(sel), { childList: true, characterData: true, subtree: true });
  watch('.banner-title', 'banner');
  watch('#stat-iteration', 'stats');
}"""


def test_the_counters_count_every_iteration_the_network_shows_in_fast_play(lab: Any) -> None:
    """Playing at 30 it/s, the Numbers panel and the timeline count each iteration as the
    banner and the network show it: the server's counters come ten times a second, so
    they lagged up to two iterations behind the frames (63 on the banner, 61 below)."""
    page = lab.page
    page.evaluate(WATCH_COUNTERS)
    lab.play_until("30", 60)
    seen = page.evaluate("() => window.__counters")
    stats = [s for s in seen if s["who"] == "stats"]
    banner = [s for s in seen if s["who"] == "banner" and s["banner"] > 0]
    assert len(stats) >= 25 and len(banner) >= 20, (len(stats), len(banner))
    # the Numbers panel and the timeline say the same, and move with the frames (an
    # iteration at a time, two where a busy page took two frames at once), not three
    assert all(s["stats"] == s["timeline"] for s in seen), seen
    steps = [b["stats"] - a["stats"] for a, b in itertools.pairwise(stats)]
    assert sum(d <= 2 for d in steps) >= 0.8 * len(steps), steps
    # when the banner draws an iteration, the numbers already count it (the banner
    # draws on the next animation frame, the numbers as the frames arrive)
    assert all(b["stats"] >= b["banner"] for b in banner), banner
    # and the line under the numbers keeps its words while playing (it wrapped and
    # unwrapped twenty times a second, moving the panels below it)
    playing = [s["at"] for s in stats[:-3] if s["at"]]
    assert playing and all("(the latest measured)" in at for at in playing), set(playing)
    # paused, everything says where the run is
    state = lab.last("state", playing=False)
    last = [s for s in page.evaluate("() => window.__counters")][-1]
    assert last["stats"] == last["timeline"] == state["iteration"]
    assert lab.number("#stat-epoch") == state["epoch"] + 1
    assert lab.errors == []


def test_played_phase_by_phase_the_counters_follow_each_phase(lab: Any) -> None:
    """At 2 it/s the page shows each phase: the Numbers panel and the timeline count
    the iteration the banner shows from its forward pass on (they waited for the
    update's state, one iteration behind three phases in four)."""
    page = lab.page
    page.evaluate(WATCH_COUNTERS)
    lab.play_until("2", 3)
    seen = page.evaluate("() => window.__counters")
    banner = [s for s in seen if s["who"] == "banner" and s["banner"] > 0]
    assert len(banner) >= 8, banner
    assert all(b["stats"] == b["banner"] == b["timeline"] for b in banner), banner
    assert lab.errors == []
