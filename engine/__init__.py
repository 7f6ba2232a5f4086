"""Backprop Lab's engine: a small dense network stepped one phase at a time.

Pure NumPy. No I/O, no printing, no sleeping; the server owns pacing.

Conventions (used by every module, the wire protocol and the DOM):

* A batch is rows: ``x`` has shape ``(B, n_in)``. A dense layer computes
  ``z = a_prev @ W + b`` with ``W`` of shape ``(n_in, n_out)`` and ``b`` of shape
  ``(n_out,)``, then ``a = f(z)`` (optionally through a normalization, dropout
  and a residual connection, see :mod:`engine.model`).
* ``dX`` means ∂L/∂X. ``delta`` of a layer is ∂L/∂z.
* Ids are stable strings used everywhere (engine, wire, DOM ``data-id``):
  ``L1.W``, ``L1.b``, ``L1.z``, ``L1.a``, ``L1.delta``, ``L1.dW``, ``L1.db``,
  ``L0.da`` … Layer 0 is the input (``L0.a`` is ``x``).
* The loss is the per-sample loss summed over outputs, then the mean over the
  batch: ``L = (1/B) Σ_i ℓ_i (+ regularization)``.

  - ``mse``: ``ℓ = ½ Σ_k (y_k − t_k)²`` so ∂ℓ/∂y = y − t.
  - ``bce``: sigmoid output, ``ℓ = Σ_k softplus(z_k) − t_k z_k`` (stable in the logit z).
  - ``cross_entropy``: softmax output, ``ℓ = logsumexp(z) − Σ_k t_k z_k``.
* float64 throughout; deterministic: the same seed and the same commands give
  bit-identical results. Randomness comes from ``numpy.random.Generator``
  objects spawned once from the run's seed.

Modules: :mod:`engine.catalog` (every choice the page may offer, as data:
the others take their names, defaults and ranges from it),
:mod:`engine.activations`, :mod:`engine.losses`, :mod:`engine.init`,
:mod:`engine.optim`, :mod:`engine.schedules`, :mod:`engine.data`,
:mod:`engine.model` (the network), :mod:`engine.config` (``RunConfig``),
:mod:`engine.batches` (mini-batches), :mod:`engine.stepper` (the phases and
the fast path), :mod:`engine.lean` (the lean loop on arrays),
:mod:`engine.records` (what the stepper hands out), :mod:`engine.metrics`
(training health), :mod:`engine.chain` (one number's chain rule),
:mod:`engine.landscape` (the loss over a slice of weight space).
``docs/engine.md`` lists where the engine differs from PyTorch on purpose.
"""

from engine.data import Dataset
from engine.model import LayerSpec, NetSpec, Network
from engine.schedules import Schedule
from engine.stepper import PHASES, NonFiniteError, PhaseRecord, RunConfig, Stepper, TrainStats

__all__ = [
    "PHASES",
    "Dataset",
    "LayerSpec",
    "NetSpec",
    "Network",
    "NonFiniteError",
    "PhaseRecord",
    "RunConfig",
    "Schedule",
    "Stepper",
    "TrainStats",
]
