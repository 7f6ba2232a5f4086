"""The lesson checks' evaluator (engine/expr.py) computes what it should and runs
nothing else: attribute access, calls outside the whitelist, keyword arguments,
strings, comprehensions, lambdas, huge exponents and over-long expressions are
refused with an error that says what was refused; a name the values do not hold
is reported as missing (a phase not run yet)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from engine.expr import MAX_CHARS, ExprError, parse

VALUES = {
    "L1.dW": np.array([[1.0, -2.0], [3.0, 4.0]]),
    "L2.W.exp_avg": np.ones((2, 1)),
    "loss.data": 0.25,
    "train_loss": 0.3,
    "gnorm": [0.1, None],
    "iteration": 7,
}


@pytest.mark.parametrize(("text", "value"), [
    ("L1.dW[0,1]", -2.0),
    ("L1.dW[-1,-1]", 4.0),
    ("abs(L1.dW[0,1]) < 3", True),
    ("mean(L1.dW)", 1.5),
    ("sum(L1.dW[:,0])", 4.0),
    ("norm(L1.dW[:,0])", math.sqrt(10)),
    ("max(L1.dW)", 4.0),
    ("min(1, 2, -3)", -3.0),
    ("sign(L1.dW[0,1]) == -1", True),
    ("L2.W.exp_avg[1,0] * 2 + loss.data", 2.25),
    ("train_loss < 0.5 and L1.dW[1,1] > 0", True),
    ("not iteration >= 10", True),
    ("gnorm[0]", 0.1),
    ("size(L1.dW)", 4.0),
    ("2 ** 10 % 1000", 24.0),
    ("sqrt(16) / 4 - 1", 0.0),
    # an index computed from the values: the row of the largest, of the smallest entry
    ("argmax(L1.dW[:,1])", 1.0),
    ("argmin(L1.dW)", 1.0),
    ("norm(L1.dW[argmax(L1.dW[:,0]), :])", 5.0),
])
def test_expressions_compute_on_the_values(text: str, value: float) -> None:
    got = parse(text).evaluate(VALUES)
    assert float(got) == pytest.approx(float(value))


def test_a_metric_not_computed_yet_reads_as_nan_and_names_are_listed() -> None:
    assert math.isnan(parse("gnorm[1]").number(VALUES))
    assert parse("L1.dW[0,0] * train_loss + max(gnorm)").names == {
        "L1.dW", "train_loss", "gnorm"}


@pytest.mark.parametrize(("text", "says"), [
    ("x.__class__", "attribute access"),
    ("L1.__class__", "attribute access"),
    ("loss.data.real", None),  # an id that does not exist: missing, not an attribute
    ("__import__('os')", "may not start with '_'"),
    ("open(1)", "calling 'open' is not allowed"),
    ("eval(1)", "calling 'eval' is not allowed"),
    ("L1.dW(1)", "calling 'L1.dW' is not allowed"),
    ("abs(x=1)", "keyword arguments"),
    ("'a'", "only numbers"),
    ("lambda: 1", "Lambda is not allowed"),
    ("[x for x in y]", "ListComp is not allowed"),
    ("[1, 2]", "List is not allowed"),
    ("2 ** 10 ** 10", "power of a power"),
    ("10 ** 100", "exponent 100 is too large"),
    ("1 if 2 else 3", "IfExp is not allowed"),
    ("(a := 1)", "NamedExpr is not allowed"),
    ("1 +", "not an expression"),
    ("1" + "+1" * MAX_CHARS, "too long"),
    ("1" + "+1" * 100, "too complex"),
    ("max(" + ",".join(["1"] * 9) + ")", "max takes 1 to 8"),
])
def test_unsafe_or_broken_expressions_are_refused_saying_why(text: str, says: str | None) -> None:
    if says is None:
        with pytest.raises(ExprError) as e:
            parse(text).evaluate(VALUES)
        assert e.value.missing == "loss.data.real"
        return
    with pytest.raises(ExprError, match=says.replace("(", r"\(")):
        parse(text)


@pytest.mark.parametrize(("text", "says", "missing"), [
    ("L3.W[0,0]", "L3.W is not known here", "L3.W"),
    ("L1.dW[5,0]", "index (5, 0) is out of range", None),
    ("L1.dW > 0", "reduce them first", None),
    ("L1.dW[0,0] ** (iteration * 100)", "exponent 700 is too large", None),
])
def test_evaluation_errors_say_what_and_name_a_missing_id(
        text: str, says: str, missing: str | None) -> None:
    with pytest.raises(ExprError, match=re.escape(says)) as e:
        parse(text).truth(VALUES)
    assert e.value.missing == missing
