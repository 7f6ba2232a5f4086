"""A learner's own data: a CSV table of numeric feature columns and one target column.

:func:`parse_csv` reads the text (no I/O: the caller has the file's content)
into a :class:`Table`, or raises :class:`CsvError` saying what is wrong and
where, as a code with the file's row and column (1-based, as a spreadsheet
shows them) so that the page can say it in the learner's language:

========================  ==============================================
code                      meaning
========================  ==============================================
``empty``                 no rows of data
``too_many_rows``         more data rows than ``max_rows`` (``limit``)
``too_many_columns``      more columns than ``max_columns`` + 1
``too_few_columns``       one column: no feature beside the target
``too_few_rows``          fewer than two data rows
``ragged``                a row with another number of cells (``found``,
                          ``expected``)
``missing``               an empty cell (row, column)
``not_a_number``          a feature cell that is not a number (``value``)
``not_finite``            inf or nan in a cell
``one_class``             a class target with one class only
========================  ==============================================

Header detection: the first row is a header when one of its cells is not a
number (a file of numbers only gets columns ``x1 … xd`` and ``target``).
The delimiter is the one of ``,`` ``;`` tab that splits the first line most.
The target is the last column. Its kind: a column with a cell that is not a
number holds class labels; a numeric column of whole numbers with at most
:data:`MAX_CLASSES` distinct values is classes too (0/1, 1…5); any other
numeric column is a regression target.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

Array = np.ndarray

#: a numeric target of whole numbers with at most this many distinct values is classes
MAX_CLASSES = 10


class CsvError(ValueError):
    """A CSV the lab cannot learn from: ``code`` (see the module docstring), the file's
    ``row`` and ``column`` (1-based; None where it is the whole file or row), the cell's
    ``value`` and a ``limit``, ``found`` or ``expected`` count where they apply."""

    def __init__(self, code: str, row: int | None = None, column: int | None = None,
                 value: str | None = None, **counts: int) -> None:
        where = "".join(f" {k} {v}" for k, v in (("row", row), ("column", column)) if v)
        super().__init__(f"{code}{where}" + (f": {value!r}" if value is not None else "")
                         + "".join(f" {k}={v}" for k, v in counts.items()))
        self.code = code
        self.row = row
        self.column = column
        self.value = value
        self.counts = counts


@dataclass(frozen=True, eq=False)
class Table:
    """A parsed table: ``x`` (N, d) features named ``columns``; the target column
    ``target``: for classes ``labels`` (K,) their names in order and ``y`` (N,) int
    in 0…K−1, for regression ``labels`` None and ``y`` (N,) float. Compared by
    identity (its arrays have no one truth value), as a run's setting."""

    columns: tuple[str, ...]
    x: Array
    target: str
    y: Array
    labels: tuple[str, ...] | None

    @property
    def task(self) -> str:
        """``binary`` (two classes), ``multiclass`` or ``regression``."""
        if self.labels is None:
            return "regression"
        return "binary" if len(self.labels) == 2 else "multiclass"


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def parse_csv(text: str, max_rows: int, max_columns: int) -> Table:
    """The :class:`Table` in CSV ``text``; :class:`CsvError` for the first problem
    met, reading row by row (see the module docstring). ``max_rows`` bounds the data
    rows, ``max_columns`` the feature columns."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    delim = max(",;\t", key=first.count) if first else ","
    rows = [(i, r) for i, r in enumerate(csv.reader(io.StringIO("\n".join(lines)),
                                                    delimiter=delim), start=1)
            if any(c.strip() for c in r)]
    if not rows:
        raise CsvError("empty")
    width = len(rows[0][1])
    if width < 2:
        raise CsvError("too_few_columns", row=rows[0][0], found=width)
    if width - 1 > max_columns:
        raise CsvError("too_many_columns", row=rows[0][0], found=width - 1, limit=max_columns)
    head = [c.strip() for c in rows[0][1]]
    header = any(_number(c) is None for c in head)
    if header:
        names = [c or f"x{j + 1}" for j, c in enumerate(head)]
        rows = rows[1:]
    else:
        names = [f"x{j + 1}" for j in range(width - 1)] + ["target"]
    if not rows:
        raise CsvError("empty")
    if len(rows) > max_rows:
        raise CsvError("too_many_rows", row=rows[max_rows][0], found=len(rows), limit=max_rows)
    if len(rows) < 2:
        raise CsvError("too_few_rows", found=len(rows))
    x = np.empty((len(rows), width - 1))
    target: list[str] = []
    for k, (i, r) in enumerate(rows):
        if len(r) != width:
            raise CsvError("ragged", row=i, found=len(r), expected=width)
        for j, cell in enumerate(r):
            cell = cell.strip()
            if not cell:
                raise CsvError("missing", row=i, column=j + 1)
            v = _number(cell)
            if j == width - 1:
                if v is not None and not math.isfinite(v):
                    raise CsvError("not_finite", row=i, column=j + 1, value=cell)
                target.append(cell)
            elif v is None:
                raise CsvError("not_a_number", row=i, column=j + 1, value=cell[:40])
            elif not math.isfinite(v):
                raise CsvError("not_finite", row=i, column=j + 1, value=cell)
            else:
                x[k, j] = v
    y, labels = _target(target, rows, width)
    return Table(tuple(names[:-1]), x, names[-1], y, labels)


def _target(cells: list[str], rows: list[tuple[int, list[str]]],
            width: int) -> tuple[Array, tuple[str, ...] | None]:
    """The target column as (y, labels): see the module docstring for classes or values."""
    values = [_number(c) for c in cells]
    if all(v is not None for v in values):
        nums = np.array(values, dtype=np.float64)
        distinct = np.unique(nums)
        if not (np.all(distinct == np.round(distinct)) and len(distinct) <= MAX_CLASSES):
            return nums, None
        labels = tuple(_num_text(v) for v in distinct)
        y = np.searchsorted(distinct, nums)
    else:
        labels = tuple(sorted(set(cells)))
        y = np.array([labels.index(c) for c in cells])
    if len(labels) < 2:
        raise CsvError("one_class", row=rows[0][0], column=width, value=cells[0][:40])
    return y.astype(np.int64), labels


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)
