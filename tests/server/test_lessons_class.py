"""A class answering the teacher's lesson step (docs/lessons.md, "In class").

While the teacher's step asks a prediction, each student's answer is recorded, not
judged, and the teacher's page is sent the spread (``lesson_answers``: counts only,
a few a second at most); a changed answer counts once, a student who leaves no
longer counts, another step starts from nobody; the teacher's check carrying the
engine's value is the reveal, after which a student's check is judged. A student on
another worker (two apps on one in-memory bus, the relay Redis uses) counts too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.live.answers import INTERVAL_S, ClassAnswers, histogram
from server.live.bus import MemoryBus, MemoryHub
from server.protocol import LessonCommand
from server.settings import Settings
from tests.server.conftest import WS, Msg, attached_session, join, make_app, share

NOBODY = {"pos": 0, "zero": 0, "neg": 0}


def lesson(ws: WS, **fields: Any) -> None:
    ws.send({"type": "lesson", "id": "one-neuron", **fields})


def answer(ws: WS, prediction: Any, step: int = 3) -> Msg:
    """A student's answer; the ``lesson_recorded`` it gets."""
    lesson(ws, step=step, action="check", prediction=prediction)
    got = ws.recv_type("lesson_recorded")
    assert got["prediction"] == prediction and got["step"] == step
    return got


def answers(ws: WS, **want: Any) -> Msg:
    """The teacher's next ``lesson_answers`` whose fields have the values ``want``."""
    return ws.recv_type("lesson_answers",
                        where=lambda m: all(m[k] == v for k, v in want.items()))


def nothing_revealed(*students: WS) -> None:
    for s in students:
        s.handled()
        kinds = {m["type"] for m in s.seen}
        assert "lesson_check" not in kinds and "lesson_answers" not in kinds


@contextlib.contextmanager
def class_of_one() -> Iterator[tuple[WS, WS, TestClient]]:
    """A teacher's shared run and one student following it (and their client, for more
    sockets)."""
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2:
        teacher, student = WS(r1), WS(r2)
        teacher.hello()
        join(student, share(teacher))
        yield teacher, student, client


def test_two_students_answers_reach_the_teacher_as_counts_and_a_change_counts_once() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2, client.websocket_connect("/ws") as r3:
        teacher, s1, s2 = WS(r1), WS(r2), WS(r3)
        teacher.hello()
        code = share(teacher)
        join(s1, code)
        join(s2, code)
        teacher.recv_type("share", where=lambda m: m["followers"] == 2)
        lesson(teacher, step=3)
        first = answers(teacher)  # "0 of 2" as the step opens
        assert (first["step_id"], first["kind"], first["answered"], first["followers"],
                first["counts"]) == ("gradient-sign", "choice", 0, 2, NOBODY)
        answer(s1, "pos")
        answer(s2, "neg")
        answer(s1, "neg")  # changed: still one answer, now "neg"
        last = answers(teacher, answered=2, counts={"pos": 0, "zero": 0, "neg": 2})
        assert last["followers"] == 2 and last["bins"] is None
        # the students heard "recorded", no verdict and no counts
        nothing_revealed(s1, s2)
        # a withdrawn answer no longer counts; a wrong choice is refused by name
        answer(s2, None)
        answers(teacher, answered=1)
        lesson(s2, step=3, action="check", prediction="maybe")
        e = s2.error()
        assert e["field"] == "prediction" and "neg" in e["message"]
        # a student who leaves no longer counts
        r2.close()
        answers(teacher, answered=0, followers=1)


def test_a_class_stopped_and_shared_again_counts_each_student_once() -> None:
    """The teacher stops sharing and shares again; the students come back (new pages:
    Rejoin reloads) and send their kept answers again: each counts once ("4 of 2" before:
    the answers of the pages before the stop stayed)."""
    with class_of_one() as (teacher, s1, client):
        code = next(m["code"] for m in reversed(teacher.seen) if m["type"] == "share")
        lesson(teacher, step=3)
        answers(teacher, answered=0)  # (the step is open)
        answer(s1, "pos")
        answers(teacher, answered=1)
        teacher.send({"type": "share", "on": False})
        answers(teacher, answered=0)  # (the class is gone: nobody's answer counts)
        assert share(teacher) == code
        with client.websocket_connect("/ws") as r3:
            again = WS(r3)
            join(again, code)
            answer(again, "pos")
            got = answers(teacher, answered=1, followers=1)
            assert got["counts"] == {"pos": 1, "zero": 0, "neg": 0}


