"""A class's answers to the teacher's open lesson step: counts, never names.

When the teacher's lesson step asks for a prediction, each student following the
teacher's run may answer it on their own page (``lesson`` ``check``). Until the
teacher reveals the result, an answer is recorded, not judged
(:meth:`server.live.lessons.LessonDesk.check_for`), and the teacher's page is sent
the spread of the class's answers as ``lesson_answers``:

* for a choice, how many picked each choice (every choice, in the step's order);
* for a number, the median and a histogram: one bin per distinct answer when there
  are at most :data:`BINS` of them, else :data:`BINS` equal bins between Tukey's
  whiskers (the least answer ≥ Q1 − 1.5·IQR to the greatest ≤ Q3 + 1.5·IQR,
  quartiles by linear interpolation), answers beyond them in an open bin each
  side (``lo`` or ``hi`` None): a student typing 10⁹ does not squash everyone
  else into one bar.

:class:`ClassAnswers` keeps each follower's **last** answer under an opaque key
(its connection here, or its worker and connection on another worker), at most
``cap`` of them (the class's follower cap; past it the oldest answer goes), and
says when the teacher is due a new summary: at most one every :data:`INTERVAL_S`,
so a class of 200 answering at once is a handful of messages to the teacher,
not 200. Who answered what is never sent anywhere.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

#: the least time between two summaries sent to the teacher (seconds)
INTERVAL_S = 0.25
#: bins of a number prediction's histogram (and the most distinct answers shown one each)
BINS = 6

Answer = str | float


def choice_counts(answers: Sequence[Answer], choices: Sequence[str]) -> dict[str, int]:
    """How many of ``answers`` picked each of ``choices`` (every choice, 0 included)."""
    counts = dict.fromkeys(choices, 0)
    for a in answers:
        if isinstance(a, str) and a in counts:
            counts[a] += 1
    return counts


def histogram(values: Sequence[float], bins: int = BINS
              ) -> tuple[list[dict[str, Any]], float | None]:
    """``(bins, median)`` of number answers (module docstring). Each bin is
    ``{"lo", "hi", "n"}``: ``lo == hi`` for one distinct answer, ``lo`` None for the
    answers below the lower whisker, ``hi`` None for those above the upper one; an
    inner bin holds ``lo <= x < hi`` (the last one ``x <= hi`` too)."""
    if not values:
        return [], None
    x = np.sort(np.asarray(values, dtype=float))
    median = float(np.median(x))
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size <= bins:
        return [{"lo": float(v), "hi": float(v), "n": int(n)}
                for v, n in zip(distinct, counts, strict=True)], median
    q1, q3 = np.percentile(x, [25, 75])
    # Tukey's whiskers: the most extreme answers within 1.5 IQR of the quartiles
    lo = float(x[x >= q1 - 1.5 * (q3 - q1)][0])
    hi = float(x[x <= q3 + 1.5 * (q3 - q1)][-1])
    out: list[dict[str, Any]] = []
    below, above = int(np.sum(x < lo)), int(np.sum(x > hi))
    if below:
        out.append({"lo": None, "hi": lo, "n": below})
    if hi > lo:
        n, edges = np.histogram(x[(x >= lo) & (x <= hi)], bins=bins, range=(lo, hi))
        out += [{"lo": float(edges[i]), "hi": float(edges[i + 1]), "n": int(n[i])}
                for i in range(bins)]
    else:  # half the class or more gave the same answer
        out.append({"lo": lo, "hi": hi, "n": int(np.sum(x == lo))})
    if above:
        out.append({"lo": hi, "hi": None, "n": above})
    return out, median


class ClassAnswers:
    """Each follower's last answer to the open step, whether the teacher has revealed
    the result, and when the teacher is due a summary (module docstring)."""

    def __init__(self, cap: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = max(1, cap)
        self.clock = clock
        self.answers: dict[Hashable, Answer] = {}
        #: the teacher revealed the result: answers are judged now, no longer counted
        self.revealed = False
        #: the teacher's last ``lesson_check`` since the reveal: a student joining later
        #: (a reload, a dropped connection) is shown the result the class saw
        self.shown: dict[str, Any] | None = None
        #: the counts changed since the teacher's last summary
        self.pending = False
        self.sent_at = -math.inf

    def __len__(self) -> int:
        return len(self.answers)

    def clear(self) -> None:
        """Another step opens: nobody has answered it, nothing is revealed."""
        self.answers = {}
        self.revealed = False
        self.shown = None
        self.pending = False

    def everyone_left(self) -> None:
        """The class left (sharing stopped): its answers go, what was revealed stays so.
        Students who come back (sharing again) send theirs again, once each."""
        if self.answers:
            self.answers = {}
            self.pending = True

    def record(self, who: Hashable, answer: Answer | None) -> None:
        """``who``'s answer now (None: withdrawn); a change of answer still counts once."""
        old = self.answers.pop(who, None)
        if answer is not None:
            if len(self.answers) >= self.cap:  # (followers came and went) the oldest goes
                del self.answers[next(iter(self.answers))]
            self.answers[who] = answer
        if old != answer:
            self.pending = True

    def due(self) -> bool:
        """Whether a summary should go to the teacher now: the counts changed and the
        last one went at least :data:`INTERVAL_S` ago."""
        return self.pending and self.clock() - self.sent_at >= INTERVAL_S

    def sent(self) -> None:
        """A summary went to the teacher."""
        self.pending = False
        self.sent_at = self.clock()

    def summary(self, kind: str, choices: Sequence[str]) -> dict[str, Any]:
        """The fields of ``lesson_answers`` that describe the answers: ``answered``,
        ``counts`` (a choice) or ``bins`` and ``median`` (a number)."""
        values = list(self.answers.values())
        if kind == "choice":
            return {"answered": len(values), "counts": choice_counts(values, choices),
                    "bins": None, "median": None}
        numbers = [float(v) for v in values if not isinstance(v, str)]
        bins, median = histogram(numbers)
        return {"answered": len(numbers), "counts": None, "bins": bins, "median": median}
