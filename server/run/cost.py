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
* a **full frame**: the per-sample arrays of the largest phase (backward: δ,
  ∂L/∂a of every layer; forward: z and a) as JSON, at
  :data:`~server.live.outbox.JSON_PER_ARRAY_BYTE` bytes per array byte.

Seconds come from a fixed reference machine (:data:`MACS_PER_S`,
:data:`ITERATION_OVERHEAD_S`): a slow core, so that the estimate is an upper
bound here and the same number on every machine (a limit must not depend on
how busy the server was when it measured). ``docs/security.md`` lists the
limits; ``bench/abuse.py`` measures what they protect.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from engine.stepper import Stepper

#: multiply-adds per second of the reference machine (float64 matmul, one core)
MACS_PER_S = 1.0e9
#: Python and NumPy call overhead of one iteration of a small network
ITERATION_OVERHEAD_S = 40e-6
#: JSON bytes per float64 value (shortest round-trip digits and a comma)
JSON_BYTES_PER_VALUE = 20


@dataclass(frozen=True)
class Cost:
    """Estimated work of one run (reference-machine seconds, bytes)."""

    batch: int  # rows of one batch (0 in the settings: the whole training set)
    iteration_s: float  # forward, loss, backward and update of one batch
    eval_s: float  # one forward pass of every sample (a metrics point)
    frame_bytes: int  # the largest full phase frame, JSON-encoded

    def with_batch(self, batch: int) -> Cost:
        """The cost of the same run on batches of ``batch`` rows."""
        per_row = (self.iteration_s - ITERATION_OVERHEAD_S) / max(self.batch, 1)
        return Cost(batch, ITERATION_OVERHEAD_S + per_row * batch, self.eval_s,
                    self.frame_bytes * batch // max(self.batch, 1))

    def replay_s(self, iterations: int) -> float:
        """Seconds to replay ``iterations`` iterations (a loaded run's indexing)."""
        return iterations * self.iteration_s


def estimate(st: Stepper) -> Cost:
    """The :class:`Cost` of ``st``'s run (its network, effective batch and data)."""
    sizes = st.net.spec.sizes
    macs_row = sum(a * b for a, b in itertools.pairwise(sizes))
    units_row = sum(sizes[1:])
    B = st.batch_size
    n_samples = len(st.data.x_train) + len(st.data.x_test)
    return Cost(
        batch=B,
        iteration_s=ITERATION_OVERHEAD_S + 3 * B * macs_row / MACS_PER_S,
        eval_s=n_samples * macs_row / MACS_PER_S,
        # backward carries δ and ∂L/∂a of every layer for each row (forward z and a)
        frame_bytes=2 * B * units_row * JSON_BYTES_PER_VALUE,
    )


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
