"""Playback in real Chromium against a real server: the timeline's scrubber, stepping
back, a branch from the past, saving and opening a run, and a reload or a dropped
socket coming back to the same point.

Every frame the page gets after a jump is compared with the frame the engine first
sent (recorded by the ``Lab`` fixture), never with a value computed in the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.browser.conftest import CAPTURE_SOCKETS, Lab, parse_number

TIMELINE = "[data-slot='timeline']"


def frames_by_key(lab: Lab, start: int = 0, stop: int | None = None) -> dict[tuple[int, str], Any]:
    """The frames received in ``[start, stop)``, by (iteration, phase); the first one wins."""
    out: dict[tuple[int, str], Any] = {}
    for m in lab.received[start:stop]:
        if m.get("type") == "frame":
            out.setdefault((m["iteration"], m["phase"]), m)
    return out


def at(lab: Lab, iteration: int, phase: str) -> None:
    """Wait until the timeline shows ``iteration`` with ``phase`` next."""
    lab.page.wait_for_selector(
        f"{TIMELINE}[data-iteration='{iteration}'][data-phase='{phase}']", timeout=10_000)


def open_more(lab: Lab) -> None:
    """Unfold the timeline's jump, change, branches and files (folded until the
    learner unfolds them, then remembered for the tab)."""
    if not lab.page.eval_on_selector(".tl-more", "d => d.open"):
        lab.page.click(".tl-more summary")


def branch_at(lab: Lab, iteration: int) -> dict[str, Any]:
    """Go to ``iteration`` and apply a different learning rate there (a new branch);
    the timeline message that shows branch 1."""
    page = lab.page
    open_more(lab)
    page.fill("#tl-jump", str(iteration))
    page.click(".tl-go")
    at(lab, iteration, "forward")
    lr = lab.last("timeline")["settings"]["lr"]
    page.select_option("#tl-lr", "1" if lr != 1 else "0.3")
    mark = lab.mark()
    page.click(".tl-apply")
    return lab.wait_for_message("timeline", after=mark, branch=1)


def step_phases(lab: Lab, n: int) -> None:
    for _ in range(n):
        lab.step()


def more_is_open(lab: Lab) -> bool:
    return bool(lab.page.eval_on_selector(".tl-more", "d => d.open"))


def test_the_timeline_details_start_folded_and_keep_the_learners_choice(lab: Lab) -> None:
    """A projected network stays big: the details are folded on a desk too; unfolded
    (or folded again) by the learner, they stay so through messages and a reload."""
    page = lab.page
    assert not more_is_open(lab)
    tl_box = page.locator(".timeline").bounding_box()
    assert tl_box is not None and tl_box["height"] < 200  # one row: back buttons, scrubber

    page.click(".tl-more summary")
    assert more_is_open(lab)
    for _ in range(2):
        lab.step("iteration")  # state, frames, metrics and timeline messages
    at(lab, 2, "forward")
    assert more_is_open(lab)
    page.reload()
    lab.wait_ready()
    at(lab, 2, "forward")
    assert more_is_open(lab)

    page.click(".tl-more summary")
    assert not more_is_open(lab)
    page.reload()
    lab.wait_ready()
    assert not more_is_open(lab)
    assert lab.errors == []


def test_scrubbing_and_stepping_back_show_the_numbers_first_computed(lab: Lab) -> None:
    page = lab.page
    step_phases(lab, 4 * 3 + 2)  # to iteration 3, loss done
    at(lab, 3, "backward")
    first = frames_by_key(lab)
    assert page.get_attribute(TIMELINE, "data-length") == "3"

    mark = lab.mark()
    page.click(".tl-back-phase")  # ← one phase back: the forward of iteration 3 again
    at(lab, 3, "loss")
    got = frames_by_key(lab, mark)
    assert list(got) == [(3, "forward")] and got[(3, "forward")] == first[(3, "forward")]

    mark = lab.mark()
    page.keyboard.press("ArrowLeft")  # the shortcut does the same
    at(lab, 3, "forward")
    # the frame may reach the test a moment after the timeline: wait for it
    assert lab.wait_for_message("frame", after=mark, iteration=2,
                                phase="update") == first[(2, "update")]

    open_more(lab)
    mark = lab.mark()
    page.fill("#tl-jump", "2")  # counted from 1: the second iteration's backward
    page.select_option("#tl-jump-phase", "backward")
    page.click(".tl-go")
    at(lab, 1, "update")
    got = frames_by_key(lab, mark)
    assert [k for k in got] == [(1, "forward"), (1, "loss"), (1, "backward")]
    assert all(f == first[k] for k, f in got.items())

    # the scrubber: drag to iteration 2 (keyboard on the range input)
    mark = lab.mark()
    page.focus(".tl-scrub")
    page.keyboard.press("ArrowRight")
    at(lab, 2, "forward")
    got = frames_by_key(lab, mark)
    assert got[(1, "update")] == first[(1, "update")]
    # the network shows the weights in use there, not those of iteration 3
    w = lab.last("timeline")["params"]["L1.W"]
    assert w == first[(1, "update")]["values"]["L1.W"]
    # and the Numbers panel the losses measured there, not the run's latest
    points: dict[int, Any] = {}
    for m in lab.messages("metrics"):
        if m.get("replace"):
            points = {}
        points.update({p["iteration"]: p for p in m["points"]})
    page.wait_for_function(
        "t => document.querySelector('#stat-train-loss').textContent !== t",
        arg=f"{points[3]['train_loss']:.4f}")
    shown = parse_number(lab.text("#stat-train-loss"))
    assert abs(shown - points[2]["train_loss"]) <= 5e-4, (shown, points)
    assert lab.errors == []


def test_a_setting_changed_in_the_past_branches_and_both_stay_reachable(lab: Lab) -> None:
    page = lab.page
    for _ in range(6):
        lab.step("iteration")
    at(lab, 6, "forward")
    old = frames_by_key(lab)
    tl = branch_at(lab, 3)
    assert [b["id"] for b in tl["branches"]] == [0, 1]
    assert page.locator(".tl-branch").count() == 2
    assert page.get_attribute(".tl-branch[data-branch='1']", "aria-pressed") == "true"
    assert page.locator(".tl-mark-set").count() == 1
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    page.locator(TIMELINE).screenshot(path=str(lab.shot_dir / "timeline.png"))

    mark = lab.mark()
    lab.step("iteration")
    new = frames_by_key(lab, mark)
    assert new[(3, "update")] != old[(3, "update")]

    mark = lab.mark()
    page.click(".tl-branch[data-branch='0']")  # back to the first future
    lab.wait_for_message("timeline", after=mark, branch=0)
    assert page.get_attribute(TIMELINE, "data-length") == "6"
    mark = lab.mark()
    lab.step("iteration")
    assert frames_by_key(lab, mark)[(3, "update")] == old[(3, "update")]
    assert lab.errors == []


def test_a_rate_changed_from_here_shows_in_the_settings_panel(lab: Lab) -> None:
    """"Apply from here" at the run's head changes the rate from now on, with no new run:
    the run's own learning-rate field says so (it kept saying the old rate while the
    inspector said the new one), and goes back with a step back before the change."""
    page = lab.page
    for _ in range(3):
        lab.step("iteration")
    at(lab, 3, "forward")
    lr0 = float(page.input_value("#ctl-lr"))
    open_more(lab)
    page.select_option("#tl-lr", "1" if lr0 != 1 else "0.3")
    mark = lab.mark()
    page.click(".tl-apply")
    lr1 = float(lab.wait_for_message("timeline", after=mark)["settings"]["lr"])
    assert lr1 != lr0 and not any(m["type"] == "run" for m in lab.received[mark:])
    page.wait_for_function(f"() => Number(document.querySelector('#ctl-lr').value) === {lr1}")
    lab.step("iteration")
    at(lab, 4, "forward")
    mark = lab.mark()
    page.fill("#tl-jump", "2")
    page.click(".tl-go")
    at(lab, 2, "forward")
    page.wait_for_function(f"() => Number(document.querySelector('#ctl-lr').value) === {lr0}")
    assert lab.errors == []


def chart_latest(lab: Lab, chart: str) -> tuple[list[str], dict[str, float]]:
    """A health chart's legend and the latest value per series its text alternative gives."""
    sel = f"[data-chart='{chart}']"
    legend = lab.page.eval_on_selector_all(f"{sel} .bpl-chart-legend li",
                                           "els => els.map(e => e.textContent)")
    text = lab.text(f"{sel} .sr-only")
    latest = {name: parse_number(text.split(f"{name}: ")[1].split(",")[0]) for name in legend}
    return legend, latest


