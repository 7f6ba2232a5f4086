"""The cost model: what one run's work costs, estimated before it is done.

Every piece of work the engine thread does for a session must be short, so
that a heavy session slows itself and not the class. The work of a run is
estimated from its shape, not timed after the fact:

* multiply-adds of one forward pass of a batch of ``B`` rows:
  ``B · Σ_l n_{l−1} n_l`` (a dense layer ``z = a_prev @ W + b``);
* an **iteration** (forward, loss, backward, update): about three forward
  passes (backward computes ∂L/∂W and ∂L/∂a_prev, each as large as forward),
  plus a fixed per-iteration overhead of Python and NumPy calls;
* an **evaluation** (a metrics point, the maps): one forward pass of every
  sample of the train and test sets;
* a **full frame**: every value of the largest phase's record as JSON, at
  :data:`JSON_BYTES_PER_VALUE` bytes a value. The values are counted, not
  guessed: one iteration of a probe of the same network on batches of 2 and
  of 3 rows gives each phase's values per row and its fixed ones (weights,
  their gradients, optimizer state), so every array the engine records is
  counted (an estimate of δ and ∂L/∂a alone was half the backward frame of the
  largest network the limits allowed: 3.84 MB estimated, 7.0 MB sent).

Seconds come from a fixed reference machine (:data:`MACS_PER_S`,
:data:`ITERATION_OVERHEAD_S`): a slow core, so that the estimate is an upper
bound here and the same number on every machine (a limit must not depend on
how busy the server was when it measured). ``docs/security.md`` lists the
limits; ``bench/abuse.py`` measures what they protect.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from engine.stepper import Stepper
from server.run.compact import CompactValues

#: multiply-adds per second of the reference machine (float64 matmul, one core)
MACS_PER_S = 1.0e9
#: Python and NumPy call overhead of one iteration of a small network
ITERATION_OVERHEAD_S = 40e-6
#: JSON bytes per float64 value (shortest round-trip digits, a sign, an exponent now and
#: then, a comma; measured 21.8 on the backward frame of a 3 × 120 network)
JSON_BYTES_PER_VALUE = 22


@dataclass(frozen=True)
class Cost:
    """Estimated work of one run (reference-machine seconds, bytes)."""

    batch: int  # rows of one batch (0 in the settings: the whole training set)
    iteration_s: float  # forward, loss, backward and update of one batch
    eval_s: float  # one forward pass of every sample (a metrics point)
    #: each phase's values as (fixed, per row): its frame has fixed + batch · per row
    frame_values: tuple[tuple[int, int], ...] = ()

    @property
    def frame_bytes(self) -> int:
        """The largest full phase frame of a batch, JSON-encoded."""
        return JSON_BYTES_PER_VALUE * max(
            (fixed + self.batch * row for fixed, row in self.frame_values), default=0)

    def with_batch(self, batch: int) -> Cost:
        """The cost of the same run on batches of ``batch`` rows."""
        per_row = (self.iteration_s - ITERATION_OVERHEAD_S) / max(self.batch, 1)
        return Cost(batch, ITERATION_OVERHEAD_S + per_row * batch, self.eval_s,
                    self.frame_values)

    def replay_s(self, iterations: int) -> float:
        """Seconds to replay ``iterations`` iterations (a loaded run's indexing)."""
        return iterations * self.iteration_s


def estimate(st: Stepper) -> Cost:
    """The :class:`Cost` of ``st``'s run (its network, effective batch and data)."""
    sizes = st.net.spec.sizes
    macs_row = sum(a * b for a, b in itertools.pairwise(sizes))
    B = st.batch_size
    n_samples = len(st.data.x_train) + len(st.data.x_test)
    return Cost(
        batch=B,
        iteration_s=ITERATION_OVERHEAD_S + 3 * B * macs_row / MACS_PER_S,
        eval_s=n_samples * macs_row / MACS_PER_S,
        frame_values=phase_values(st),
    )


def phase_values(st: Stepper) -> tuple[tuple[int, int], ...]:
    """Each phase's record size in values as ``(fixed, per row)``, from one iteration
    of a probe with ``st``'s network and data on batches of 2 and of 3 rows (the
    probe's weights are new: only the shapes matter; ~1 ms for the largest network)."""
    counts = []
    for rows in (2, 3):
        probe = Stepper(replace(st.config, batch_size=rows), spec=st.net.spec, data=st.data)
        counts.append([count_values(rec.values) for rec in probe.step_iteration()])
    return tuple((2 * two - three, three - two)
                 for two, three in zip(counts[0], counts[1], strict=True))


def count_values(v: object) -> int:
    """Numbers in a record value (an array's entries, a dict's or list's items): times
    :data:`JSON_BYTES_PER_VALUE`, about its size on the wire."""
    if isinstance(v, np.ndarray):
        return int(v.size)
    if isinstance(v, dict):
        if isinstance(v, CompactValues):  # counted as it was made
            return v.numbers
        return sum(count_values(x) for x in v.values())
    if isinstance(v, list | tuple):
        return sum(count_values(x) for x in v)
    return 1


# ---- the loss landscape (server/run/landscape.py) -------------------------------------

#: elementwise work per unit and sample of an evaluation forward (its activation, a
#: norm's arithmetic, the loss, the bias and the copies between) on the reference core.
#: The landscape's batched forward is dominated by it, not by its multiply-adds:
#: measured here, all of it per unit and sample, 4–9 ns for tanh, ReLU and sigmoid
#: networks, 19 ns with batch norm and a softmax; GELU's 80 ns (its z**3) is
#: underestimated
ELEMENT_S = 10e-9
#: Python and NumPy call overhead per landscape point (the batched forward's calls,
#: spread over a chunk of points)
POINT_OVERHEAD_S = 1e-6


def landscape_point_s(st: Stepper) -> float:
    """Reference-machine seconds to evaluate the training-set loss at one point of
    weight space (:class:`engine.landscape.Evaluator`): per training sample, the
    forward's multiply-adds ``Σ_l n_{l−1} n_l`` and :data:`ELEMENT_S` per unit
    (twice for a layer with a norm), plus :data:`POINT_OVERHEAD_S`. A grid of
    ``n × n`` points costs ``n²`` times this."""
    sizes = st.net.spec.sizes
    macs_row = sum(a * b for a, b in itertools.pairwise(sizes))
    units_row = sum(n * (2 if ls.norm != "none" else 1)
                    for n, ls in zip(sizes[1:], st.net.spec.layers, strict=True))
    rows = len(st.data.x_train)
    return POINT_OVERHEAD_S + rows * (macs_row / MACS_PER_S + units_row * ELEMENT_S)
