"""Safe expressions over a run's own values: what a lesson's check computes.

A lesson asks "what sign will ∂L/∂w have?" and the answer must come from the
engine's numbers, not from prose. The check is a short expression over the
stable ids of :mod:`engine` and the training-health metrics, such as
``L1.dW[0,0]``, ``abs(L2.W.step[0,0]) < 0.01``, ``train_loss < 0.05`` or
``max(saturated) > 0.5``; :func:`parse` reads it once (at load time, so a bad
lesson fails before anyone opens it) and :meth:`Expr.evaluate` computes it on
the values given.

Nothing here runs Python code: the text is parsed with :mod:`ast` and only a
whitelist of node kinds is accepted — numbers, true/false, names and dotted
ids, subscripts with whole-number indices or slices, ``+ − × ÷ ** %``, unary
minus and ``not``, ``and``/``or``, comparisons, and calls of
:data:`FUNCTIONS` by name with positional arguments. Anything else (attribute
access, other calls, keyword arguments, strings, lambdas, comprehensions…) is
refused with :class:`ExprError` naming what was found. Cost is bounded: at
most :data:`MAX_CHARS` characters and :data:`MAX_NODES` nodes, exponents
within ±:data:`MAX_EXPONENT`, and values are the run's arrays (whose sizes the
server already limits).

Ids contain dots (``L1.W.exp_avg``) that Python would read as attribute
access: before parsing, every dotted name whose first part is ``L<digits>``,
``loss`` or ``clip`` is replaced by a placeholder, and any other dot left over
is an attribute access, refused. Lists of per-layer metrics (``gnorm``,
``saturated``…) are arrays indexed from 0 for layer 1, as
:func:`engine.metrics.collect` gives them; ``None`` in them reads as NaN.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.fpstate import quiet

Array = np.ndarray

MAX_CHARS = 300
MAX_NODES = 120
MAX_EXPONENT = 64

#: a dotted engine id: ``L1.dW``, ``L2.W.exp_avg``, ``loss.total``, ``clip.total_norm``
ID_RE = re.compile(r"(?<![\w.])(?:L\d+|loss|clip)(?:\.[A-Za-z][A-Za-z0-9_]*)+")
_PLACEHOLDER = "_id{}"


class ExprError(ValueError):
    """An expression that may not be run, or that cannot be computed on these values.
    ``missing``: the id it needed that the values do not hold (a phase not run yet)."""

    def __init__(self, message: str, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def _reduce(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``min``/``max`` of one array (over its entries) or of several numbers."""
    def call(*args: Any) -> Any:
        if len(args) == 1:
            return fn(np.asarray(args[0], dtype=float))
        return fn(np.stack(np.broadcast_arrays(*[np.asarray(a, float) for a in args])),
                  axis=0)
    return call


def _arg(fn: Callable[..., Any], a: Any) -> float:
    """``fn`` (``np.argmax`` or ``np.argmin``) of ``a`` flattened, as an index."""
    arr = np.asarray(a, float)
    if arr.size == 0:
        raise ExprError("argmax/argmin of no numbers")
    return float(fn(arr))


#: the functions an expression may call, by name
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (function, fewest arguments, most arguments)
    "abs": (np.abs, 1, 1),
    "sign": (np.sign, 1, 1),
    "min": (_reduce(np.min), 1, 8),
    "max": (_reduce(np.max), 1, 8),
    "mean": (lambda a: np.mean(np.asarray(a, float)), 1, 1),
    "sum": (lambda a: np.sum(np.asarray(a, float)), 1, 1),
    "norm": (lambda a: np.sqrt(np.sum(np.square(np.asarray(a, float)))), 1, 1),
    "sqrt": (np.sqrt, 1, 1),
    "size": (lambda a: float(np.asarray(a).size), 1, 1),
    # the index of the largest / smallest entry (of the array flattened, first on a tie),
    # to index another array with: ``L1.dW[argmax(raw_spread), :]``
    "argmax": (lambda a: _arg(np.argmax, a), 1, 1),
    "argmin": (lambda a: _arg(np.argmin, a), 1, 1),
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
    ast.Div: np.true_divide, ast.Mod: np.mod,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
    ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal,
}


