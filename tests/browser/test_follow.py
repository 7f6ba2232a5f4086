"""Class mode in real Chromium against a real server: a teacher shares the run
from the app bar's dialog, a student on a phone follows it live and read-only,
then makes a copy of their own; a wrong code leaves an ordinary run.

Two browser contexts are two people (their own sessionStorage, their own socket).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import expect

from tests.browser.conftest import Lab
from tests.browser.test_inspector import PANEL, click_element

CODE = re.compile(r"[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
ITERATION = "#stat-iteration"
#: what a follower must not be able to use (run buttons, settings, timeline)
LOCKED = (".btn-toggle-play", ".btn-step-phase", ".btn-step-iteration", ".btn-reset",
          "#ctl-speed", "#ctl-dataset", "#ctl-lr", ".tl-back-phase", ".tl-scrub")


def share(teacher: Lab) -> str:
    """Open "Class", start sharing and read the code the dialog shows (and its link)."""
    page = teacher.page
    page.click(".share-btn")
    page.wait_for_selector("dialog.share-dialog[open][data-sharing='off']")
    assert teacher.messages("share") == []  # opening it shares nothing: a student may join
    page.click(".share-start")
    page.wait_for_selector("dialog.share-dialog[open][data-sharing='on']")
    code = teacher.text(".share-code-text").strip()
    assert CODE.fullmatch(code), code
    assert page.input_value(".share-link") == f"{teacher.base_url}/?follow={code}"
    # served on 127.0.0.1 here: the dialog says students' devices cannot open that
    assert page.is_visible(".share-loopback")
    assert "HOST=0.0.0.0" in teacher.text(".share-loopback")
    assert page.evaluate("""async () => {
        const { isLoopback } = await import('/static/js/views/share-dialog.js');
        return ['localhost', '127.0.0.1', '[::1]', 'lab.localhost', '192.168.1.20',
                'lab.example.org', '10.0.0.127'].map(isLoopback);
    }""") == [True, True, True, True, False, False, False]
    assert teacher.last("share")["code"] == code
    return code


def iteration(lab: Lab) -> int:
    return int(lab.number(ITERATION))


def wait_iteration(lab: Lab, test: str, n: int, timeout_ms: int = 20_000) -> None:
    """Wait until the page's iteration counter satisfies ``<counter> <test> n``."""
    lab.page.wait_for_function(
        f"n => Number(document.querySelector('{ITERATION}').textContent) {test} n",
        arg=n, timeout=timeout_ms)


def wait_text(lab: Lab, selector: str, text: str) -> None:
    """Wait until ``selector``'s text is ``text``."""
    lab.page.wait_for_function(
        "([s, t]) => document.querySelector(s).textContent.trim() === t", arg=[selector, text])


def locked(lab: Lab) -> list[bool]:
    return [bool(lab.page.eval_on_selector(s, "el => el.matches(':disabled')")) for s in LOCKED]


def in_reach(lab: Lab, selector: str) -> bool:
    """Whether what a click at the middle of ``selector`` hits, as the window shows it now,
    is that element (nothing, such as the inspector's side sheet, lies over it)."""
    return bool(lab.page.eval_on_selector(selector, """el => {
        const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return r.width > 0 && el.contains(hit);
    }"""))


def shoot(lab: Lab, name: str) -> None:
    """A viewport-sized PNG (what a projector or a phone shows at once)."""
    lab.shot_dir.mkdir(parents=True, exist_ok=True)
    lab.page.screenshot(path=str(lab.shot_dir / f"{name}.png"))