def test_the_per_layer_health_charts_keep_their_history_across_branches(lab: Lab) -> None:
    page = lab.page
    for _ in range(6):
        lab.step("iteration")
    sent = {p["iteration"]: p for m in lab.messages("metrics") for p in m["points"]}
    mark = lab.mark()
    branch_at(lab, 3)
    lab.wait_for_message("metrics", after=mark, replace=True)
    lab.settled()  # the charts redraw on the next animation frame
    # the new branch's charts: iterations 1-3, the parent's numbers
    for chart, key in (("gnorm", "gnorm"), ("ratio", "update_ratio")):
        legend, latest = chart_latest(lab, chart)
        assert legend == ["L1", "L2", "L3"], chart
        for k, name in enumerate(legend):
            want = sent[3][key][k]
            assert abs(latest[name] - want) <= 0.01 * abs(want), (chart, name)
    mark = lab.mark()
    page.click(".tl-branch[data-branch='0']")
    lab.wait_for_message("metrics", after=mark, replace=True)
    lab.settled()
    legend, latest = chart_latest(lab, "gnorm")
    assert legend == ["L1", "L2", "L3"]
    assert abs(latest["L1"] - sent[6]["gnorm"][0]) <= 0.01 * sent[6]["gnorm"][0]
    assert lab.errors == []


