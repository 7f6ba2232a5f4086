"""Nothing lost (issue 17), in real Chromium against a real server: a reset keeps the run
it replaced one click away; a teacher whose class watches is asked before the class's
run changes; a saved run opens where it was saved, charts and numbers included; and a
server killed mid-run (SIGKILL) and started again finds the open page restoring its own
run, at the same iteration with the same weights, and saying so.

Numbers the page shows are compared with what the engine sent before (recorded by the
``Lab`` fixture), never with values computed in the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CAPTURE_SOCKETS, ROOT, Lab, parse_number
from tests.browser.test_follow import share
from tests.browser.test_playback import TIMELINE, at, branch_at, frames_by_key
from tests.helpers.net import free_port, uvicorn_command, wait_healthy

RUNS = ".runs"
STATS = "[data-slot='stats']"
LOSS_CHART = ".bpl-chart[data-chart='loss'] .sr-only"
CONFIRM = "dialog.confirm-dialog"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NO_SIDEWAYS_SCROLL = (
    "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
#: edges whose weights the crash test reads off the page (the tooltip's w = …)
EDGES = ("L1.W.0.0", "L1.W.1.2", "L2.W.3.1", "L3.W.2.0")
#: records every address the page writes from now on (in ``window.__addresses``)
ADDRESS_LOG = """() => {
  window.__addresses = [];
  const replace = history.replaceState.bind(history);
  history.replaceState = (state, title, url) => {
    window.__addresses.push(new URL(url, location.href).href);
    return replace(state, title, url);
  };
}"""

#: why the server may no longer have a page's run, as the notice says it
WHY = "a restart, or you were away a while"


def numbers(lab: Lab) -> str:
    """The Numbers panel as the learner reads it."""
    return str(lab.page.inner_text(STATS))


def weight_shown(lab: Lab, edge: str) -> float:
    """The weight the page shows for ``edge`` (focused by keyboard: its tooltip's w)."""
    lab.page.focus(f".net-svg [data-id='{edge}']")
    lab.page.wait_for_selector(".net-tip:not([hidden])")
    row = lab.text(".net-tip [data-value='w']")
    return parse_number(row.split("=")[1].split("(")[0])


def weight_sent(params: dict[str, Any], edge: str) -> float:
    """The engine's value of ``edge`` ("L2.W.3.1") in a params dict."""
    layer, _, i, j = edge.split(".")
    return float(params[f"{layer}.W"][int(i)][int(j)])


def params_at(lab: Lab, iteration: int) -> dict[str, Any]:
    """The weights after ``iteration`` iterations, as the engine sent them."""
    update = lab.last("frame", iteration=iteration - 1, phase="update")["values"]
    return {k: v for k, v in update.items() if k.startswith("L") and k.endswith((".W", ".b"))}


def test_a_reset_keeps_the_run_and_one_click_brings_it_back(lab: Lab) -> None:
    page = lab.page
    for _ in range(3):
        lab.step("iteration")
    for _ in range(3):
        lab.step()
    page.click(".tl-back-phase")  # iteration 3, loss done: backward next (computed once)
    at(lab, 3, "backward")
    lab.settled()
    before = numbers(lab)
    first = frames_by_key(lab)
    assert not page.is_visible(RUNS)  # nothing earlier yet: the panel takes no room

    mark = lab.mark()
    page.click(".btn-reset")  # not shared: no question asked
    run = lab.wait_for_message("run", after=mark)
    at(lab, 0, "forward")
    assert not page.is_visible(CONFIRM)
    assert [r["iterations"] for r in run["runs"]] == [3]
    page.wait_for_selector(f"{RUNS} .runs-item")
    item = lab.text(f"{RUNS} .runs-item")
    assert "XOR · " in item and "3 iterations" in item, item
    lab.step("iteration")  # the new run moves on on its own

    mark = lab.mark()
    page.click(f"{RUNS} .runs-item[data-run='{run['runs'][0]['id']}']")
    back = lab.wait_for_message("run", after=mark)
    at(lab, 3, "backward")
    lab.settled()
    # the run left by the click is in the list now, one click away in turn
    assert [r["iterations"] for r in back["runs"]] == [1]
    assert page.locator(f"{RUNS} .runs-item").count() == 1
    assert numbers(lab) == before
    got = frames_by_key(lab, mark)
    assert {k: got[k] for k in ((3, "forward"), (3, "loss"))} == {
        k: first[k] for k in ((3, "forward"), (3, "loss"))}
    # and it goes on exactly as it would have
    mark = lab.mark()
    lab.step()
    assert frames_by_key(lab, mark)[(3, "backward")] == first[(3, "backward")]
    assert lab.errors == []


def test_earlier_runs_that_differ_only_in_a_setting_say_which_and_their_number(
        lab: Lab) -> None:
    """Runs that differ only in their initialization and normalization read
    differently in the list (they were three identical rows), each under the number the
    charts' "Compare with" menu gives it; a normalization of none is named as such."""
    from tests.browser.test_charts import configure

    configure(lab, init="xavier_uniform")
    lab.step("iteration")
    configure(lab, init="he_normal")
    lab.step("iteration")
    run = configure(lab, init="he_normal", norm="batch")
    page = lab.page
    page.wait_for_function(f"n => document.querySelectorAll('{RUNS} .runs-item').length === n",
                           arg=len(run["runs"]))
    lab.settled()
    rows = page.eval_on_selector_all(f"{RUNS} .runs-text", "els => els.map(e => e.textContent)")
    assert len(set(rows)) == len(rows) == 2, rows  # (a run of no iteration is not kept)
    for r, text in zip(run["runs"], rows, strict=True):
        assert text.startswith(f"Run {r['id']} · XOR · "), text
    assert any("Normalization: none" in t for t in rows), rows
    # a learner's file and their own points are data, not words: never said in a row
    # (they read "table [object Object]" and every point's coordinates)
    said = page.evaluate("""async (runs) => {
        const { differing, runSummary } = await import('/static/js/views/runs-menu.js');
        const { I18n } = await import('/static/js/i18n.js');
        const i18n = new I18n('en');
        await i18n.load('en');
        await i18n.need('later');  // (the views' own words: runs-menu.js loads them)
        const base = runs[0].settings;
        const csv = { ...base, dataset: 'own', table: { labels: ['a', 'b'] } };
        const pts = { ...base, dataset: 'custom', points: [[0.1, 0.2, 1], [0.3, 0.4, 0]] };
        const list = [{ id: 7, iterations: 3, settings: csv },
                      { id: 8, iterations: 2, settings: pts }];
        return list.map((r) => runSummary(i18n, r, differing(list, runs[0].settings)));
    }""", run["runs"])
    assert not any("object" in r or "0.1" in r or "table" in r for r in said), said
    assert lab.errors == []


def test_earlier_runs_name_their_numeric_settings_in_the_readers_words(make_lab: Any) -> None:
    """Runs that differ in a number or a switch (the batch, the initialization's scale, the
    seed) say it by the setting's words in the page's language: a Japanese page read
    "init_scale 1 · batch_size 0", ids and a 0 that means the whole training set."""
    from tests.browser.test_charts import configure

    lab = make_lab(locale="ja-JP").open()
    configure(lab, batch_size=0, init_scale=1.0)
    lab.step("iteration")
    configure(lab, batch_size=10, init_scale=1.0, seed=3)
    lab.step("iteration")
    run = configure(lab, batch_size=1, init_scale=0.5, seed=3)
    page = lab.page
    page.wait_for_function(f"n => document.querySelectorAll('{RUNS} .runs-item').length === n",
                           arg=len(run["runs"]))
    lab.settled()
    rows = page.eval_on_selector_all(f"{RUNS} .runs-text", "els => els.map(e => e.textContent)")
    assert len(rows) == 2, rows
    by_batch = {r["settings"]["batch_size"]: text
                for r, text in zip(run["runs"], rows, strict=True)}
    assert "フルバッチ" in by_batch[0] and "初期化の大きさ 1" in by_batch[0], by_batch
    assert "バッチ 10" in by_batch[10], by_batch
    for text in rows:
        assert not re.search(r"[a-z]+_[a-z]+|\bseed\b", text), text
    # in English, the same rows in short words
    page.click(".lang-btn[data-lang='en']")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    lab.settled()
    rows = page.eval_on_selector_all(f"{RUNS} .runs-text", "els => els.map(e => e.textContent)")
    assert any("full batch" in t and "init scale 1" in t for t in rows), rows
    assert any("batch 10" in t for t in rows), rows
    assert lab.errors == []


def test_earlier_runs_are_named_by_what_tells_them_apart_in_the_pages_words(
        lab: Lab) -> None:
    """Two runs that differ from the run shown alike (4-4, no normalization, SGD) and
    from each other in their rate read "Run 2 · …" twice before: the rate comes first
    now. A schedule is its name and only the parameters that tell it from another of
    its kind, by their labels ("一定 step_size 100 gamma 0.5 t_max 1000 …" on a Japanese
    page before)."""
    got = lab.page.evaluate("""async () => {
        const { compareLabel } = await import('/static/js/views/chart-compare.js');
        const { runSummary, differing } = await import('/static/js/views/runs-menu.js');
        const { I18n } = await import('/static/js/i18n.js');
        const out = {};
        for (const lang of ['en', 'ja']) {
          const i18n = new I18n(lang);
          await i18n.load(lang);
          await i18n.need('later');
          const sched = (name, gamma) => ({ name, step_size: 100, gamma, t_max: 1000,
                                           eta_min: 0, warmup: 0, warmup_start: 0.1 });
          const base = { dataset: 'xor', hidden: [8], norm: 'batch', optimizer: { name: 'adam' },
                         lr: 0.03, schedule: sched('constant', 0.5) };
          const mine = { ...base };
          const a = { ...base, hidden: [4, 4], norm: 'none', optimizer: { name: 'sgd' }, lr: 0.3 };
          const b = { ...a, lr: 0.03 };
          const c = { ...base, schedule: sched('step', 0.1) };
          const d = { ...base, schedule: sched('step', 0.5) };
          const runs = [a, b, c, d].map((settings, i) => ({ id: i + 2, iterations: 5, settings }));
          out[lang] = {
            compare: runs.map((r) => compareLabel(i18n, { run: r.id }, { runs, config: mine })),
            rows: runs.map((r) => runSummary(i18n, r, differing(runs, mine),
                                             [...runs.map((x) => x.settings), mine])),
          };
        }
        return out;
    }""")
    en, ja = got["en"], got["ja"]
    first, second = (c.split(" · ", 1)[1] for c in en["compare"][:2])
    assert first != second and "lr 0.3" in first, en["compare"]
    assert en["compare"][2].endswith("Step (Decay factor γ 0.1)"), en["compare"]
    assert "0.5" in en["compare"][3]
    for text in [*en["compare"], *en["rows"], *ja["compare"], *ja["rows"]]:
        assert not re.search(r"step_size|gamma|t_max|eta_min|warmup", text), text
    assert any("減衰率 γ 0.1" in t for t in ja["compare"]), ja["compare"]
    assert len(set(ja["rows"])) == len(ja["rows"]), ja["rows"]
    assert lab.errors == []


def test_a_teacher_sharing_confirms_before_the_class_run_changes(make_lab: Any) -> None:
    teacher = make_lab().open()
    page = teacher.page
    for _ in range(2):
        teacher.step("iteration")
    code = share(teacher)
    page.click(".share-close")
    page.wait_for_selector("dialog.share-dialog", state="hidden")

    # Reset: asked first, Cancel has the keyboard, and Cancel changes nothing
    mark = teacher.mark()
    page.click(".btn-reset")
    page.wait_for_selector(f"{CONFIRM}[open]")
    assert "class" in teacher.text(CONFIRM).lower()
    shot(teacher, "confirm-class")
    assert page.evaluate("() => document.activeElement.classList.contains('confirm-cancel')")
    page.click(".confirm-cancel")
    page.wait_for_selector(CONFIRM, state="hidden")
    teacher.sync()
    assert teacher.messages("run")[-1] is teacher.last("run")
    assert [m for m in teacher.received[mark:] if m.get("type") in ("run", "timeline")] == []
    at(teacher, 2, "forward")
    assert not page.is_visible(RUNS)

    # the R key asks too; Escape is a no
    page.locator("body").focus()
    page.keyboard.press("r")
    page.wait_for_selector(f"{CONFIRM}[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector(CONFIRM, state="hidden")
    # a new setting asks too; cancelled, the menu shows the run's setting again
    page.select_option("#ctl-dataset", "circle")
    page.wait_for_selector(f"{CONFIRM}[open]")
    assert "new run" in teacher.text(f"{CONFIRM} .confirm-body")
    page.click(".confirm-cancel")
    page.wait_for_selector(CONFIRM, state="hidden")
    # (the menu is put back once the dialog's answer is read, just after it closes)
    page.wait_for_function("() => document.querySelector('#ctl-dataset').value === 'xor'",
                           timeout=5000)
    assert page.input_value("#ctl-dataset") == "xor"
    teacher.sync()
    assert [m for m in teacher.received[mark:] if m.get("type") in ("run", "timeline")] == []
    assert teacher.last("share")["code"] == code
    # so does opening a lesson (its run replaces the class's); cancelled, nothing is sent
    page.click(".lessons-btn")
    page.wait_for_selector("dialog.courses[open] .course-item")
    page.locator(".course-link").first.click()
    page.wait_for_selector(f"{CONFIRM}[open]")
    assert "lesson" in teacher.text(f"{CONFIRM} .confirm-body").lower()
    page.click(".confirm-cancel")
    page.wait_for_selector(CONFIRM, state="hidden")
    teacher.sync()
    assert [m for m in teacher.received[mark:]
            if m.get("type") in ("run", "timeline", "lesson_step")] == []

    # confirmed, the reset happens, and the run it replaced is kept
    mark = teacher.mark()
    page.click(".btn-reset")
    page.wait_for_selector(f"{CONFIRM}[open]")
    page.click(".confirm-ok")
    run = teacher.wait_for_message("run", after=mark)
    at(teacher, 0, "forward")
    assert [r["iterations"] for r in run["runs"]] == [2]
    page.wait_for_selector(f"{RUNS} .runs-item")
    # a reset at the run's very start changes nothing the class sees: not asked
    mark = teacher.mark()
    page.click(".btn-reset")
    teacher.wait_for_message("run", after=mark)
    assert not page.is_visible(f"{CONFIRM}[open]")
    # going back to it is asked too (the class's run changes again)
    page.focus(f"{RUNS} .runs-item")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{CONFIRM}[open]")
    mark = teacher.mark()
    page.click(".confirm-ok")
    teacher.wait_for_message("run", after=mark)
    at(teacher, 2, "forward")
    assert teacher.errors == []


def test_a_saved_run_opens_at_its_point_with_its_charts_and_numbers(
        lab: Lab, tmp_path: Path) -> None:
    page = lab.page
    lab.play_until("100", 90)  # past a checkpoint interval: the opened run is indexed
    branch_at(lab, 70)  # branch 1: another learning rate from iteration 70
    for _ in range(3):
        lab.step("iteration")  # each with its metrics point
    lab.step()
    lab.step()  # branch 1, iteration 73, loss done: backward next
    at(lab, 73, "backward")
    mark = lab.mark()
    lab.step()  # its backward, for comparing after the reopen, then back before it
    backward = frames_by_key(lab, mark)[(73, "backward")]
    back = lab.mark()
    page.click(".tl-back-phase")
    lab.wait_for_message("state", after=back)
    at(lab, 73, "backward")
    lab.settled()
    before = numbers(lab)
    # the frames the page shows there: iteration 73's forward and loss, sent in full
    # with the step back (iteration 73 of the first branch, played fast, was compact)
    first = frames_by_key(lab, back)
    loss_chart = lab.text(LOSS_CHART)
    with page.expect_download() as dl:
        page.click(".tl-save")
    path = tmp_path / "run.json"
    dl.value.save_as(path)
    saved = json.loads(path.read_text())
    assert saved["branch"] == 1 and saved["position"] == {"iteration": 73, "phase": "backward"}

    page.click(".btn-reset")  # a fresh run replaces it
    at(lab, 0, "forward")
    page.wait_for_selector(".bpl-chart[data-chart='loss'] .sr-only:has-text('Appears after')")

    mark = lab.mark()
    page.set_input_files("#tl-file", str(path))
    lab.wait_for_message("run", after=mark)
    at(lab, 73, "backward")  # where it was saved, not at iteration 0
    assert page.get_attribute(TIMELINE, "data-branch") == "1"
    assert page.get_attribute(".tl-branch[data-branch='1']", "aria-pressed") == "true"
    assert page.locator(".tl-branch").count() == 2
    got = frames_by_key(lab, mark)
    assert {k: got[k] for k in ((73, "forward"), (73, "loss"))} == {
        k: first[k] for k in ((73, "forward"), (73, "loss"))}
    # the charts come back once the run is indexed: the whole branch, from its first
    # iteration, and the numbers of the iteration shown with them
    series = lab.wait_for_message("metrics", after=mark, replace=True, timeout=30)
    its = [p["iteration"] for p in series["points"]]
    assert its[0] == 1 and its[-1] == 73, its
    lab.settled()
    assert lab.text(LOSS_CHART) == loss_chart
    assert "Appears after" not in lab.text(".bpl-chart[data-chart='accuracy'] .sr-only")
    assert numbers(lab) == before
    # stepping on gives the numbers first computed
    mark = lab.mark()
    lab.step()
    assert frames_by_key(lab, mark)[(73, "backward")] == backward
    assert lab.errors == []


def forget_session(lab: Lab, keep_copy: bool = True) -> int:
    """Reload the tab as if the server had lost its session (a restart): its hello names
    a session the server never had. The tab's copy of its run stays, or not. Returns a
    mark taken before the reload."""
    lab.page.evaluate("""keep => {
        sessionStorage.setItem('bpl.session', 'forgotten-by-the-server');
        if (!keep) sessionStorage.removeItem('bpl.runCopy');
    }""", keep_copy)
    mark = lab.mark()
    lab.page.reload()
    lab.wait_ready()
    return mark


def test_a_session_the_server_forgot_comes_back_from_the_tabs_copy(lab: Lab) -> None:
    page = lab.page
    for _ in range(5):
        lab.step("iteration")
    lab.step()  # iteration 5, forward done
    at(lab, 5, "loss")
    first = frames_by_key(lab)
    mark = forget_session(lab)
    lab.wait_for_message("run", after=mark, unknown_session=True)
    lab.wait_for_message("run", after=mark, unknown_session=False)
    at(lab, 5, "loss")
    page.wait_for_selector(".notice[data-tone='info']:not([hidden])")
    assert lab.text(".notice-text") == (
        f"Your run was restored at iteration 5 (the server no longer had it: {WHY})")
    got = frames_by_key(lab, mark)
    assert got[(5, "forward")] == first[(5, "forward")]
    # in Japanese too
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert "反復 5" in lab.text(".notice-text") and "復元" in lab.text(".notice-text")
    page.click(".lang-btn[data-lang='en']")

    # no copy (storage full, say): the run the address holds, and the page says so
    whole = "run=" in page.url  # the whole run (url-state.js), or its settings alone
    mark = forget_session(lab, keep_copy=False)
    lab.wait_for_message("run", after=mark, unknown_session=True)
    page.wait_for_selector(".notice:not([hidden])")
    assert lab.text(".notice-text") == f"The server no longer had your run ({WHY}): " + (
        "it is opened again from the address bar" if whole
        else "this is a new run, with the settings in the address")
    if whole:
        at(lab, 5, "loss")
    else:
        at(lab, 0, "forward")
    # an address with the settings alone: a new run with them
    config = lab.last("run")["config"]
    page.click(".btn-reset")
    at(lab, 0, "forward")
    mark = forget_session(lab, keep_copy=False)
    lab.wait_for_message("run", after=mark, unknown_session=True)
    page.wait_for_selector(".notice:not([hidden])")
    assert lab.text(".notice-text") == (
        f"The server no longer had your run ({WHY}): this is a new run, "
        "with the settings in the address")
    assert lab.last("run")["config"] == config
    assert lab.errors == []


def test_the_runs_menu_and_the_restore_notice_read_in_both_languages(make_lab: Any) -> None:
    """What a user sees: the earlier runs under the timeline and the restore notice, on a
    desk (English, Japanese) and a phone; nothing scrolls sideways. Saved as
    docs/screenshots/runs-*.png and restored-*.png when refreshing."""
    for name, opts in (("desk", {"viewport": {"width": 1280, "height": 800}}),
                       ("phone", {**PHONE, "device_scale_factor": 2})):
        width, height = (1280, 800) if name == "desk" else (390, 844)
        lab = make_lab(**opts).open()
        page = lab.page
        for _ in range(3):
            lab.step("iteration")
        mark = lab.mark()
        page.click(".btn-reset")
        lab.wait_for_message("run", after=mark)
        lab.play_until("30", 12)
        mark = lab.mark()
        page.select_option("#ctl-activation", "relu")
        lab.wait_for_message("run", after=mark)
        lab.step("iteration")
        page.wait_for_selector(f"{RUNS} .runs-item >> nth=1")
        for lang in ("en", "ja"):
            page.click(f".lang-btn[data-lang='{lang}']")
            page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
            items = page.locator(f"{RUNS} .runs-item").all_inner_texts()
            assert len(items) == 2, items
            if lang == "en":
                assert "ReLU" not in items[0] and "tanh" in items[0] and " iterations" in items[0]
            else:
                assert "反復" in items[0] and "これまでの実行" in lab.text(f"{RUNS} h2")
            page.locator(RUNS).scroll_into_view_if_needed()
            page.mouse.move(0, 0)
            assert page.evaluate(NO_SIDEWAYS_SCROLL)
            box = page.locator(RUNS).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            if name == "desk" or lang == "en":
                shot(lab, f"runs-{name}-{lang}" if name == "desk" else "runs-phone")
        page.click(".lang-btn[data-lang='en']")
        forget_session(lab)
        page.wait_for_selector(".notice[data-tone='info']:not([hidden])")
        for lang in ("en", "ja"):
            page.click(f".lang-btn[data-lang='{lang}']")
            page.wait_for_function("l => document.documentElement.lang === l", arg=lang)
            page.evaluate("() => window.scrollTo(0, 0)")
            box = page.locator(".notice").bounding_box()
            assert box is not None and box["y"] < height / 3  # seen at once
            if name == "desk" or lang == "en":
                shot(lab, f"restored-{name}-{lang}" if name == "desk" else "restored-phone")
        assert lab.errors == []


def shot(lab: Lab, name: str) -> None:
    """A viewport-sized PNG (what the screen shows at once), once the page's
    animations (the gradient bars growing, a phase's flow) have ended."""
    lab.page.wait_for_function("() => document.getAnimations().length === 0", timeout=10_000)
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.screenshot(path=str(lab.shot_dir / f"{name}.png"))


KEEPER = """async () => {
  const { RunKeeper, COPY_KEY, CODE_KEY } = await import('/static/js/run-keeper.js');
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null,
    setItem: (k, v) => store.set(k, String(v)), removeItem: (k) => store.delete(k) };
  const sent = [];
  const keeper = new RunKeeper({ storage, send: (m) => sent.push(m) });
  const file = (n) => ({ format: 'backprop-lab-run', version: 2,
                         position: { iteration: n, phase: 'loss' } });
  const take = (msg) => { const r = keeper.take(msg); return [r.pass, r.event && r.event.kind]; };
  const out = {};
  out.own = [take({ type: 'run', session: 'A' }), take({ type: 'save', run: file(7) }),
             take({ type: 'share', code: 'K7Q2XM', key: 'q3Vb8Zr1TkP0xW2e' })];
  out.kept = JSON.parse(store.get(COPY_KEY));
  // the server forgot A: the copy goes back at once, the default run is held back
  out.unknown = take({ type: 'run', session: 'B', unknown_session: true });
  out.held = [take({ type: 'state' }), take({ type: 'save', run: file(0) }),
              take({ type: 'timeline' })];
  out.sentLoad = sent.splice(0);
  out.copyAfter = JSON.parse(store.get(COPY_KEY)).run.position.iteration;
  // the connection drops before the answer; the next run (B resumed) gets the copy again
  keeper.onStatus({ state: 'closed' });
  out.resumed = take({ type: 'run', session: 'B' });
  out.sentAgain = sent.splice(0).map((m) => m.type);
  out.restored = [take({ type: 'run', session: 'B' }), take({ type: 'frame' })];
  const tl = keeper.take({ type: 'timeline', iteration: 7, phase: 'loss' });
  out.event = tl.event;
  out.reshare = sent.splice(0);
  // B forgotten in turn, and this copy refused: the server's own run, said to be new
  take({ type: 'save', run: file(9) });
  take({ type: 'run', session: 'C', unknown_session: true });
  sent.splice(0);
  out.refused = [take({ type: 'error', code: 'invalid' }), take({ type: 'state' })];
  out.hello = sent.splice(0);
  out.lost = take({ type: 'run', session: 'C' });
  out.code = store.get(CODE_KEY) ?? null;
  // no copy at all: said at once
  store.delete(COPY_KEY);
  out.none = take({ type: 'run', session: 'D', unknown_session: true });
  out.noneSent = sent.length;
  // a copy too large for a load message (the server's max_message_bytes): not sent
  const big = { ...file(3), pad: 'x'.repeat(70000) };
  store.set(COPY_KEY, JSON.stringify({ session: 'D', run: big }));
  out.tooLarge = take({ type: 'run', session: 'E', unknown_session: true });
  out.tooLargeSent = sent.length;
  return out;
}"""


def test_the_keeper_restores_its_copy_or_says_it_could_not(lab: Lab) -> None:
    """run-keeper.js on its own, fed messages as main.js feeds it."""
    got = lab.page.evaluate(KEEPER)
    assert got["own"] == [[True, None]] * 3
    assert got["kept"]["session"] == "A" and got["kept"]["run"]["position"]["iteration"] == 7
    assert got["unknown"] == [False, None]
    assert got["held"] == [[False, None]] * 3
    assert got["sentLoad"] == [{"type": "load", "run": got["kept"]["run"]}]
    assert got["copyAfter"] == 7  # the default run's save did not replace the copy
    assert got["resumed"] == [False, None] and got["sentAgain"] == ["load"]
    assert got["restored"] == [[True, None], [True, None]]
    assert got["event"] == {"kind": "restored", "iteration": 7, "phase": "loss"}
    # with the share key: the class comes back even where another process holds the code
    assert got["reshare"] == [{"type": "share", "on": True, "code": "K7Q2XM",
                               "key": "q3Vb8Zr1TkP0xW2e"}]
    assert got["refused"] == [[False, None], [False, None]]
    assert got["hello"] == [{"type": "hello"}]
    assert got["lost"] == [True, "lost"] and got["code"] is None
    assert got["none"] == [True, "lost"] and got["noneSent"] == 0
    assert got["tooLarge"] == [True, "lost"] and got["tooLargeSent"] == 0


# ---- a server killed mid-run ----------------------------------------------------------

class Server:
    """A real server process of its own (not the shared fixture's): killed and started
    again on the same port by the test."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "w+")  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(uvicorn_command(self.port), cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_healthy(self.url, self.proc, timeout=30)
        except RuntimeError as e:
            log.seek(0)
            pytest.fail(f"{e}\n{log.read()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to any socket; every run in memory is gone."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("crash"))
    server.start()
    yield server
    server.stop()


def test_a_server_killed_mid_run_comes_back_with_the_pages_run(
        browser: Any, own_server: Server, tmp_path: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    ctx.add_init_script(CAPTURE_SOCKETS)
    try:
        lab = Lab(ctx.new_page(), own_server.url, tmp_path)
        lab.open("/?hidden=4,4&lr=0.1&seed=5")
        lab.wait_for_run(lr=0.1, seed=5)
        page = lab.page
        code = share(lab)  # a teacher's run: the class's link must keep working
        page.click(".share-close")
        lab.play_until("30", 25)
        lab.step()  # mid-iteration: forward done, loss next
        lab.settled()
        it = lab.last("state")["iteration"]
        at(lab, it, "loss")
        old = lab.last("run")
        params = params_at(lab, it)
        shown = {e: weight_shown(lab, e) for e in EDGES}
        for e in EDGES:
            assert abs(shown[e] - weight_sent(params, e)) < 6e-5
        before = numbers(lab)
        address = page.url
        page.evaluate(ADDRESS_LOG)

        own_server.kill()
        page.wait_for_selector(".conn[data-state='closed']")
        mark = lab.mark()
        own_server.start()
        # the page reconnects by itself; the server no longer knows its session
        lab.wait_for_message("run", after=mark, unknown_session=True, timeout=30)
        restored = lab.wait_for_message("run", after=mark, unknown_session=False, timeout=30)
        assert restored["config"] == old["config"]
        at(lab, it, "loss")
        page.wait_for_selector(".notice[data-tone='info']:not([hidden])")
        assert lab.text(".notice .notice-text") == (
            f"Your run was restored at iteration {it} (the server no longer had it: {WHY})")
        # the teacher asked for the class's code again, and has it
        assert lab.wait_for_message("share", after=mark)["code"] == code
        page.wait_for_selector(".share-btn.is-sharing")
        # the same weights, bit for bit from the engine, and on the page
        tl = lab.wait_for_message("timeline", after=mark, iteration=it)
        assert {k: v for k, v in tl["params"].items() if k in params} == params
        lab.settled()
        assert {e: weight_shown(lab, e) for e in EDGES} == shown
        page.mouse.move(0, 0)
        # the charts and the Numbers come back with the run (its metrics, recomputed)
        lab.wait_for_message("metrics", after=mark, replace=True)
        lab.settled()
        assert numbers(lab) == before
        # the address bar never showed the default run the server made meanwhile
        assert page.url == address
        assert set(page.evaluate("() => window.__addresses")) <= {address}
        # and it goes on: the next phase is the one the old server would have computed
        lab.step()
        assert lab.last("frame")["phase"] == "loss" and lab.last("frame")["iteration"] == it
        # (the socket's failed attempts while the server was down are the only errors)
        assert [e for e in lab.errors if "ERR_CONNECTION_REFUSED" not in e] == []
    finally:
        ctx.close()