def test_a_student_follows_the_teacher_live_then_makes_a_copy(make_lab: Any) -> None:
    teacher = make_lab().open()
    code = share(teacher)
    assert "0 following" in teacher.text(".share-count")
    assert teacher.text(".share-btn") == "Sharing · 0"

    student = make_lab(**PHONE).open(f"/?follow={code}")
    sp = student.page
    student.wait_for_message("follow", after=0, active=True, code=code)
    assert student.last("run")["session"] is None
    sp.wait_for_selector(".follow-bar:not([hidden])")
    assert f"Following class run {code}" in student.text(".follow-title")
    assert all(locked(student)), "a follower's controls must be disabled"
    assert sp.is_hidden(".share-btn")
    wait_text(teacher, ".share-count", "1 following")
    assert teacher.text(".share-btn") == "Sharing · 1"
    shoot(teacher, "share-dialog")
    teacher.page.click(".share-copy")  # to the clipboard, or selected for Ctrl+C where it is denied
    teacher.page.wait_for_selector(".share-copy-status:not(:empty)")

    # The teacher plays fast; the student's counter moves with it while the student's
    # buttons stay disabled, and keys that would send a command do nothing.
    tp = teacher.page
    tp.click(".share-close")
    teacher.page.select_option("#ctl-speed", "30")
    tp.click(".btn-toggle-play")
    wait_iteration(student, ">=", 8)
    assert all(locked(student))
    # no bar of run buttons the student cannot press at the bottom of the phone
    assert sp.is_hidden(".ctl-run .btn-row")
    assert sp.evaluate("getComputedStyle(document.body).paddingBottom") == "0px"
    shoot(student, "follow-phone")
    sp.locator("body").press("Space")
    sp.locator("body").press("r")
    assert "Make my own copy" in student.text(".notice-text")
    wait_iteration(student, ">=", 12)

    tp.click(".btn-toggle-play")
    tp.wait_for_selector(".btn-toggle-play[aria-pressed='false']")
    assert not teacher.last("state")["playing"]
    stop = teacher.last("state")["iteration"]
    # the class's last word is the paused state: every frame before it has arrived
    student.wait_for_message("state", after=0, playing=False, iteration=stop)
    student.settled()
    assert iteration(student) == stop == iteration(teacher)
    # the class's frames came packed (one binary message a tick, encoded once for all)
    assert student.binary_frames >= 4 and teacher.binary_frames >= 4
    assert teacher.last("frame", phase="update", iteration=stop - 1)["values"] == \
        student.last("frame", phase="update", iteration=stop - 1)["values"]
    assert all(m["type"] != "error" or m["code"] != "read_only" for m in student.received), \
        "the page never sends a follower's command"

    # A copy of their own: controls unlocked, at the teacher's iteration, no ?follow in the
    # address, its own session remembered; stepping it leaves the teacher's run alone.
    mark = student.mark()
    sp.dblclick(".follow-fork")  # a double tap asks once
    student.wait_for_message("follow", after=mark, active=False, reason="forked")
    own = student.wait_for_message("run", after=mark)
    assert own["session"] and own["session"] != teacher.last("run")["session"]
    sp.wait_for_selector(".follow-bar", state="hidden")
    student.settled()
    assert student.text(".notice-text").startswith("This is your own copy now")
    student.sync()  # whatever the page sent since has been answered...
    errors = [m for m in student.received[mark:] if m["type"] == "error"]
    assert [e for e in errors if "sync-marker" not in e["message"]] == []  # ...without error
    assert not any(locked(student))
    assert sp.is_visible(".ctl-run .btn-row")  # (its own run's buttons, back at the bottom)
    assert "follow" not in urlparse(sp.url).query
    assert sp.evaluate("sessionStorage.getItem('bpl.session')") == own["session"]
    assert iteration(student) == stop
    teacher_frames = len(teacher.messages("frame"))
    student.step("iteration")
    wait_iteration(student, "==", stop + 1)
    teacher.sync()  # a frame of the student's step, sent to the teacher, would be here now
    assert iteration(teacher) == stop
    assert len(teacher.messages("frame")) == teacher_frames

    # A reload resumes the copy, not the class run.
    sp.reload()
    student.wait_ready()
    sp.wait_for_selector(f"[data-slot='timeline'][data-iteration='{stop + 1}']")
    assert sp.is_hidden(".follow-bar")
    # the student left the class: the teacher's count says so, and still does after a reload
    wait_text(teacher, ".share-btn", "Sharing · 0")
    tp.reload()
    teacher.wait_ready()
    wait_text(teacher, ".share-btn", "Sharing · 0")
    tp.click(".share-btn")
    tp.wait_for_selector("dialog.share-dialog[open][data-sharing='on']")
    assert teacher.text(".share-code-text").strip() == code
    assert student.errors == [] and teacher.errors == []