def test_a_saved_run_opens_again_with_its_branches_and_replays_identically(
        lab: Lab, tmp_path: Path) -> None:
    page = lab.page
    for _ in range(4):
        lab.step("iteration")
    first = frames_by_key(lab)
    # a second future from iteration 2, then back to the first: the file keeps both
    branch_at(lab, 2)
    mark = lab.mark()
    lab.step("iteration")
    branch = frames_by_key(lab, mark)
    mark = lab.mark()
    page.click(".tl-branch[data-branch='0']")
    lab.wait_for_message("timeline", after=mark, branch=0)
    with page.expect_download() as dl:
        page.click(".tl-save")
    path = tmp_path / "run.json"
    dl.value.save_as(path)
    run = json.loads(path.read_text())
    assert run["format"] == "backprop-lab-run" and run["version"] == 2 and run["branch"] == 0
    assert [(b["id"], b["length"]) for b in run["branches"]] == [(0, 4), (1, 3)]

    page.click(".btn-reset")  # a fresh run replaces it
    at(lab, 0, "forward")
    assert page.locator(".tl-branch").count() == 1
    mark = lab.mark()
    page.set_input_files("#tl-file", str(path))
    tl = lab.wait_for_message("timeline", after=mark, length=4)
    # it opens where it was saved: branch 0 where it was left (the branch point)
    assert run["position"] == {"iteration": 2, "phase": "forward"}
    assert tl["iteration"] == 2 and tl["phase"] == "forward" and tl["branch"] == 0
    page.wait_for_selector(".tl-branch[data-branch='1']")
    assert page.get_attribute(".tl-branch[data-branch='0']", "aria-pressed") == "true"
    page.fill("#tl-jump", "0")  # from the start again
    page.select_option("#tl-jump-phase", "")
    page.click(".tl-go")
    at(lab, 0, "forward")
    mark = lab.mark()
    for _ in range(4):
        lab.step("iteration")
    again = frames_by_key(lab, mark)
    assert again.keys() == first.keys()
    assert all(again[k] == first[k] for k in first)
    # the other branch comes back too, numbers and all
    mark = lab.mark()
    page.click(".tl-branch[data-branch='1']")
    lab.wait_for_message("timeline", after=mark, branch=1)
    page.fill("#tl-jump", "3")  # counted from 1: the third iteration's update
    page.select_option("#tl-jump-phase", "update")
    mark = lab.mark()
    page.click(".tl-go")
    at(lab, 3, "forward")
    assert lab.wait_for_message("frame", after=mark, iteration=2,
                                phase="update") == branch[(2, "update")]

    page.set_input_files("#tl-file", files=[{"name": "x.json", "mimeType": "application/json",
                                             "buffer": b"{not json"}])
    page.wait_for_selector(".tl-status:has-text('run file')")
    assert lab.errors == []