def test_the_teachers_reveal_ends_the_count_and_each_student_is_then_judged() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2, client.websocket_connect("/ws") as r3:
        teacher, s1, s2 = WS(r1), WS(r2), WS(r3)
        teacher.hello()
        code = share(teacher)
        join(s1, code)
        join(s2, code)
        lesson(teacher, step=3)
        s1.recv_type("lesson_step")
        answer(s1, "neg")
        # the teacher's check before the backward phase has no value: not a reveal
        lesson(teacher, step=3, action="check")
        assert teacher.recv_type("lesson_check")["missing"] == "L1.dW"
        answer(s2, "pos")
        answers(teacher, answered=2, counts={"pos": 1, "zero": 0, "neg": 1})
        teacher.send({"type": "step", "unit": "phase"})
        teacher.recv_type("frame")
        lesson(teacher, step=3, action="check")  # the reveal, without a prediction of its own
        valued = {"where": lambda m: m["actual"] is not None}
        reveal = s1.recv_type("lesson_check", **valued)
        assert reveal["expected"] == "neg" and reveal["prediction"] is None
        assert s2.recv_type("lesson_check", **valued)["expected"] == "neg"
        lesson(s1, step=3, action="check", prediction="neg")
        mine = s1.recv_type("lesson_check")
        assert (mine["verdict"], mine["prediction"]) == ("right", "neg")
        lesson(s2, step=3, action="check", prediction="pos")
        assert s2.recv_type("lesson_check")["verdict"] == "wrong"
        # checks after the reveal are not counted: the teacher's bars stay as revealed
        teacher.handled()
        seen = len([m for m in teacher.seen if m["type"] == "lesson_answers"])
        lesson(s2, step=3, action="check", prediction="neg")
        s2.recv_type("lesson_check")
        teacher.handled()
        assert len([m for m in teacher.seen if m["type"] == "lesson_answers"]) == seen


def test_a_student_joining_after_the_reveal_is_shown_it_and_not_on_the_next_step() -> None:
    """A student who reloads after the teacher revealed the step's result (or joins then)
    is shown the result the class saw, not asked again as if nothing were revealed; on
    the next step, nothing is revealed yet."""
    with class_of_one() as (teacher, s1, client):
        code = next(m["code"] for m in reversed(teacher.seen) if m["type"] == "share")
        lesson(teacher, step=3)
        s1.recv_type("lesson_step")
        with client.websocket_connect("/ws") as r3:  # (joining before the reveal)
            early = WS(r3)
            join(early, code)
            early.recv_type("lesson_step")
            nothing_revealed(early)
        teacher.send({"type": "step", "unit": "phase"})
        teacher.recv_type("frame")
        lesson(teacher, step=3, action="check")  # the reveal
        shown = s1.recv_type("lesson_check", where=lambda m: m["actual"] is not None)
        with client.websocket_connect("/ws") as r4:
            late = WS(r4)
            join(late, code)
            got = late.recv_type("lesson_check")
            assert (got["step"], got["actual"], got["expected"], got["values"]) == (
                3, shown["actual"], shown["expected"], shown["values"])
        lesson(teacher, step=4)
        s1.recv_type("lesson_step", where=lambda m: m["step"] == 4)
        with client.websocket_connect("/ws") as r5:
            next_ = WS(r5)
            join(next_, code)
            assert next_.recv_type("lesson_step")["step"] == 4
            nothing_revealed(next_)