def test_a_student_joins_by_code_sees_the_teachers_inspector_and_is_let_go(make_lab: Any) -> None:
    """Typed code (any case) in "Join a class"; the teacher's inspector shows on the
    student's page, whose own clicks open nothing; then the teacher stops sharing."""
    teacher = make_lab().open()
    code = share(teacher)
    teacher.page.click(".share-close")
    teacher.step("iteration")
    student = make_lab(locale="ja-JP").open()
    sp = student.page
    sp.click(".share-btn")
    sp.fill("#share-join-code", code.lower())
    sp.press("#share-join-code", "Enter")
    sp.wait_for_url(re.compile(rf"\?follow={code}$"))
    student.wait_ready()
    sp.wait_for_selector(".follow-bar[data-status='on']")
    assert code in student.text(".follow-title")

    click_element(teacher, "L2.W.1.0")
    sp.wait_for_selector(f"{PANEL}:not([hidden])")
    assert student.last("inspect")["id"] == "L2.W"
    assert sp.is_hidden(f"{PANEL} .bpl-insp-edit")  # no hand edits
    # the teacher's inspector (a side sheet on a desk) leaves the class's buttons in reach
    assert in_reach(student, ".follow-fork") and in_reach(student, ".follow-leave")
    mark = student.mark()
    click_element(student, "L1.a.0")
    expect(sp.locator(".notice-text")).to_contain_text("先生の実行を視聴中")  # said at once
    student.sync()  # an inspect the page sent would have been answered (read_only) by now
    got = [m for m in student.received[mark:] if m["type"] in ("inspect", "error")]
    assert [m for m in got if "sync-marker" not in m.get("message", "")] == []

    teacher.page.click(".share-btn")
    assert teacher.page.is_hidden(".share-join")  # sharing: no class to join
    # ending the class of one takes a yes; Cancel (the keyboard's first) keeps it
    teacher.page.click(".share-stop")
    teacher.page.wait_for_selector("dialog.confirm-dialog[open][data-action='unshare']")
    assert teacher.text(".confirm-body") == ("Stop sharing with the 1 following? Their pages "
                                             "will say the class is over.")
    focus = teacher.page.evaluate("document.activeElement.className")
    assert focus.startswith("btn confirm-cancel")
    teacher.page.keyboard.press("Enter")
    teacher.page.wait_for_selector("dialog.confirm-dialog", state="hidden")
    assert teacher.page.is_visible("dialog.share-dialog[data-sharing='on']")
    assert student.page.is_visible(".follow-bar[data-status='on']")
    teacher.page.click(".share-stop")
    teacher.page.click("dialog.confirm-dialog .confirm-ok")
    teacher.page.wait_for_selector("dialog.share-dialog[data-sharing='off']")
    assert teacher.page.evaluate("document.activeElement.className").startswith("btn share-start")
    sp.wait_for_selector(".follow-bar[data-status='stopped']")
    assert student.text(".follow-title") == "先生が共有を終了しました"
    assert code in student.text(".follow-note")  # rejoin with the same code
    assert all(locked(student))
    assert teacher.text(".share-btn") == "Class"
    # the student's page keeps the teacher's last state: no reconnect makes a run of its own,
    # and the header says the class is over, not that the connection failed
    sp.wait_for_selector(".conn[data-state='over']", timeout=5000)
    assert student.text(".conn") == "授業終了"

    # the teacher shares again: the same code, and Rejoin brings the class back
    teacher.page.click(".share-start")
    teacher.page.wait_for_selector("dialog.share-dialog[data-sharing='on']")
    assert teacher.text(".share-code-text").strip() == code
    assert teacher.page.evaluate("document.activeElement.className").startswith("btn share-copy")
    assert sp.is_visible(f"{PANEL}")  # the teacher's last inspector stays, beside Rejoin
    assert in_reach(student, ".follow-rejoin") and in_reach(student, ".follow-own")
    sp.click(".follow-rejoin")
    sp.wait_for_selector(".follow-bar[data-status='on']")
    teacher.page.click(".share-stop")
    teacher.page.click("dialog.confirm-dialog .confirm-ok")
    sp.wait_for_selector(".follow-bar[data-status='stopped']")

    sp.click(".follow-own")
    # the address no longer follows (the page's own run then writes its settings there)
    sp.wait_for_url(lambda url: "follow=" not in url)
    student.wait_ready()
    assert sp.is_hidden(".follow-bar")
    assert not any(locked(student))
    student.step()
    assert student.errors == [] and teacher.errors == []


