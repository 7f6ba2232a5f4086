"""A learner's own CSV over the protocol: a good file starts a run on it, a bad one gets an
error naming the row and column while the current run goes on, and the table travels in
the run's settings, so a saved run replays exactly and a class sees the same data."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.stepper import Stepper
from server.live.session import Session
from server.protocol import RunFile, client_adapter
from server.run.history import History
from server.run.runconfig import run_config
from server.run.runfile import branches_from_file, run_file
from server.settings import Settings
from tests.server.conftest import attached_session, join, share, teacher_and_student

GOOD = "size,weight,kind\n" + "".join(
    f"{i % 7},{(i * 3) % 11},{'big' if (i % 7) + ((i * 3) % 11) > 8 else 'small'}\n"
    for i in range(40))


def send(s: Session, msg: dict[str, Any]) -> list[dict[str, Any]]:
    s.handle(client_adapter.validate_python(msg))
    return s.outbox.drain()  # type: ignore[union-attr]


def test_a_good_csv_starts_a_run_on_it() -> None:
    s, _ = attached_session(hidden=[3], test_fraction=0.25)
    out = send(s, {"type": "csv", "name": "plants.csv", "text": GOOD})
    run = next(m for m in out if m["type"] == "run")
    assert run["config"]["dataset"] == "own" and run["config"]["hidden"] == [3]
    table = run["config"]["table"]
    assert table["columns"] == ["size", "weight"] and table["labels"] == ["big", "small"]
    assert run["net"]["sizes"] == [2, 3, 1] and run["net"]["features"] == ["size", "weight"]
    assert len(run["data"]["p_train"]) == 30 and len(run["data"]["p_test"]) == 10
    # a new setting keeps the table, which the page does not echo back
    cfg = {k: v for k, v in run["config"].items() if k != "table"}
    out = send(s, {"type": "configure", "config": {**cfg, "hidden": [5]}})
    again = next(m for m in out if m["type"] == "run")
    assert again["config"]["table"] == table and again["net"]["sizes"] == [2, 5, 1]


def test_a_bad_csv_names_the_row_and_column_and_the_run_goes_on() -> None:
    s, _ = attached_session(dataset="circle", hidden=[4])
    send(s, {"type": "step", "unit": "iteration"})
    before = s.stepper
    for text, reason, row, column in (
            ("a,b,k\n1,2,0\n3,four,1\n", "not_a_number", 3, 2),
            ("a,b,k\n1,2,0\n3,,1\n", "missing", 3, 2),
            ("a,b,k\n1,2,x\n3,4,x\n", "one_class", 2, 3),
            ("", "empty", None, None)):
        out = send(s, {"type": "csv", "text": text})
        err = [m for m in out if m["type"] == "error"]
        assert [(e["code"], e["reason"], e["row"], e["column"]) for e in err] == [
            ("csv", reason, row, column)]
        assert not [m for m in out if m["type"] == "run"]
    assert s.stepper is before and s.config.dataset == "circle" and s.stepper.iteration == 1
    huge = "a,k\n" + "1,0\n2,1\n" * 1001
    err = next(m for m in send(s, {"type": "csv", "text": huge}) if m["type"] == "error")
    assert err["reason"] == "too_many_rows" and err["limit"] == Settings().max_samples


def test_a_run_on_own_data_replays_from_its_file() -> None:
    s, _ = attached_session(hidden=[4], batch_size=8)
    send(s, {"type": "csv", "text": GOOD})
    s.history.train(30)
    w = {k: v.copy() for k, v in s.stepper.net.params.items()}
    file = RunFile.model_validate(run_file(s.history))
    assert file.settings.dataset == "own" and file.settings.table is not None
    stepper = Stepper(run_config(file.settings))
    saved, current = branches_from_file(file, stepper, max_batch=1000)
    h = History.from_branches(stepper, file.settings, saved, current)
    h.seek((30, 0))
    assert all(np.array_equal(h.stepper.net.params[k], w[k]) for k in w)


def test_a_class_sees_the_teachers_own_data() -> None:
    with teacher_and_student() as (_, teacher, student):
        teacher.send({"type": "csv", "text": GOOD})
        teacher.recv_type("run")
        code = share(teacher)
        run = join(student, code)
        assert run["config"]["dataset"] == "own"
        assert run["config"]["table"]["columns"] == ["size", "weight"]
        student.send({"type": "csv", "text": GOOD})
        assert student.recv_type("error")["code"] == "read_only"