def test_a_student_leaving_after_the_reveal_leaves_the_revealed_counts_as_they_were() -> None:
    """A student's page reloaded after the reveal took its answer out of the teacher's
    revealed bars ("1 of 1 right" where two had answered); they stay as revealed."""
    with class_of_one() as (teacher, s1, client):
        code = next(m["code"] for m in reversed(teacher.seen) if m["type"] == "share")
        with client.websocket_connect("/ws") as r3:
            s2 = WS(r3)
            join(s2, code)
            lesson(teacher, step=3)
            s1.recv_type("lesson_step")
            answer(s1, "neg")
            answer(s2, "pos")
            answers(teacher, answered=2)
            teacher.send({"type": "step", "unit": "phase"})
            teacher.recv_type("frame")
            lesson(teacher, step=3, action="check")  # the reveal
            s1.recv_type("lesson_check", where=lambda m: m["actual"] is not None)
        teacher.recv_type("share", where=lambda m: m["followers"] == 1)  # (s2 left)
        time.sleep(INTERVAL_S + 0.1)  # (a summary would be due by now)
        teacher.send({"type": "share", "on": True})  # (a round trip: what was due has come)
        teacher.recv_type("share")
        teacher.handled()
        after = [m for m in teacher.seen if m["type"] == "lesson_answers"]
        assert after[-1]["answered"] == 2, after[-1]


def test_another_step_starts_from_nobody_and_a_number_gets_bins_and_a_median() -> None:
    with class_of_one() as (teacher, s1, _):
        lesson(teacher, step=3)
        s1.recv_type("lesson_step")
        answer(s1, "pos")
        answers(teacher, answered=1)
        lesson(teacher, step=4)
        s1.recv_type("lesson_step", where=lambda m: m["step"] == 4)
        four = answers(teacher, step=4)
        assert (four["kind"], four["answered"], four["bins"], four["median"], four["counts"]) \
            == ("number", 0, [], None, None)
        lesson(s1, step=3, action="check", prediction="pos")  # that step is closed
        assert s1.error()["field"] == "step"
        lesson(s1, step=4, action="check", prediction="neg")
        assert s1.error()["field"] == "prediction"  # a number step
        answer(s1, -0.05, step=4)
        got = answers(teacher, step=4, answered=1)
        assert got["bins"] == [{"lo": -0.05, "hi": -0.05, "n": 1}] and got["median"] == -0.05
        # back to step 3: its answers were cleared when step 4 opened
        lesson(teacher, step=3)
        s1.recv_type("lesson_step", where=lambda m: m["step"] == 3)
        assert answers(teacher, step=3)["answered"] == 0
        answer(s1, "neg")  # recorded again: nothing revealed on this opening yet


def test_two_hundred_answers_at_once_are_a_few_messages_to_the_teacher() -> None:
    s, teacher = attached_session()
    now = [100.0]
    s.lessons.answers.clock = lambda: now[0]
    s.audience.code = "ABCDEF"  # shared (its followers are elsewhere: keys of another worker)
    s.handle(LessonCommand(type="lesson", id="one-neuron", step=3))
    sent = [m for m in teacher.drain() if m["type"] == "lesson_answers"]
    assert [m["answered"] for m in sent] == [0]
    out: list[Any] = []
    for i in range(200):
        msg = LessonCommand(type="lesson", id="one-neuron", step=3, action="check",
                            prediction=("pos", "zero", "neg")[i % 3])
        s.lessons.check_for(msg, out.append, lambda *a, **k: pytest.fail(str(a)),
                            who=("other-worker", i))
    assert len(out) == 200 and {m["type"] for m in out} == {"lesson_recorded"}
    assert s.lessons.answers_pending and s.wants_tick  # the clock will send them
    s.tick(0.05)
    assert not [m for m in teacher.drain() if m["type"] == "lesson_answers"]
    now[0] += INTERVAL_S
    s.tick(0.05)
    sent = [m for m in teacher.drain() if m["type"] == "lesson_answers"]
    assert len(sent) == 1 and sent[0]["answered"] == 200
    assert sent[0]["counts"] == {"pos": 67, "zero": 67, "neg": 66}
    assert not s.lessons.answers_pending


def test_the_answers_kept_are_bounded_by_the_class_cap() -> None:
    a = ClassAnswers(cap=3, clock=lambda: 0.0)
    for i in range(5):
        a.record(i, "pos")
    assert len(a) == 3 and set(a.answers) == {2, 3, 4}
    a.record(3, "neg")  # a change of answer stays one answer
    assert len(a) == 3 and a.summary("choice", ["pos", "neg"])["counts"] == {"pos": 2, "neg": 1}