def test_a_student_on_a_phone_closes_the_teachers_inspector_on_their_own_page(
        make_lab: Any) -> None:
    """The teacher's inspector is a sheet over a phone's lesson and buttons, and its × was
    hidden from a follower: no student could answer until the teacher closed it. Its ×
    closes it on the student's page only; it stays closed while the teacher inspects the
    same weight (each phase refreshes it) and opens again on the next one."""
    teacher = make_lab().open()
    code = share(teacher)
    teacher.page.click(".share-close")
    teacher.step("iteration")
    student = make_lab(viewport={"width": 390, "height": 844}, is_mobile=True,
                       has_touch=True, locale="ja-JP").open(f"/?follow={code}")
    sp = student.page
    sp.wait_for_selector(".follow-bar[data-status='on']")
    click_element(teacher, "L2.W.1.0")
    sp.wait_for_selector(f"{PANEL}:not([hidden])")
    mark = student.mark()
    sp.tap(f"{PANEL} .bpl-insp-close")
    sp.wait_for_selector(PANEL, state="hidden")
    student.sync()
    assert [m for m in student.received[mark:] if m["type"] == "error"
            and "sync-marker" not in m.get("message", "")] == []  # (nothing asked of the class)
    assert teacher.last("inspect")["id"] == "L2.W"  # the teacher's stays open
    mark = student.mark()
    teacher.step("phase")
    student.wait_for_message("inspect", after=mark, id="L2.W")
    student.settled()
    assert sp.is_hidden(PANEL)
    click_element(teacher, "L1.W.0.1")
    student.wait_for_message("inspect", after=mark, id="L1.W")
    sp.wait_for_selector(f"{PANEL}:not([hidden])")
    assert student.errors == [] and teacher.errors == []


def test_a_wrong_code_says_so_and_leaves_an_ordinary_run(make_lab: Any) -> None:
    lab = make_lab().open("/?follow=ZZZZZZ")
    page = lab.page
    err = lab.wait_for_message("error", after=0, code="unknown_code")
    assert err["field"] == "follow"
    page.wait_for_selector(".notice:not([hidden])")
    assert lab.text(".notice-text").startswith("No class is sharing with that code")
    assert lab.last("run")["session"]
    assert page.is_hidden(".follow-bar")
    assert not any(locked(lab))
    assert "follow" not in urlparse(page.url).query
    lab.step("iteration")
    wait_iteration(lab, "==", 1)
    page.click(".lang-btn[data-lang='ja']")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")  # its strings load
    assert lab.text(".notice-text").startswith("そのコードで共有しているクラスはありません")

    # Joining by typing a code in the dialog: a malformed one is refused in the page.
    page.click(".share-btn")
    page.fill("#share-join-code", "K7Q")
    page.click(".share-join-go")
    assert lab.text(".share-join-problem") == "コードは英数字6文字です（例: K7Q2XM）"
    assert lab.errors == []