def test_a_reload_comes_back_to_the_same_point(lab: Lab) -> None:
    step_phases(lab, 4 * 2 + 3)
    before = frames_by_key(lab)
    lab.page.click(".tl-back-phase")
    at(lab, 2, "backward")
    sid = lab.last("run")["session"]
    mark = lab.mark()
    lab.page.reload()
    lab.wait_ready()
    at(lab, 2, "backward")
    assert lab.last("run")["session"] == sid
    got = frames_by_key(lab, mark)
    assert got == {k: before[k] for k in ((2, "forward"), (2, "loss"))}
    assert lab.page.get_attribute(TIMELINE, "data-length") == "2"


def test_a_reload_keeps_the_speed_the_learner_picked(lab: Lab) -> None:
    """A reload mid-play comes back with the speed menu as the learner left it, and
    Play plays at that speed (it went back to the default: the next Play ran at 100)."""
    page = lab.page
    assert page.input_value("#ctl-speed") == "100"  # a new tab: the default
    page.select_option("#ctl-speed", "30")
    mark = lab.mark()
    page.click(".btn-toggle-play")
    lab.wait_for_message("state", after=mark, playing=True, speed=30)
    page.wait_for_function(
        "() => Number(document.querySelector('#stat-iteration').textContent) >= 5")
    page.reload()
    lab.wait_ready()
    assert page.input_value("#ctl-speed") == "30"
    mark = lab.mark()
    page.click(".btn-toggle-play")
    lab.wait_for_message("state", after=mark, playing=True, speed=30)
    page.select_option("#ctl-speed", "10")  # a change while playing is kept too
    lab.wait_for_message("state", after=mark, playing=True, speed=10)
    page.reload()
    lab.wait_ready()
    assert page.input_value("#ctl-speed") == "10"
    assert lab.errors == []


def hold_and_let_go(lab: Lab, speed: int) -> None:
    """Take the scrubber's thumb of a run playing at ``speed``, drag it back and hold it:
    the run holds still at the thumb; let go, it plays on from there at ``speed``."""
    page = lab.page
    box = page.locator(".tl-scrub").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    mark = lab.mark()
    page.mouse.move(box["x"] + box["width"] * 0.6, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=5)
    lab.wait_for_message("state", after=mark, playing=False)
    thumb = int(page.input_value(".tl-scrub"))
    # the last seek (sent within a seek interval of the last move) answered
    lab.wait_until(lambda: lab.last("state")["iteration"] == thumb, what="the thumb's state")
    lab.settled()
    shown = [parse_number(lab.text("#stat-iteration"))]
    page.wait_for_timeout(300)
    lab.settled()
    shown.append(parse_number(lab.text("#stat-iteration")))
    assert shown == [thumb, thumb]  # held still, at the thumb
    assert lab.last("state")["playing"] is False
    mark = lab.mark()
    page.mouse.up()
    state = lab.wait_for_message("state", after=mark, playing=True)
    assert state["speed"] == speed
    assert thumb <= state["iteration"] <= thumb + 5  # on from where it was let go
    page.wait_for_function(
        "n => Number(document.querySelector('#stat-iteration').textContent) > n",
        arg=thumb + (3 if speed > 4 else 0))


