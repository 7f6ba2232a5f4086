"""The ``inspect`` message: the engine's chain rule of one parameter or unit, shaped
for the wire.

All the numbers come from :mod:`engine.chain` (the project's only chain rule and
finite-difference check); this module picks which explanation to ask for and
trims and renames its parts for the page — no arithmetic of its own.

Two modes:

* **batch** (default): the iteration being stepped, from its phase records
  (:func:`engine.chain.trace_records`), so the numbers equal the frames; factors
  of phases not run yet are ``None`` (the page shows "…"). The check is of the
  gradient shown, in training mode (same batch, dropout masks and batch
  statistics, the L1/L2 term) as soon as the backward phase has run.
* **sample**: one data point (the focused one, see server/live/views.py), in
  evaluation mode with the current weights (:func:`engine.chain.trace_sample`);
  ℓ is that sample's own loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine import chain
from engine.gradcost import gradient_cost
from engine.stepper import PhaseRecord, Stepper

#: rows of the batch table sent to the page (a default batch of 10 whole: its sum can be
#: checked by hand; a larger batch's first 16)
MAX_ROWS = 16
#: entries of each downstream δ vector (and of a sample's Σₖ w δₖ) sent
MAX_PATH = 16


@dataclass
class Capture:
    """The phase records of the iteration in progress (or the last one completed).

    A fast-play iteration stepped with other runs (:mod:`engine.stacked`) leaves its
    records to be computed when first read (:meth:`defer`): most are never read."""

    iteration: int = -1
    _phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    _later: Callable[[], list[PhaseRecord] | None] | None = None

    @property
    def phases(self) -> dict[str, dict[str, Any]]:
        """Each phase's values by phase name (the deferred records computed now)."""
        later = self._later
        if later is not None:
            self._later = None
            self._phases = {r.phase: r.values for r in later() or ()
                            if r.iteration == self.iteration}
        return self._phases

    def add(self, phase: str, iteration: int, values: dict[str, Any]) -> None:
        """Keep one record; a forward record (or a new iteration) starts afresh."""
        if phase == "forward" or iteration != self.iteration:
            self._phases = {}
            self._later = None
            self.iteration = iteration
        self.phases[phase] = values

    def defer(self, iteration: int, later: Callable[[], list[PhaseRecord] | None]) -> None:
        """The whole of ``iteration``, its four records given by ``later()`` when read."""
        self.iteration = iteration
        self._phases = {}
        self._later = later

    def get(self, phase: str, key: str) -> Any:
        """A value of ``phase``'s record, or None if that phase has not run."""
        rec = self.phases.get(phase)
        return None if rec is None else rec.get(key)


def inspect_body(st: Stepper, cap: Capture, target_id: str, index: tuple[int, ...],
                 sample: tuple[str, int] | None) -> dict[str, Any]:
    """The ``inspect`` message body (without ``type``); docs/protocol.md lists its fields.

    ``factors`` [{key, value, phase}] name the columns of the chain rule (``value``:
    the focused sample's, in sample mode); ``rows`` one per sample (the first
    :data:`MAX_ROWS`) with the factors, their ``product`` and the unit's forward
    values; ``row_sum`` over the whole batch; ``data`` = ``row_sum``/B when
    ``per_sample`` (else ``row_sum``); ``grad`` = ``data`` + ``reg``; ``norm``,
    ``path``, ``sum``, ``forward``, ``check`` and ``update`` as :mod:`engine.chain`
    gives them; ``cost`` what every gradient costs numerically against one backward
    pass (:func:`engine.gradcost.gradient_cost`, for the batch the check is on).
    """
    if sample is not None:
        split, k = sample
        d = st.data
        x = (d.x_train if split == "train" else d.x_test)[k]
        t = (d.t_train if split == "train" else d.t_test)[k]
        tr: chain.Trace | None = chain.trace_sample(st.net, x, t, st.iteration, k)
    else:
        cfg = st.config
        tr = chain.trace_records(st.net, cap.phases, cap.iteration, cfg.l1, cfg.l2)
    if tr is None:  # no phase of an iteration has run here yet
        e = {**chain.describe(st.net, target_id, index), "batch_size": 0,
             "iteration": st.iteration, "per_sample": True, "factors": [], "rows": [],
             "row_sum": None, "data": None, "reg": 0.0, "regularized": False, "grad": None,
             "norm": None,
             "path": [], "forward": None, "sum": None, "loss_value": None, "check": None}
    else:
        e = chain.explain_trace(tr, target_id, index, rows=MAX_ROWS)
    rows = e["rows"]
    body: dict[str, Any] = {
        "id": target_id, "index": list(index), "kind": e["kind"], "layer": e["layer"],
        "activation": e["activation"], "loss": e["loss"], "depth": e["depth"],
        "mode": "sample" if sample is not None else "batch",
        "sample": None if sample is None else {"split": sample[0], "index": sample[1]},
        "batch_size": e["batch_size"], "iteration": e["iteration"],
        "per_sample": e["per_sample"],
        "factors": [{"key": f["key"], "phase": f["phase"],
                     "value": rows[0]["factors"][n] if sample is not None and rows else None}
                    for n, f in enumerate(e["factors"])],
        "rows": [{k: v for k, v in r.items() if k != "row"} for r in rows],
        "row_sum": e["row_sum"], "data": e["data"], "reg": e["reg"],
        "regularized": e["regularized"], "grad": e["grad"],
        "norm": e["norm"],
        "path": [{"layer": p["layer"], "kind": "delta", "phase": "backward",
                  "values": p["values"][:MAX_PATH]} for p in e["path"]],
        "forward": e["forward"],
        "sum": None if e["sum"] is None else {
            **e["sum"], "terms": e["sum"]["terms"][:MAX_PATH], "count": len(e["sum"]["terms"])},
        "loss_value": e["loss_value"],
        "check": None if e["check"] is None else {
            "backprop": e["check"]["analytic"], "numeric": e["check"]["numeric"],
            "h": e["check"]["h"], "rel_error": e["check"]["rel_error"],
            "mode": e["check"]["mode"]},
    }
    # what every gradient would cost by finite differences against backprop, for the
    # batch the check is on (the run's batch before any phase has run)
    body["cost"] = gradient_cost(st.net.spec, e["batch_size"] or st.batch_size)
    if e["kind"] == "unit":
        body["value"] = None if e["forward"] is None else e["forward"]["a"]
        body["update"] = None
    else:
        body["value"] = float(st.net.params[target_id][index])
        opt = st.optimizer
        body["update"] = chain.explain_update(cap.phases, target_id, index, opt.name, opt.hyper,
                                              st.config.clip_norm)
        if body["update"] is not None:
            body["update"]["iteration"] = cap.iteration
    return body