#: a compiled expression (or a part of one): its value on the values given
Fn = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Expr:
    """A parsed expression: ``text`` as written, ``names`` every id and name it reads."""

    text: str
    tree: ast.Expression
    ids: tuple[str, ...]  # placeholder i → the dotted id it stands for
    names: frozenset[str]
    fn: Fn = field(repr=False, compare=False)  #: the tree compiled (:func:`_compile`)

    @quiet
    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The value on ``values`` (id or name → number or array): a float, a bool or
        an array. ``ExprError`` when a name is missing (``missing`` says which), an
        index is out of range or an exponent too large."""
        return self.fn(values)

    def number(self, values: Mapping[str, Any]) -> float:
        """:meth:`evaluate` as one number (``ExprError`` for an array)."""
        v = np.asarray(self.evaluate(values))
        if v.size != 1:
            raise ExprError(f"{self.text!r} gives {v.size} numbers (shape {v.shape}), "
                            "not one; pick an entry or use mean, norm, min or max")
        return float(v.reshape(()))

    def truth(self, values: Mapping[str, Any]) -> bool:
        """:meth:`evaluate` as a condition: one true or false."""
        return bool(self.number(values))


def parse(text: str) -> Expr:
    """``text`` checked against the whitelist (module docstring) and parsed once;
    ``ExprError`` names the first thing refused. The same text gives the same
    :class:`Expr` (kept: a lesson's goal and checks are read again at every metrics
    point of its play, and an ``Expr`` never changes)."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("an expression must be a non-empty string")
    return _parsed(text)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> Expr:
    """:func:`parse` of a non-empty string (a refused one raises, and is not kept)."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression too long: {len(text)} characters (at most {MAX_CHARS})")
    ids: list[str] = []

    def hold(m: re.Match[str]) -> str:
        if m.group(0) not in ids:
            ids.append(m.group(0))
        return _PLACEHOLDER.format(ids.index(m.group(0)))

    if re.search(r"(?<![\w.])_", text):
        raise ExprError(f"{text!r}: names may not start with '_'")
    source = ID_RE.sub(hold, text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"{text!r} is not an expression: {e.msg}") from None
    count = 0
    names: set[str] = set()
    for node in ast.walk(tree):
        count += 1
        _allowed(node, text, ids)
        if isinstance(node, ast.Name) and not _is_call_target(node, tree):
            names.add(_name(node.id, ids))
    if count > MAX_NODES:
        raise ExprError(f"{text!r} is too complex: {count} parts (at most {MAX_NODES})")
    return Expr(text, tree, tuple(ids), frozenset(names), _compile(tree.body, text, tuple(ids)))


def _name(name: str, ids: list[str] | tuple[str, ...]) -> str:
    if name.startswith("_id"):
        return ids[int(name[3:])]
    return name


def _is_call_target(node: ast.Name, tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and n.func is node for n in ast.walk(tree))


_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Constant,
            ast.Name, ast.Load, ast.Subscript, ast.Tuple, ast.Slice, ast.Call,
            ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or, ast.Pow, *_BINOPS, *_CMPOPS)


def _allowed(node: ast.AST, text: str, ids: list[str]) -> None:
    """Refuse a node outside the whitelist, saying what it is."""
    if isinstance(node, ast.Attribute):
        raise ExprError(f"{text!r}: attribute access ('.{node.attr}') is not allowed; "
                        "ids are L<n>.…, loss.… or clip.…")
    if not isinstance(node, _ALLOWED):
        raise ExprError(f"{text!r}: {type(node).__name__} is not allowed in an expression")
    if isinstance(node, ast.Constant) and (
            isinstance(node.value, complex) or not isinstance(node.value, int | float)):
        raise ExprError(f"{text!r}: only numbers and true/false may be written, "
                        f"not {node.value!r}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = _name(node.func.id, ids) if isinstance(node.func, ast.Name) else "this"
            raise ExprError(f"{text!r}: calling {what!r} is not allowed; the functions are "
                            f"{', '.join(FUNCTIONS)}")
        if node.keywords:
            raise ExprError(f"{text!r}: keyword arguments are not allowed")
        _, lo, hi = FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise ExprError(f"{text!r}: {node.func.id} takes {lo}"
                            + (f" to {hi}" if hi != lo else "") + " argument(s)")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        e = node.right
        if isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant):
            e = e.operand
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Pow):
            raise ExprError(f"{text!r}: a power of a power is not allowed (the exponent "
                            f"could be huge); write the exponent as one number")
        if isinstance(e, ast.Constant) and isinstance(e.value, int | float) \
                and abs(e.value) > MAX_EXPONENT:
            raise ExprError(f"{text!r}: exponent {e.value!r} is too large (at most "
                            f"{MAX_EXPONENT})")
    if isinstance(node, ast.Subscript) and not isinstance(node.value, ast.Name):
        raise ExprError(f"{text!r}: only an id or a metric may be indexed")


def _compile(node: ast.AST, text: str, ids: tuple[str, ...]) -> Fn:
    """``node`` of a checked tree as nested closures, one per node, built once at
    :func:`parse` (evaluating walks no tree: a coach rule is read at every metrics
    point of every playing run, and a walk cost a few µs a node)."""
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda _v: value
    if isinstance(node, ast.Name):
        return _lookup(node.id, text, ids)
    if isinstance(node, ast.Subscript):
        assert isinstance(node.value, ast.Name)
        name = _name(node.value.id, ids)
        get = _lookup(node.value.id, text, ids)
        index = _index(node.slice, text, ids)
        shown = ast.unparse(node.slice)

        def subscript(v: Mapping[str, Any]) -> Any:
            arr = np.asarray(get(v), dtype=float)
            at = index(v)
            try:
                return arr[at]
            except IndexError:
                raise ExprError(f"{text!r}: {name} has shape {arr.shape}; "
                                f"index {shown} is out of range") from None
        return subscript
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, text, ids)
        if isinstance(node.op, ast.Not):
            return lambda v: np.logical_not(_scalar(operand(v), "not", text))
        unary = np.negative if isinstance(node.op, ast.USub) else np.positive
        return lambda v: unary(operand(v))
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left, text, ids), _compile(node.right, text, ids)
        if isinstance(node.op, ast.Pow):
            def power(v: Mapping[str, Any]) -> Any:
                a, b = left(v), right(v)
                e = np.asarray(b, dtype=float)
                if e.size and np.nanmax(np.abs(e)) > MAX_EXPONENT:
                    raise ExprError(f"{text!r}: exponent {float(np.nanmax(np.abs(e))):g} is "
                                    f"too large (at most {MAX_EXPONENT})")
                return np.power(np.asarray(a, dtype=float), e)
            return power
        op = _BINOPS[type(node.op)]
        return lambda v: op(left(v), right(v))
    if isinstance(node, ast.BoolOp):
        parts = [_compile(p, text, ids) for p in node.values]
        every = isinstance(node.op, ast.And)

        def boolean(v: Mapping[str, Any]) -> bool:
            vals = [_scalar(p(v), "and/or", text) for p in parts]
            return all(vals) if every else any(vals)
        return boolean
    if isinstance(node, ast.Compare):
        first = _compile(node.left, text, ids)
        steps = [(_CMPOPS[type(op)], _compile(r, text, ids))
                 for op, r in zip(node.ops, node.comparators, strict=True)]

        def compare(v: Mapping[str, Any]) -> bool:
            left = first(v)
            ok = True
            for cmp, right_of in steps:
                right = right_of(v)
                ok = ok and _scalar(cmp(left, right), "a comparison", text)
                left = right
            return ok
        return compare
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        fn = FUNCTIONS[node.func.id][0]
        args = [_compile(a, text, ids) for a in node.args]
        return lambda v: fn(*[a(v) for a in args])
    raise ExprError(f"{text!r}: cannot evaluate {type(node).__name__}")  # (parse refused)


def _lookup(placeholder: str, text: str, ids: tuple[str, ...]) -> Fn:
    """The value of a name or id (a list of per-layer metrics as an array, ``None`` in
    it as NaN); ``ExprError`` naming it when the values do not hold it."""
    real = _name(placeholder, ids)

    def lookup(values: Mapping[str, Any]) -> Any:
        if real not in values:
            raise ExprError(f"{text!r}: {real} is not known here (not computed "
                            "yet, or not part of this network)", missing=real)
        v = values[real]
        if isinstance(v, list | tuple):
            v = np.array([math.nan if x is None else x for x in v], dtype=float)
        if v is None:
            raise ExprError(f"{text!r}: {real} has no value yet", missing=real)
        return v
    return lookup


def _index(node: ast.AST, text: str, ids: tuple[str, ...]) -> Fn:
    """A subscript's index: whole numbers, slices of them, or a tuple of both."""
    if isinstance(node, ast.Tuple):
        parts = [_index(e, text, ids) for e in node.elts]
        return lambda v: tuple(p(v) for p in parts)
    if isinstance(node, ast.Slice):
        ends = [None if p is None else _whole(p, text, ids)
                for p in (node.lower, node.upper, node.step)]
        return lambda v: slice(*(None if e is None else e(v) for e in ends))
    return _whole(node, text, ids)


def _whole(node: ast.AST, text: str, ids: tuple[str, ...]) -> Fn:
    part = _compile(node, text, ids)

    def whole(v: Mapping[str, Any]) -> int:
        x = part(v)
        if isinstance(x, bool) or not float(np.asarray(x)).is_integer():
            raise ExprError(f"{text!r}: an index must be a whole number")
        return int(x)
    return whole


def _scalar(v: Any, where: str, text: str) -> bool:
    a = np.asarray(v)
    if a.size != 1:
        raise ExprError(f"{text!r}: {where} on {a.size} numbers; reduce them "
                        "first with min, max, mean or norm")
    return bool(a.reshape(()))
