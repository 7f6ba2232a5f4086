"""A class answering its teacher's lesson step in real Chromium (docs/lessons.md, "In
class"): the teacher's page in Japanese, two students' pages in English. Each student
sends an answer (one changes theirs), sees it recorded and no verdict; the teacher's
panel counts the answers — no names — before revealing the result; at the reveal each
student sees their own verdict and the teacher's bars mark the right answer; a page
reloaded after the reveal is shown it again.
A number step: the bar of an answer within the tolerance is marked right at the reveal.
Screenshots of the teacher's panel with the counts on a desk and on a projector.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Lab
from tests.browser.test_follow import share
from tests.browser.test_lessons import LESSON, VERDICT, shoot, wait_step

BOX = f"{LESSON} .class-answers"
DESK = {"width": 1280, "height": 800}
PROJECTOR = {"width": 1920, "height": 1080}


def bars(lab: Lab) -> dict[str, int]:
    """The teacher's bars as shown: each row's words → its count."""
    return dict(lab.page.eval_on_selector_all(f"{BOX} .class-answers-row", """rows => rows.map(
        r => [r.querySelector('.class-answers-label').textContent.replace('✓', '').trim(),
              Number(r.querySelector('.class-answers-n').textContent)])"""))


def send(student: Lab, choice: str) -> None:
    """Pick ``choice`` and send it; wait until the page says it was recorded."""
    page = student.page
    mark = student.mark()
    page.click(f"{LESSON} .lesson-choice[data-choice='{choice}']")
    page.click(f"{LESSON} .lesson-check")
    student.wait_for_message("lesson_recorded", after=mark, prediction=choice)
    expect(page.locator(f"{LESSON} .lesson-recorded")).to_be_visible()


def test_the_teacher_sees_the_class_answers_counted_then_reveals_and_each_student_is_judged(
        make_lab: Any) -> None:
    teacher = make_lab(viewport=DESK, locale="ja-JP").open("/?lesson=one-neuron&step=3")
    tp = teacher.page
    wait_step(teacher, 3, "勾配の符号")
    code = share(teacher)
    tp.click(".share-close")
    students = [make_lab(viewport=DESK).open(f"/?follow={code}") for _ in range(3)]
    for s in students:
        wait_step(s, 3, "The gradient's sign")
        expect(s.page.locator(f"{LESSON} .lesson-check")).to_have_text("Send my answer")
    expect(tp.locator(f"{BOX} .class-answers-title")).to_have_text("クラスの回答：3人中0人")
    expect(tp.locator(f"{LESSON} .lesson-check")).to_have_text("結果を発表する")

    a, b, quiet = students  # (the third answers nothing)
    # in class a tap on a choice is the answer (the send button may be below a phone's
    # fold: the teacher counted nobody), marked as picked, not as right
    mark = a.mark()
    a.page.click(f"{LESSON} .lesson-choice[data-choice='neg']")
    a.wait_for_message("lesson_recorded", after=mark, prediction="neg")
    assert a.page.eval_on_selector(
        f"{LESSON} .lesson-choice[aria-pressed='true']",
        "b => getComputedStyle(b, '::before').content") == '"● "'
    send(a, "neg")
    send(b, "pos")
    send(b, "zero")  # changed: still one answer
    expect(b.page.locator(f"{LESSON} .lesson-recorded")).to_contain_text("Answer sent: zero")
    expect(tp.locator(f"{BOX} .class-answers-title")).to_have_text("クラスの回答：3人中2人")
    teacher.wait_until(lambda: bars(teacher) == {"正": 0, "ゼロ": 1, "負": 1}, 5,
                       f"the counts on the teacher's bars, not {bars(teacher)}")
    # a student's page reloaded (a phone's locked screen) sends its answer again: it is
    # still theirs, and still counted (it went with the page before)
    mark = b.mark()
    b.page.reload()
    wait_step(b, 3, "The gradient's sign")
    b.wait_for_message("lesson_recorded", after=mark, prediction="zero")
    expect(b.page.locator(f"{LESSON} .lesson-recorded")).to_contain_text("Answer sent: zero")
    expect(tp.locator(f"{BOX} .class-answers-title")).to_have_text("クラスの回答：3人中2人")
    teacher.wait_until(lambda: bars(teacher) == {"正": 0, "ゼロ": 1, "負": 1}, 5,
                       f"the counts after the reload, not {bars(teacher)}")
    for s in students:  # no verdict before the reveal, and no one else's answers
        assert s.page.locator(VERDICT).inner_text() == ""
        assert s.messages("lesson_check") == [] and s.messages("lesson_answers") == []
        assert s.page.locator(".class-answers").count() == 0
        assert s.page.is_hidden(f"{LESSON} .lesson-answer")  # the step's answer waits too

    # the counts before the teacher runs the backward phase, on a desk and a projector
    teacher.settled()
    shoot(teacher, "lesson-class-answers-desk")
    tp.set_viewport_size(PROJECTOR)
    tp.click(".present-btn")
    tp.wait_for_function("() => document.documentElement.classList.contains('present')")
    box = tp.locator(BOX).bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR["height"]
    title = tp.eval_on_selector(f"{BOX} .class-answers-title",
                                "el => parseFloat(getComputedStyle(el).fontSize)")
    assert title >= 24  # read from the back of the room
    shoot(teacher, "lesson-class-answers-projector")
    # a 720-line projector: the step's text scrolls, the answers and the reveal stay in sight
    tp.set_viewport_size({"width": 1280, "height": 720})
    teacher.settled()
    for sel in (f"{BOX} .class-answers-title", f"{LESSON} .lesson-check"):
        at = tp.locator(sel).bounding_box()
        assert at is not None and at["y"] >= 0 and at["y"] + at["height"] <= 720, (sel, at)
    title = tp.locator(f"{BOX} .class-answers-title").bounding_box()
    assert title is not None and title["height"] < 2 * 24 * 1.3  # one line
    # the question stands whole above the answers; the teacher's own choice buttons, half
    # covered by them, are gone (the class's rows name each choice); the students keep theirs
    question = tp.locator(f"{LESSON} .lesson-question").bounding_box()
    answers = tp.locator(BOX).bounding_box()
    assert question is not None and answers is not None
    assert question["y"] >= 0 and question["y"] + question["height"] <= answers["y"], (
        question, answers)
    expect(tp.locator(f"{LESSON} .lesson-choice").first).to_be_hidden()
    expect(a.page.locator(f"{LESSON} .lesson-choice").first).to_be_visible()
    teacher.step("phase")

    # the reveal (the teacher predicted nothing): each student is judged on their own answer
    marks = [s.mark() for s in students]
    tp.click(f"{LESSON} .lesson-check")
    mine = [s.wait_for_message("lesson_check", after=m, trigger="check", prediction=p)
            for s, m, p in zip((a, b), marks, ("neg", "zero"), strict=False)]
    assert [m["verdict"] for m in mine] == ["right", "wrong"]
    # the teacher has no answer to check: the button now shows the numbers again
    expect(tp.locator(f"{LESSON} .lesson-check")).to_have_text("数値を見る")
    for s, words in zip((a, b), ("Right!", "Not quite"), strict=True):
        s.settled()
        expect(s.page.locator(VERDICT)).to_contain_text(words)
        assert s.page.is_hidden(f"{LESSON} .lesson-recorded")
        assert s.page.is_visible(f"{LESSON} .lesson-answer")
    # the one who answered nothing reads the teacher's reveal in their own language
    quiet.wait_for_message("lesson_check", after=marks[2], trigger="check")
    expect(quiet.page.locator(f"{LESSON} .lesson-explain")).to_contain_text("The engine")
    assert not re.search("[ぁ-んァ-ン一-龥]", quiet.page.locator(f"{LESSON} .lesson-explain")
                         .inner_text())  # (it was the teacher's Japanese)
    # reloaded after the reveal (a phone's locked screen), the page is shown it again, not
    # asked for an answer as if nothing were revealed
    quiet.page.reload()
    wait_step(quiet, 3, "The gradient's sign")
    expect(quiet.page.locator(f"{LESSON} .lesson-explain")).to_contain_text("The engine")
    expect(quiet.page.locator(f"{LESSON} .lesson-answer")).to_be_visible()
    # and one who answered sees their own verdict again (it was lost with the page)
    b.page.reload()
    wait_step(b, 3, "The gradient's sign")
    expect(b.page.locator(VERDICT)).to_contain_text("Not quite")
    expect(tp.locator(f"{BOX} .class-answers-row.is-right")).to_contain_text("負")
    expect(tp.locator(f"{BOX} .class-answers-foot")).to_contain_text("2人中1人が正解")
    assert bars(teacher) == {"正": 0, "ゼロ": 1, "負": 1}  # as revealed
    # the answers, sticky at the column's foot, never slide over the lesson's name and
    # "Leave" (they did once the reveal made them tall), wherever the step is scrolled
    for end in ("top", "bottom"):
        tp.evaluate("""(end) => { const box = document.querySelector("[data-slot='lesson']");
            box.scrollTop = end === 'top' ? 0 : box.scrollHeight; }""", end)
        on_top = tp.evaluate("""(sel) => { const e = document.querySelector(sel);
            const r = e.getBoundingClientRect();
            const x = r.x + r.width / 2, y = r.y + r.height / 2;
            return e.contains(document.elementFromPoint(x, y)); }""", f"{LESSON} .lesson-leave")
        assert on_top, end
    shoot(teacher, "lesson-class-answers-revealed")
    # leaving the lesson would change every student's run: asked first (it was not)
    tp.click(f"{LESSON} .lesson-leave")
    expect(tp.locator("dialog.confirm-dialog[open] .confirm-body")).to_have_text(
        "レッスンを終えて、クラス全員の画面をレッスンの前の実行に戻しますか？")
    tp.click("dialog.confirm-dialog .confirm-cancel")
    expect(tp.locator(LESSON)).to_be_visible()
    # the teacher stops sharing: a student's lesson says the class is over, sends nothing
    tp.click(".share-btn")
    tp.click(".share-stop")
    expect(tp.locator(".confirm-body")).to_have_text(
        "参加中の 3 人との共有をやめますか？ 生徒の画面には「授業終了」と表示されます。")
    tp.click("dialog.confirm-dialog .confirm-ok")
    a.page.wait_for_selector(".follow-bar[data-status='stopped']")
    expect(a.page.locator(f"{LESSON} .lesson-class-note")).to_contain_text("The class is over")
    expect(a.page.locator(f"{LESSON} .lesson-check")).to_be_disabled()
    expect(a.page.locator(".conn")).to_have_text("Class over")
    assert teacher.errors == [] and a.errors == [] and b.errors == [] and quiet.errors == []


def test_a_number_answer_within_the_steps_tolerance_is_marked_right_on_the_teachers_bars(
        make_lab: Any) -> None:
    """A number step: each distinct answer is a bar; at the reveal the bar of an answer
    within the step's tolerance (0.62 for the engine's 0.6225, ± 0.01) is marked right, as
    that student's own verdict is, and the teacher reads how many were right."""
    teacher = make_lab(viewport=DESK).open("/?lesson=one-neuron&step=1")
    tp = teacher.page
    wait_step(teacher, 1, "Forward")
    code = share(teacher)
    tp.click(".share-close")
    students = [make_lab(viewport=DESK).open(f"/?follow={code}") for _ in range(2)]
    for s, value in zip(students, ("0.62", "0.5"), strict=True):
        wait_step(s, 1, "Forward")
        mark = s.mark()
        s.page.fill(f"{LESSON} .lesson-number", value)
        s.page.click(f"{LESSON} .lesson-check")
        s.wait_for_message("lesson_recorded", after=mark, prediction=float(value))
    expect(tp.locator(f"{BOX} .class-answers-title")).to_have_text("Class answers: 2 of 2")
    teacher.step("phase")
    marks = [s.mark() for s in students]
    tp.click(f"{LESSON} .lesson-check")
    mine = [s.wait_for_message("lesson_check", after=m, trigger="check", prediction=v)
            for s, m, v in zip(students, marks, (0.62, 0.5), strict=True)]
    assert [m["verdict"] for m in mine] == ["right", "wrong"]
    expect(tp.locator(f"{BOX} .class-answers-row.is-right")).to_have_count(1)
    expect(tp.locator(f"{BOX} .class-answers-row.is-right")).to_contain_text("0.62")
    expect(tp.locator(f"{BOX} .class-answers-foot")).to_contain_text(
        "1 of 2 chose the right answer")
    assert teacher.errors == [] and all(s.errors == [] for s in students)
