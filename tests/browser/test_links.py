"""Links and numbers a learner can trust, in real Chromium against a real server.

A link made after a mid-run change, a hand edit and a branch opens the same run at
the same point in another browser; a link opens with its own settings whatever the
tab ran before; a run too long for a link says so and offers the run file; two
viewers of one point read the same numbers under the same label; the banner, the
Numbers panel and the timeline count iterations alike (the first is iteration 1),
and the help says so; going past the run's end says where it ends; an error's
details are readable on a phone, without hovering.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from tests.browser.conftest import Lab
from tests.browser.test_follow import PHONE, share
from tests.browser.test_inspector import PANEL, open_inspector, wait_since
from tests.browser.test_playback import TIMELINE, at, branch_at, open_more

NUMBERS = ("#stat-iteration", "#stat-epoch", "#stat-batch-loss", "#stat-train-loss",
           "#stat-test-loss", "#stat-train-acc", "#stat-test-acc", "#stat-at")


def numbers(lab: Lab) -> dict[str, str]:
    """What the Numbers panel says, as text."""
    return {s: lab.text(s).strip() for s in NUMBERS}


def frames_by_key(lab: Lab, start: int = 0) -> dict[tuple[int, str], Any]:
    """Frames received since ``start`` by (iteration, phase): the latest one wins."""
    return {(m["iteration"], m["phase"]): m["values"] for m in lab.received[start:]
            if m.get("type") == "frame"}


def wait_link(lab: Lab, kind: str) -> str:
    """The address once the page has written a link of ``kind`` for the run as it is
    now (after the server's latest ``save``)."""
    lab.settled()
    lab.page.wait_for_function(
        "k => document.querySelector('.tl-link')?.dataset.kind === k", arg=kind)
    return str(lab.page.evaluate("() => location.href"))


def apply_lr_here(lab: Lab, lr: str) -> None:
    """"Apply from here" with another learning rate (at the run's end: no branch)."""
    open_more(lab)
    lab.page.select_option("#tl-lr", lr)
    mark = lab.mark()
    lab.page.click(".tl-apply")
    lab.wait_for_message("timeline", after=mark)


def edit_weight(lab: Lab, element: str, value: float) -> None:
    """Set one weight by hand in the inspector, and close it."""
    open_inspector(lab, element, id="L3.W")
    lab.page.fill(f"{PANEL} .bpl-insp-edit input", str(value))
    start = lab.mark()
    lab.page.click(f"{PANEL} .bpl-insp-edit button[type='submit']")
    wait_since(lab, start, "edit", applied=True, value=value)
    start = lab.mark()
    lab.page.click(f"{PANEL} .bpl-insp-close")
    wait_since(lab, start, "inspect", id=None)


# ---- 3: a shared link after a branch opens the same run ---------------------------------


def test_a_link_after_a_change_an_edit_and_a_branch_opens_the_same_run_at_the_same_point(
        make_lab: Any) -> None:
    a = make_lab().open()
    page = a.page
    for _ in range(3):
        a.step("iteration")
    apply_lr_here(a, "0.3")  # a mid-run change at the end: the same branch
    for _ in range(2):
        a.step("iteration")
    edit_weight(a, "L3.W.2.0", 1.25)  # a hand edit after iteration 5
    for _ in range(2):
        a.step("iteration")
    tl = branch_at(a, 6)  # a branch from the past: another lr from iteration 7 on
    assert len(tl["branches"]) == 2
    for _ in range(2):
        a.step("iteration")
    a.step()
    a.step()  # mid-iteration: forward and loss of the 9th iteration done
    at(a, 8, "backward")
    url = wait_link(a, "run")
    query = parse_qs(urlparse(url).query)
    assert list(query) == ["run"], query  # the whole run, not its settings alone
    sent = numbers(a)
    assert sent["#stat-iteration"] == "9"
    sender = frames_by_key(a)
    markers = a.last("timeline")["markers"]
    assert {m["kind"] for m in markers} >= {"set", "edit"}
    # the page offers the link and says what it holds
    assert page.input_value("#tl-link") == url
    assert "opens it at iteration 9" in a.text(".tl-link-note")

    b = make_lab()
    b.page.goto(url)
    b.wait_ready()
    at(b, 8, "backward")
    # a loaded run's metrics come once the server has replayed (indexed) it
    b.page.wait_for_function("() => document.querySelector('#stat-at').textContent !== ''")
    b.settled()
    assert numbers(b) == sent  # iteration, epoch, batch loss, train/test and their label
    got = frames_by_key(b)
    for key in [(8, "forward"), (8, "loss")]:
        assert got[key] == sender[key], key  # bit-identical: the same weights, edit included
    tl_b = b.last("timeline")
    # the weights in use (sent with the opened run's first timeline): those the sender's
    # last update gave, the hand edit upstream of them
    params = [m["params"] for m in b.messages("timeline") if "params" in m][-1]
    for key in ("L1.W", "L3.W", "L3.b"):
        assert params[key] == sender[(7, "update")][key], key
    assert tl_b["branch"] == 1 and len(tl_b["branches"]) == 2
    assert tl_b["markers"] == markers and tl_b["settings"] == a.last("timeline")["settings"]
    assert b.page.locator(".tl-branch").count() == 2
    # and its address is the same link (a reload of it resumes this run)
    assert parse_qs(urlparse(wait_link(b, "run")).query).keys() == {"run"}
    # one more step on both: the same next phase, bit for bit
    a.step()
    b.step()
    assert frames_by_key(b)[(8, "backward")] == frames_by_key(a)[(8, "backward")]
    assert a.errors == [] and b.errors == []


def test_a_run_too_long_for_a_link_says_so_and_offers_the_run_file(make_lab: Any) -> None:
    a = make_lab().open()
    a.step("iteration")
    assert wait_link(a, "run")  # a position past the start is more than settings
    # 420 hand edits of random values: their run file no longer fits a link
    a.page.evaluate("""async () => {
        const ws = window.__sockets.at(-1);
        for (let k = 0; k < 420; k++) {
            const index = [Math.floor(Math.random() * 4), Math.floor(Math.random() * 4)];
            const value = Math.random() * 6 - 3;
            ws.send(JSON.stringify({type: 'edit', id: 'L2.W', index, value}));
            await new Promise((r) => setTimeout(r, 26));  // within the command rate
        }
    }""")
    a.sync()
    a.step("iteration")  # (the server sends the run's copy with the next timeline)
    url = wait_link(a, "too-long")
    note = a.text(".tl-link-note")
    assert "too long for a link" in note and "6,000" in note
    assert a.page.is_hidden(".tl-link-row")  # no link is offered...
    open_more(a)
    assert a.page.is_visible(".tl-link-save")  # ...the run file is
    with a.page.expect_download() as dl:
        a.page.click(".tl-link-save")
    assert dl.value.suggested_filename.endswith(".json")
    # the address holds the settings and says it is partial, never a run that is not this one
    query = parse_qs(urlparse(url).query)
    assert query["partial"] == ["1"] and "run" not in query and query["dataset"] == ["xor"]
    # whoever opens it is told
    b = make_lab().open(url[len(a.base_url):])
    expect(b.page.locator(".notice-text")).to_contain_text("holds only the run’s settings")
    assert a.errors == [] and b.errors == []


# ---- 4: a link always opens ------------------------------------------------------------


def test_a_link_opens_with_its_own_settings_in_a_tab_that_ran_sgd_with_momentum(
        make_lab: Any) -> None:
    lab = make_lab().open("/?opt=sgd&momentum=0.9&lr=0.1&seed=5")
    run = lab.wait_for_run(seed=5)
    assert run["config"]["optimizer"] == {"name": "sgd", "momentum": 0.9}
    lab.step("iteration")
    mark = lab.mark()
    lab.page.goto(lab.base_url + "/?opt=adam&lr=0.01&seed=5")  # the same tab
    lab.wait_ready()
    run = lab.wait_for_run(seed=5, lr=0.01)
    assert run["config"]["optimizer"] == {"name": "adam"}  # no momentum carried over
    lab.settled()
    lab.sync()
    errors = [m for m in lab.received[mark:] if m["type"] == "error"
              and "sync-marker" not in m["message"]]
    assert errors == []
    url = lab.page.url
    assert "opt=adam" in url and "momentum" not in url
    assert lab.errors == []


def test_an_error_notice_shows_its_details_on_a_phone_without_hovering(make_lab: Any) -> None:
    lab = make_lab(locale="ja-JP", **PHONE).open("/?lr=-1")  # out of range: the server says so
    page = lab.page
    err = lab.wait_for_message("error", after=0, code="invalid")
    notice = page.locator(".notice")
    expect(notice).to_be_visible()
    text = lab.text(".notice-text")
    assert "入力が正しくありません" in text and "マウス" not in text and "hover" not in text
    # the server's own sentence is a tap away, labelled in Japanese
    summary = page.locator(".notice-more summary")
    expect(summary).to_have_text("サーバーからの説明（英語）")
    summary.tap()
    expect(page.locator(".notice-server")).to_be_visible()
    server = lab.text(".notice-server")
    assert "out of range" in server and server == err["message"]
    lab.screenshot("links-notice-phone-ja")
    # an error without a field of its own reads the same way, and by keyboard too
    lab.sync()
    expect(page.locator(".notice-text")).not_to_contain_text("マウス")
    page.locator(".notice-more summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".notice-server")).to_contain_text("sync-marker")
    assert lab.errors == []


# ---- 6: numbers of the iteration shown, one way of counting -------------------------------


def test_two_viewers_at_the_same_iteration_read_the_same_numbers_under_the_same_label(
        make_lab: Any) -> None:
    teacher = make_lab().open()
    teacher.play_until("100", 60)  # fast play: metrics are sampled, not taken every iteration
    open_more(teacher)
    teacher.page.fill("#tl-jump", "37")
    mark = teacher.mark()
    teacher.page.click(".tl-go")
    teacher.wait_for_message("state", after=mark)
    at(teacher, 37, "forward")
    code = share(teacher)
    teacher.page.keyboard.press("Escape")
    student = make_lab(**PHONE)
    student.page.goto(f"{student.base_url}/?follow={code}")
    student.wait_ready()
    student.page.wait_for_selector(f"{TIMELINE}[data-iteration='37']")
    teacher.settled()
    student.settled()
    t, s = numbers(teacher), numbers(student)
    assert t["#stat-iteration"] == "37"
    assert t == s
    # the numbers say which iteration they were measured after: the latest point at or before
    points = [p["iteration"] for p in student.last("metrics")["points"] if p["iteration"] <= 37]
    label = t["#stat-at"]
    assert f"after iteration {max(points)}" in label, (label, points)
    assert "latest measured" in label if max(points) != 37 else "latest" not in label
    assert teacher.errors == [] and student.errors == []


def counts(lab: Lab) -> tuple[str, str, str]:
    """(banner, Numbers, timeline): the iteration each of them names."""
    lab.settled()
    banner = lab.text(".banner-title") + " " + lab.text(".banner-say")
    return banner, lab.text("#stat-iteration").strip(), lab.text(".tl-pos")


def test_banner_numbers_and_timeline_count_iterations_alike(lab: Lab) -> None:
    def check(n: int, total: int, epoch: int) -> None:
        banner, stat, pos = counts(lab)
        assert f"Iteration {n}" in banner, banner
        assert stat == str(n)
        assert pos.startswith(f"Iteration {n} of {total}"), pos
        assert lab.text("#stat-epoch").strip() == str(epoch)

    check(0, 0, 0)  # nothing has run yet
    lab.step()  # the first iteration's forward
    check(1, 1, 1)
    for _ in range(3):
        lab.step()  # ...through its update
    check(1, 1, 1)
    for _ in range(4):
        lab.step("iteration")
    check(5, 5, 1)
    lab.step()
    lab.step()  # the 6th iteration, forward and loss done
    check(6, 6, 1)
    for _ in range(5):
        lab.step("iteration")  # the rest of the 6th, then the 7th to the 10th
    check(10, 10, 1)
    lab.step()  # the 11th: its batch starts a second pass over the 100 training points
    check(11, 11, 2)
    # the help says how things are counted, in both languages
    lab.page.click(".help-btn")
    expect(lab.page.locator(".help-counting")).to_contain_text("count from 1")
    lab.page.keyboard.press("Escape")
    lab.page.click(".lang-switch [data-lang='ja']")
    lab.page.click(".help-btn")
    expect(lab.page.locator(".help-counting")).to_contain_text("1 から数えます")
    banner, _, pos = counts(lab)
    lab.page.keyboard.press("Escape")
    assert "反復 11" in banner and pos.startswith("反復 11 / 11")
    assert lab.errors == []


def test_going_to_an_iteration_past_the_end_says_where_the_run_ends(lab: Lab) -> None:
    for _ in range(3):
        lab.step("iteration")
    open_more(lab)
    lab.page.fill("#tl-jump", "918")
    mark = lab.mark()
    lab.page.click(".tl-go")
    expect(lab.page.locator(".tl-jump-note")).to_have_text(
        "This run so far ends at iteration 3: play or step to go further")
    lab.sync()
    assert not [m for m in lab.received[mark:] if m["type"] == "timeline"]  # nowhere to go
    # the last iteration itself is reachable, counted as shown: its update is the run's end
    lab.page.fill("#tl-jump", "3")
    lab.page.select_option("#tl-jump-phase", "loss")
    lab.page.click(".tl-go")
    at(lab, 2, "backward")
    assert lab.text(".tl-jump-note") == ""
    assert lab.text("#stat-iteration") == "3"
    assert lab.errors == []
