"""Every lesson of the course can be done, on the engine's own numbers.

Each lesson is driven headlessly through a real session, step by step, as a
page would: ``lesson`` open, the step's action done by the server's own
:meth:`~server.live.lessons.LessonDesk.perform` (the session's commands and
clock ticks), then ``lesson`` check with the author's answer (it must be
judged right on the live numbers) and with a wrong one (it must be judged
wrong). After each step every id and metric the step's expressions read must
exist for that lesson's network, and the step's goal must be reached.
Opening a step by a link (a jump) gives the same run as walking there.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import pytest

from server.lessons import Lesson, Step, course
from server.live.lessonvalues import shown
from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import Csv, LessonCommand
from server.run.history import drain
from server.settings import Settings

LESSONS = list(course())


def command(lesson: str, step: int, action: str = "open",
            prediction: str | float | None = None, lang: str = "en") -> LessonCommand:
    return LessonCommand(type="lesson", id=lesson, step=step, action=action,  # type: ignore[arg-type]
                         prediction=prediction, lang=lang)  # type: ignore[arg-type]


def answers(s: Session, ob: Outbox, msg: LessonCommand, kind: str) -> dict[str, Any]:
    """Apply ``msg`` and return the one ``kind`` message it answered (no error)."""
    ob.drain()
    drain(s.handle_pieces(msg))
    out = ob.drain()
    errors = [m for m in out if m["type"] == "error"]
    assert not errors, errors
    found = [m for m in out if m["type"] == kind]
    assert found, f"no {kind} among {[m['type'] for m in out]}"
    return found[-1]


def wrong_answer(step: Step, check: dict[str, Any]) -> str | float:
    p = step.prediction
    assert p is not None
    if p.kind == "choice":
        return next(c.id for c in p.choices if c.id != check["expected"])
    actual = check["actual"]
    tol = max(p.tolerance, p.relative * abs(actual))
    return actual + 3 * tol + 1e-6


def unknown_names(step: Step, values: dict[str, Any]) -> list[str]:
    exprs = Lesson.expressions_of(step)
    return sorted({n for _, e in exprs for n in e.names if n not in values})


@cache
def walk(lesson_id: str) -> list[dict[str, Any]]:
    """Drive ``lesson_id`` to its end; per step what was seen."""
    lesson = course()[lesson_id]
    s = Session(Settings())
    ob = Outbox(100_000)
    s.attach(ob)
    seen: list[dict[str, Any]] = []
    for n, step in enumerate(lesson.steps, start=1):
        opened = answers(s, ob, command(lesson_id, n), "lesson_step")
        drain(s.lessons.perform(step.action))
        row: dict[str, Any] = {"step": step, "opened": opened,
                               "unknown": unknown_names(step, s.lessons.values()),
                               "weights": {k: v.copy() for k, v in s.stepper.net.params.items()},
                               "iteration": s.stepper.iteration}
        if step.prediction is not None:
            right = answers(s, ob, command(lesson_id, n, "check", step.prediction.expect),
                            "lesson_check")
            row["right"] = right
            row["wrong"] = answers(s, ob, command(lesson_id, n, "check",
                                                  wrong_answer(step, right)), "lesson_check")
        row["check"] = answers(s, ob, command(lesson_id, n, "check"), "lesson_check")
        seen.append(row)
    return seen


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_every_id_a_check_reads_exists_for_the_lessons_network(lesson_id: str) -> None:
    for row in walk(lesson_id):
        assert not row["unknown"], (f"{lesson_id}/{row['step'].id} reads ids this network "
                                    f"does not have: {row['unknown']}")


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_the_authors_answer_is_right_on_the_live_numbers_and_a_wrong_one_is_not(
        lesson_id: str) -> None:
    asked = 0
    for row in walk(lesson_id):
        if "right" not in row:
            continue
        asked += 1
        where = f"{lesson_id}/{row['step'].id}"
        right, wrong = row["right"], row["wrong"]
        assert right["verdict"] == "right", (where, right)
        assert wrong["verdict"] == "wrong", (where, wrong)
        assert isinstance(right["actual"], float) and math.isfinite(right["actual"])
        assert right["explanation"] and "{actual}" not in right["explanation"]
    assert asked >= 2, f"{lesson_id} asks fewer than two predictions"


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_every_step_reaches_its_goal(lesson_id: str) -> None:
    for n, row in enumerate(walk(lesson_id), start=1):
        assert row["opened"]["step"] == n and row["opened"]["id"] == lesson_id
        check = row["check"]
        assert check["done"], f"{lesson_id}/{row['step'].id}: goal not reached: {check}"
        assert all(v is not None for v in check["values"].values()), check["values"]


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_a_link_to_the_last_step_opens_the_run_the_walk_reaches(lesson_id: str) -> None:
    """/?lesson=ID&step=N: opening the last step directly rebuilds the run as walking
    there left it before its action (the same weights, the same iteration)."""
    lesson = course()[lesson_id]
    n = len(lesson.steps)
    walked = walk(lesson_id)
    s = Session(Settings())
    ob = Outbox(100_000)
    s.attach(ob)
    answers(s, ob, command(lesson_id, n), "lesson_step")
    before = walked[n - 2] if n > 1 else None
    if before is not None and lesson.steps[n - 1].preset is None:
        assert s.stepper.iteration == before["iteration"]
        for k, W in before["weights"].items():
            assert (s.stepper.net.params[k] == W).all(), k


# ---- a lesson on the learner's own table (own-data) ----------------------------------------

MINE = "rating,price,bought\n" + "".join(  # (a price in the hundreds beside 1 to 5 stars)
    f"{1 + (i * 7) % 5},{100 + (i * 37) % 800},"
    f"{'yes' if (i * 7) % 5 * 150 > (i * 37) % 800 else 'no'}\n" for i in range(48))


def send_csv(s: Session, ob: Outbox, text: str) -> list[dict[str, Any]]:
    ob.drain()
    drain(s.handle_pieces(Csv(type="csv", text=text, name="mine.csv")))
    return ob.drain()


def test_the_learners_own_csv_in_the_csv_step_is_the_run_the_lesson_goes_on_with() -> None:
    s = Session(Settings())
    ob = Outbox(100_000)
    s.attach(ob)
    answers(s, ob, command("own-data", 1), "lesson_step")
    assert s.config.table is not None and s.config.table.columns == ("study_minutes", "sleep_hours")
    # a bad file: the row and column named, the lesson and its run as they were
    run = s.history
    out = send_csv(s, ob, "rating,price,bought\n3,400,yes\n4,lots,no\n")
    assert [(m["code"], m["reason"], m["row"], m["column"]) for m in out
            if m["type"] == "error"] == [("csv", "not_a_number", 3, 2)]
    assert s.history is run and s.lessons.n == 1
    # the learner's file: a run on it, with the lesson's settings, checked as the step's
    out = send_csv(s, ob, MINE)
    assert [m["type"] for m in out if m["type"] in ("run", "lesson_check")] == [
        "run", "lesson_check"]
    assert s.config.table is not None and s.config.table.columns == ("rating", "price")
    assert (s.config.standardize, s.config.hidden, s.config.lr) == (False, (4,), 0.1)
    check = next(m for m in out if m["type"] == "lesson_check")
    assert check["values"]["raw_spread"][1] > 100 * check["values"]["raw_spread"][0]
    mine = s.history
    # the next steps go on with it: the same run, then a new one on the same table
    answers(s, ob, command("own-data", 2), "lesson_step")
    assert s.history is mine
    drain(s.lessons.perform(course()["own-data"].steps[1].action))
    # judged on this table's numbers: prices in the hundreds saturate every unit for every
    # row (|z| > 20, tanh' = 0 in floating point), so no gradient flows at all
    right = answers(s, ob, command("own-data", 2, "check", "none"), "lesson_check")
    assert right["verdict"] == "right" and right["actual"] == 0
    assert right["values"]["saturated[0]"] == 1.0
    # said as that answer says it: both exactly 0, not "0 times the smallest's" (0 / 0)
    assert "times" not in right["explanations"]["en"]
    assert right["explanations"]["en"].startswith("Both columns' gradients are exactly 0")
    assert "a fraction 1 of the hidden layer" in right["explanations"]["en"]
    assert right["explanations"]["ja"].startswith("どちらの列の勾配も、ちょうど 0")
    assert "倍" not in right["explanations"]["ja"]
    for n in (3, 4):
        answers(s, ob, command("own-data", n), "lesson_step")
        drain(s.lessons.perform(course()["own-data"].steps[n - 1].action))
    assert s.history is not mine and s.config.standardize
    assert s.config.table is not None and s.config.table.columns == ("rating", "price")
    assert s.lessons.values()["prev_iteration"] >= 300


def test_a_link_to_the_last_step_keeps_a_table_loaded_before_and_knows_the_run_before() -> None:
    """A CSV loaded on the page, then a link to the lesson's last step: the rebuilt runs
    are on that table, and the step's comparison with the raw run (prev_test_loss) reads
    the raw run the rebuild played to its goal."""
    s = Session(Settings())
    ob = Outbox(100_000)
    s.attach(ob)
    send_csv(s, ob, MINE)
    answers(s, ob, command("own-data", 5), "lesson_step")
    assert s.config.table is not None and s.config.table.columns == ("rating", "price")
    assert s.config.standardize and s.stepper.iteration == 0
    values = s.lessons.values()
    assert values["prev_iteration"] >= 300 and values["prev_test_loss"] > 0
    assert list(values["spread"]) == pytest.approx([1.0, 1.0])


def test_an_explanation_names_the_numbers_it_compares_by_their_values() -> None:
    """The last own-data step compares the standardised run's test loss with the raw run's:
    its explanation read "(the raw run's is prev_test_loss)", a name where the number
    belongs. A ``{name}`` in an explanation is now its value, written as the page writes
    the revealed one beside it, in every language."""
    s = Session(Settings())
    ob = Outbox(100_000)
    s.attach(ob)
    answers(s, ob, command("own-data", 5), "lesson_step")
    drain(s.lessons.perform(course()["own-data"].steps[4].action))
    got = answers(s, ob, command("own-data", 5, "check", "standardised"), "lesson_check")
    raw = got["values"]["prev_test_loss"]
    assert raw > got["actual"] > 0 and got["verdict"] == "right"
    assert got["explanations"]["en"] == (f"The standardised run's test loss is "
                                         f"{shown(got['actual'])} (the raw run's is {shown(raw)}).")
    assert f"（標準化なしは {shown(raw)}）" in got["explanations"]["ja"]
    # an explanation's names are among the lesson's expressions, which the course's checks
    # compute on the live numbers (a name misspelt in a lesson file fails them)
    named = [w for w, _ in course()["own-data"].expressions() if " explain " in w]
    assert named == (["own-data/raw-gradient choice none explain {saturated[0]}"] * 2
                     + ["own-data/standardised-training explain {prev_test_loss}"] * 2), named
