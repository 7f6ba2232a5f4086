"""The charts' data on the wire: fast play's trace points and a branch's whole series.

Playing fast, a metrics point (an evaluation of the train and test sets) is
taken only every ``speed / metrics_hz`` iterations, because it costs a pass
over the data. The iterations in between still computed their batch loss,
learning rate and gradient norms — the fast path hands them out as
:class:`~engine.records.TrainStats` — so a :class:`TraceSampler` turns some of
them into trace points (:func:`server.run.series.trace_point`) at no cost but
their encoding, paced like the metrics points: at most :data:`TRACE_HZ` a
second, further apart on a crowded server. :func:`series_message` is a
branch's whole series as one ``metrics`` message (after a ``run``, a branch
switch, or answering ``series`` for a comparison: :class:`CompareCache` keeps
the last ones, encoded once).
"""

from __future__ import annotations

import math
from typing import Any

from engine.records import IterationState, TrainStats
from server.live.outbox import Shared
from server.live.playback import METRICS_ON_SWITCH
from server.live.views import CROWD_SHARE
from server.protocol import server_message
from server.run.series import Metrics, trace_point

#: trace points a second at most while playing fast: at max_speed, one every 4 iterations
TRACE_HZ = 250.0
#: seconds to make, keep and encode one trace point (measured: a few µs), for the
#: crowd's share of a core (views.CROWD_SHARE), as the metrics points' evaluation
TRACE_POINT_S = 10e-6
#: trace points a whole series carries (and playback.METRICS_ON_SWITCH evaluated ones)
TRACE_ON_SWITCH = 1_500


#: a "last due" iteration before any: the first iteration asked about is due
NEVER = -(2**62)


def due(it: int, last: int, every: int) -> tuple[bool, int]:
    """Whether iteration ``it`` is due for a message sent every ``every`` iterations,
    the last one having gone at iteration ``last`` (:data:`NEVER`: none yet), and the
    new last. ``it`` is due from ``last + every`` on, or at once when the run jumped
    back before ``last``. The period may change from one call to the next (a crowd's
    spacing follows measured costs): points are never closer than the period asked."""
    if last <= it < last + every:
        return False, last
    return True, it


class TraceSampler:
    """Picks fast play's trace points, one every so many iterations (counted in
    iterations, as the metrics points are, so an overloaded server that plays
    slower than asked keeps the same share)."""

    def __init__(self) -> None:
        self.last_due = NEVER

    def points(self, stats: list[TrainStats], last: IterationState | None, speed: float,
               crowd: int) -> list[dict[str, Any]]:
        """The trace points due among ``stats`` (the iterations trained unseen) and
        ``last`` (the iteration played, unless it gets a metrics point): one every
        ``speed / TRACE_HZ`` iterations, or every ``crowd × TRACE_POINT_S × speed /
        CROWD_SHARE`` when the clock serves a crowd (all sessions' trace points then
        share about ``CROWD_SHARE`` of a core)."""
        every = max(1, math.ceil(speed / TRACE_HZ),
                    math.ceil(crowd * TRACE_POINT_S * speed / CROWD_SHARE))
        out: list[dict[str, Any]] = []
        for s in stats:
            for i, it0 in enumerate(s.iterations.tolist()):
                ok, self.last_due = due(it0 + 1, self.last_due, every)
                if ok:
                    out.append(trace_point(it0 + 1, float(s.loss[i]), float(s.lr[i]),
                                           s.gnorm[i].tolist()))
        if last is not None and last.done and last.loss is not None:
            ok, self.last_due = due(last.iteration + 1, self.last_due, every)
            if ok:
                out.append(trace_point(last.iteration + 1, float(last.loss.mean),
                                       float(last.lr), [float(g) for g in last.gnorms]))
        return out


def series_message(metrics: Metrics, **fields: Any) -> dict[str, Any]:
    """A ``metrics`` message holding a branch's whole series (``replace``): its
    evaluated points and its trace, each evenly thinned; ``fields`` added (a
    comparison's ``compare``)."""
    msg = server_message("metrics", **fields, replace=True,
                         points=metrics.points(METRICS_ON_SWITCH))
    if len(metrics.trace):
        msg["trace"] = metrics.trace.points(TRACE_ON_SWITCH)
    return msg


class CompareCache:
    """The comparisons a session sent last, each built and encoded once: asking again
    for a series that has not changed (a page asks after every branch switch; a script
    may ask 40 times a second) costs nothing. Holds at most ``size`` of them (a few
    hundred KB each)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.entries: list[tuple[Metrics, tuple[int, int, str], Shared]] = []

    def get(self, metrics: Metrics, of: dict[str, int]) -> Shared:
        """The ``metrics`` message comparing with ``metrics`` (a branch's series), whose
        ``compare`` is ``of``."""
        key = (len(metrics), len(metrics.trace), repr(sorted(of.items())))
        for m, k, msg in self.entries:
            if m is metrics and k == key:
                return msg
        msg = Shared(series_message(metrics, compare=of))
        self.entries = [(metrics, key, msg), *self.entries[:self.size - 1]]
        return msg