def test_a_run_holds_still_under_the_scrubbers_thumb_and_plays_on_when_let_go(
        lab: Lab) -> None:
    """Dragging the scrubber while playing: the run pauses while the thumb is held (it
    played on under it, and the counters flickered between the thumb and the play),
    shows the point the thumb is at, and plays on from there, at its speed, when let go;
    played slowly too (it went on under the thumb, then jumped back to it when let go)."""
    page = lab.page
    page.select_option("#ctl-speed", "30")
    page.click(".btn-toggle-play")
    page.wait_for_function(
        "() => Number(document.querySelector('#stat-iteration').textContent) >= 40")
    hold_and_let_go(lab, 30)
    mark = lab.mark()
    page.select_option("#ctl-speed", "4")
    lab.wait_for_message("state", after=mark, playing=True, speed=4)
    hold_and_let_go(lab, 4)
    mark = lab.mark()
    page.select_option("#ctl-speed", "30")
    lab.wait_for_message("state", after=mark, playing=True, speed=30)
    # a press that moves nothing (no change event) lets it play on too
    mark = lab.mark()
    page.dispatch_event(".tl-scrub", "pointerdown")
    lab.wait_for_message("state", after=mark, playing=False)
    mark = lab.mark()  # (after the pause's state: none of the play's in flight before it)
    page.dispatch_event(".tl-scrub", "pointerup")
    assert lab.wait_for_message("state", after=mark, playing=True)["speed"] == 30
    lab.settled()  # (the page has it too)
    # a pause asked for just before the press (its answer not yet come) stays a pause
    mark = lab.mark()
    page.evaluate("""() => {
      document.querySelector('.btn-toggle-play').click();
      const scrub = document.querySelector('.tl-scrub');
      scrub.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true }));
      scrub.dispatchEvent(new PointerEvent('pointerup', { bubbles: true }));
    }""")
    lab.wait_for_message("state", after=mark, playing=False)
    lab.sync()
    assert lab.last("state")["playing"] is False
    # (states sent before the pause arrived still say playing; none after it)
    states = [m["playing"] for m in lab.received[mark:] if m.get("type") == "state"]
    assert True not in states[states.index(False):], states
    assert lab.errors == []


def test_a_dropped_socket_reconnects_to_the_same_point(make_lab: Any) -> None:
    lab = make_lab()
    lab.page.add_init_script(CAPTURE_SOCKETS)
    lab.open()
    step_phases(lab, 4 * 2 + 1)
    at(lab, 2, "loss")
    sid = lab.last("run")["session"]
    mark = lab.mark()
    lab.page.evaluate("window.__sockets.at(-1).close()")
    lab.page.wait_for_selector(".conn[data-state='closed']")
    lab.page.wait_for_selector(".conn[data-state='open']", timeout=10_000)
    run = lab.wait_for_message("run", after=mark)
    assert run["session"] == sid
    at(lab, 2, "loss")
    assert lab.page.evaluate("window.__sockets.length") == 2
    lab.step()
    assert lab.last("frame")["phase"] == "loss"


#: in the page: the position the timeline shows, then a click on a back button once
#: the server has run on (a busy page: the frames of the next iterations wait unread)
BACK_FROM_SHOWN = """sel => {
  const tl = document.querySelector("[data-slot='timeline']");
  const shown = { iteration: Number(tl.dataset.iteration), phase: tl.dataset.phase,
                  stat: Number(document.querySelector('#stat-iteration').textContent) };
  const until = performance.now() + 150;
  while (performance.now() < until) { /* (the page busy for 150 ms: 4 iterations) */ }
  document.querySelector(sel).click();
  return shown;
}"""