def test_a_number_histogram_shows_few_answers_one_each_and_sets_an_outlier_apart() -> None:
    bins, median = histogram([0.5, 0.25, 0.5])
    assert bins == [{"lo": 0.25, "hi": 0.25, "n": 1}, {"lo": 0.5, "hi": 0.5, "n": 2}]
    assert median == 0.5
    values = [0.1 * i for i in range(20)] + [1e9]
    bins, median = histogram(values)
    assert bins[-1] == {"lo": pytest.approx(1.9), "hi": None, "n": 1}  # the outlier alone
    inner = bins[:-1]
    assert len(inner) == 6 and sum(b["n"] for b in inner) == 20
    assert inner[0]["lo"] == 0.0 and inner[-1]["hi"] == pytest.approx(1.9)
    assert median == pytest.approx(1.0)


# ---- a student on another worker ---------------------------------------------------------

@pytest.fixture()
def pair() -> Iterator[tuple[TestClient, TestClient]]:
    hub = MemoryHub()
    settings: dict[str, Any] = {"allowed_hosts": ["testserver"], "hello_timeout_s": 60.0}
    a = create_app(Settings(**settings), bus=MemoryBus("0-a", hub))
    b = create_app(Settings(**settings), bus=MemoryBus("1-b", hub))
    with TestClient(a) as ca, TestClient(b) as cb:
        yield ca, cb


def test_a_student_on_another_worker_is_counted_then_judged(
        pair: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair
    with ca.websocket_connect("/ws") as r1, ca.websocket_connect("/ws") as r2, \
            cb.websocket_connect("/ws") as r3:
        teacher, here, there = WS(r1), WS(r2), WS(r3)
        teacher.hello()
        teacher.send({"type": "share"})
        code = teacher.recv_type("share", where=lambda m: m["code"] is not None)["code"]
        join(here, code)
        join(there, code)
        teacher.recv_type("share", where=lambda m: m["followers"] == 2)
        lesson(teacher, step=3)
        there.recv_type("lesson_step")
        answer(here, "neg")
        answer(there, "pos")
        answer(there, "zero")  # its change counts once, on the teacher's worker too
        answers(teacher, answered=2, followers=2, counts={"pos": 0, "zero": 1, "neg": 1})
        nothing_revealed(there)
        # a student there who leaves no longer counts (a reload then answers again, once)
        with cb.websocket_connect("/ws") as r4:
            gone = WS(r4)
            join(gone, code)
            gone.recv_type("lesson_step")
            answer(gone, "pos")
            answers(teacher, answered=3, counts={"pos": 1, "zero": 1, "neg": 1})
        answers(teacher, answered=2, counts={"pos": 0, "zero": 1, "neg": 1})
        teacher.send({"type": "step", "unit": "phase"})
        lesson(teacher, step=3, action="check")
        assert there.recv_type("lesson_check")["expected"] == "neg"
        lesson(there, step=3, action="check", prediction="zero")
        assert there.recv_type("lesson_check")["verdict"] == "wrong"


def test_a_play_reaching_its_goal_while_the_class_answers_waits_for_the_teachers_reveal() -> None:
    """learning-rate, step 1 in class: the run stops at its goal, and the class hears
    where, not the value; answers still count until the teacher reveals."""
    with class_of_one() as (teacher, s1, _):
        teacher.recv_type("share", where=lambda m: m["followers"] == 1)
        teacher.send({"type": "lesson", "id": "learning-rate", "step": 1})
        teacher.recv_type("lesson_step", timeout=20)
        teacher.send({"type": "play", "speed": 1000})
        goal = teacher.recv_type("lesson_check", timeout=20,
                                 where=lambda m: m["trigger"] == "goal")
        assert goal["held"] is True and goal["actual"] is None and goal["explanation"] is None
        assert goal["values"] == {"iteration": 200}  # (its train_loss is the answer)
        heard = s1.recv_type("lesson_check", where=lambda m: m["trigger"] == "goal")
        assert heard["actual"] is None and heard["explanations"] is None
        assert "train_loss" not in heard["values"]
        # still answering: recorded, not judged
        s1.send({"type": "lesson", "id": "learning-rate", "step": 1, "action": "check",
                 "prediction": "above"})
        assert s1.recv_type("lesson_recorded")["prediction"] == "above"
        # the teacher's Reveal: the value, to the class
        teacher.send({"type": "lesson", "id": "learning-rate", "step": 1, "action": "check"})
        reveal = s1.recv_type("lesson_check", where=lambda m: m["trigger"] == "check")
        assert reveal["actual"] is not None and reveal["held"] is False

