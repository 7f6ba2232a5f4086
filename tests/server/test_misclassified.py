"""The examples the network gets wrong, sent with a classification run's maps beside the
confusion matrix: the same forward pass's mistakes (true class, predicted class, the
predicted class's probability, the inputs in the table's units), at most
``MAX_SHOWN``, every kind of mistake shown, and right again after a rewind."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from engine import metrics, realdata
from server.live.session import Session
from server.protocol import RunSettings, encode
from server.run.classes import MAX_SHOWN
from server.run.runconfig import checked_stepper
from server.settings import Settings
from tests.server.conftest import attached_session
from tests.server.conftest import handle as send

DIGITS: dict[str, Any] = {"dataset": "digits", "hidden": (16,), "optimizer": {"name": "adam"},
                          "lr": 0.01, "batch_size": 32, "seed": 4}


pytestmark = pytest.mark.usefixtures("unpaced_views")


def last_maps(s: Session) -> dict[str, Any]:
    s.views.dirty.add("maps")
    s.tick(1.0)
    msgs = [m for m in s.outbox.drain() if m["type"] == "maps"]  # type: ignore[union-attr]
    assert msgs, "no maps message"
    return orjson.loads(encode(msgs[-1]))  # as the page receives it


def expected(net_out: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True class, predicted class and the predicted class's probability of each row,
    computed here from the network's softmax outputs."""
    truth, guess = t.argmax(axis=1), net_out.argmax(axis=1)
    return truth, guess, net_out[np.arange(len(net_out)), guess]


def check_against_forward_pass(m: dict[str, Any], y: np.ndarray, t: np.ndarray,
                               raw: np.ndarray) -> None:
    """The maps message's mistakes are the forward pass ``y`` (N, 10)'s, and its counts."""
    truth, guess, p = expected(y, t)
    wrong = np.flatnonzero(truth != guess)
    mis = m["misclassified"]
    assert mis["split"] == "test" and mis["wrong"] == len(wrong) and mis["probability"]
    counts = np.asarray(m["confusion"]["counts"])
    assert mis["wrong"] == int(counts.sum() - np.trace(counts))
    ex = mis["examples"]
    assert len(ex) == min(MAX_SHOWN, len(wrong))
    assert len({e["index"] for e in ex}) == len(ex)
    for e in ex:
        i = e["index"]
        assert i in wrong
        assert (e["true"], e["pred"]) == (truth[i], guess[i])
        assert e["p"] == pytest.approx(p[i], rel=1e-12)
        assert len(e["values"]) == 64  # the digit's picture, pixels 0…16 as drawn
        assert np.allclose(e["values"], raw[i], atol=1e-9)
    # most confident first, and every kind of mistake (a (true, predicted) pair) is shown
    # when there are no more kinds than places
    assert [e["p"] for e in ex] == sorted((e["p"] for e in ex), reverse=True)
    kinds = {(truth[i], guess[i]) for i in wrong}
    shown = {(e["true"], e["pred"]) for e in ex}
    assert len(shown) == min(len(kinds), MAX_SHOWN)


def test_digits_maps_carry_the_test_digits_the_network_gets_wrong() -> None:
    s, _ = attached_session(**DIGITS)
    d = s.stepper.data
    X, y_all, _ = realdata.table("digits")
    raw = np.rint(d.x_test * d.x_scale + d.x_shift)  # the test digits' pixels 0…16
    assert set(np.unique(raw)) <= set(range(17))
    # untrained: most digits are wrong, and at most MAX_SHOWN are sent
    m0 = last_maps(s)
    check_against_forward_pass(m0, s.stepper.net.predict(d.x_test), d.t_test, raw)
    assert m0["misclassified"]["wrong"] > 500 and len(m0["misclassified"]["examples"]) == 24
    # a shown digit is a real one of the dataset with its label
    e = m0["misclassified"]["examples"][0]
    rows = np.flatnonzero((np.asarray(e["values"]) == X).all(axis=1))
    assert len(rows) >= 1 and e["true"] in y_all[rows]
    for _ in range(40):
        send(s, {"type": "step", "unit": "iteration"})
    m40 = last_maps(s)
    assert m40["iteration"] == 40
    check_against_forward_pass(m40, s.stepper.net.predict(d.x_test), d.t_test, raw)
    assert m40["misclassified"]["wrong"] < m0["misclassified"]["wrong"] / 2
    # a rewind: the mistakes are those of iteration 10's weights, computed independently
    send(s, {"type": "seek", "iteration": 10})
    m10 = last_maps(s)
    assert m10["iteration"] == 10
    replay = checked_stepper(RunSettings(**DIGITS), Settings())
    replay.train(10)
    check_against_forward_pass(m10, replay.net.predict(d.x_test), d.t_test, raw)
    assert m10["misclassified"]["wrong"] != m40["misclassified"]["wrong"]


def test_a_table_that_is_not_a_picture_sends_a_few_columns_in_its_own_units() -> None:
    s, _ = attached_session(dataset="breast_cancer", hidden=(4,), seed=1)  # binary, 30 inputs
    m = last_maps(s)
    mis = m["misclassified"]
    assert mis["columns"] == 30 and not mis["image"] and mis["probability"]
    d = s.stepper.data
    y = s.stepper.net.predict(d.x_test)[:, 0]
    X, _, _ = realdata.table("breast_cancer")
    assert mis["examples"]
    for e in mis["examples"]:
        i = e["index"]
        guess = int(y[i] >= 0.5)
        assert e["pred"] == guess != e["true"] == int(d.t_test[i, 0])
        assert e["p"] == pytest.approx(y[i] if guess else 1 - y[i], rel=1e-12)
        # the first 8 columns of the dataset's own row (to 4 digits of each column's spread)
        row = X[np.argmin(np.abs(X[:, :8] - e["values"]).sum(axis=1))]
        assert len(e["values"]) == 8
        assert (np.abs(np.asarray(e["values"]) - row[:8]) <= 1e-3 * X[:, :8].std(axis=0)).all()


def test_toy_planes_and_regression_send_no_mistakes() -> None:
    xor, _ = attached_session(dataset="xor", hidden=(2,))
    m = last_maps(xor)
    assert "confusion" in m and "misclassified" not in m
    diabetes, _ = attached_session(dataset="diabetes")
    assert "misclassified" not in last_maps(diabetes)


def test_mistakes_take_each_kind_in_turn_most_confident_first() -> None:
    # true classes and guesses of 7 rows of 3 classes: four mistakes 0→1 and one 2→0
    y = np.array([[0.1, 0.9, 0], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1], [0.45, 0.55, 0],
                  [0.8, 0.1, 0.1], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6]])
    t = np.eye(3)[[0, 0, 0, 0, 0, 2, 2]]
    c = metrics.classify("multiclass", 3, y, t, probability=True)
    assert c.counts.tolist() == [[1, 4, 0], [0, 0, 0], [1, 0, 1]]
    assert metrics.mistakes(c, 10).tolist() == [0, 1, 2, 3, 5]  # by probability
    assert metrics.mistakes(c, 2).tolist() == [0, 5]  # the rarer kind is not crowded out
    assert metrics.mistakes(c, 0).tolist() == []