def test_stepping_back_while_playing_goes_back_from_what_the_page_shows(lab: Lab) -> None:
    """The server runs ahead of the frames on screen (an iteration on a quiet machine,
    more on a busy page): "◀◀ Iteration" and "◀ Phase" pressed while playing go back
    from what the learner sees, and pause there (they went back from the server's
    point: the count went on, or stayed, after a press of a back button)."""
    page = lab.page
    page.select_option("#ctl-speed", "30")
    for sel, unit in ((".tl-back-iteration", "iteration"), (".tl-back-phase", "phase"),
                      (".tl-back-iteration", "iteration")):
        page.click(".btn-toggle-play")
        page.wait_for_function(
            "() => Number(document.querySelector('#stat-iteration').textContent) >= 20")
        page.wait_for_timeout(200)
        mark = lab.mark()
        shown = page.evaluate(BACK_FROM_SHOWN, sel)
        assert shown["phase"] == "forward" and shown["stat"] == shown["iteration"]
        lab.wait_for_message("state", after=mark, playing=False)
        it = shown["iteration"]
        if unit == "iteration":  # the previous iteration boundary
            at(lab, it - 1, "forward")
            assert parse_number(lab.text("#stat-iteration")) == it - 1
        else:  # one phase back: iteration `it` stands before its update
            at(lab, it - 1, "update")
            assert parse_number(lab.text("#stat-iteration")) == it
            assert "Backward" in lab.text(".banner-title")
    assert lab.errors == []


#: what the page shows of a position besides the Numbers: the banner's phase, the gradient
#: bars' heights, the network's mode and each edge's colour and width
SHOWN = """() => ({
  phase: document.querySelector("[data-slot='banner']").dataset.phase,
  bars: [...document.querySelectorAll('.gb-bar')].map(b => b.style.height || '0%'),
  mode: document.querySelector('.net-svg').dataset.mode,
  edges: [...document.querySelectorAll('.net-svg line.edge')]
    .map(e => e.style.stroke + ' ' + e.style.strokeWidth),
})"""


def test_a_fresh_run_shows_its_initial_weights_numbers_and_again_after_a_rewind(
        lab: Lab) -> None:
    """Before the first update there is no metrics point: the Numbers show the train and
    test loss and accuracy of the initial weights, evaluated as a point is, and say so;
    a step later, the point measured after it; back at iteration 0, the first again, and
    the rest of the page is back at the start too: the banner ready for the first phase,
    no batch loss, no gradient bars, the network's initial weights (they kept showing the
    iteration left: "Update · Iteration 1", its batch loss and its gradients)."""
    from engine import metrics
    from engine.stepper import Stepper
    from server.protocol import RunSettings
    from server.run.runconfig import run_config

    page = lab.page
    lab.settled()
    fresh = metrics.collect(Stepper(run_config(RunSettings.model_validate(
        lab.last("run")["config"]))))  # (the same settings and seed: the same weights)
    assert abs(lab.number("#stat-train-loss") - fresh["train_loss"]) <= 5e-4
    assert abs(lab.number("#stat-test-loss") - fresh["test_loss"]) <= 5e-4
    assert lab.text("#stat-train-acc") == f"{100 * fresh['train_acc']:.1f}%"
    assert lab.text("#stat-test-acc") == f"{100 * fresh['test_acc']:.1f}%"
    assert "before any update" in lab.text("#stat-at")
    assert lab.text("#stat-batch-loss") == "—"  # (no batch yet)
    before = lab.text("#stat-train-loss")
    start = page.evaluate(SHOWN)
    assert start["phase"] == "ready" and start["bars"] == ["0%"] * len(start["bars"])

    lab.step("iteration")
    at(lab, 1, "forward")
    page.wait_for_function(
        "() => document.querySelector('#stat-at').textContent.includes('after iteration 1')")
    assert lab.text("#stat-train-loss") != before

    page.focus(".tl-scrub")
    page.keyboard.press("Home")  # back to the start
    at(lab, 0, "forward")
    page.wait_for_function(
        "() => document.querySelector('#stat-at').textContent.includes('before any update')")
    assert lab.text("#stat-train-loss") == before
    page.wait_for_function("() => document.querySelector(\"[data-slot='banner']\")"
                           ".dataset.phase === 'ready'")
    lab.settled()
    assert lab.text("#stat-batch-loss") == "—"
    assert page.evaluate(SHOWN) == start  # the banner, the bars, the mode and the weights
    assert lab.errors == []
