"""One iteration of a run, captured for the "check it yourself" downloads.

A downloaded script reproduces one iteration by hand. It needs what went into
that iteration (the weights before its forward pass, its batch and dropout
mask, the optimizer's state and step count, the schedule's step, every
setting) and what the engine made of it (loss, gradients, new weights: the
numbers the page showed, which the script checks itself against).

:func:`capture_step` takes both from a stepper standing at an iteration's start
by stepping that iteration phase by phase; :func:`capture_at` gets such a
stepper for iteration ``i`` of a session's run without moving the session (a
stepper of its own, restored from the history's checkpoint before ``i`` and
trained forward, as the indexer does), in pieces on the engine thread.
No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from engine.config import RunConfig
from engine.model import NetSpec
from engine.stepper import NonFiniteError, Stepper
from server.run.branch import Walker
from server.run.history import History
from server.run.runconfig import run_config

Array = np.ndarray

#: iterations trained between two yields while reaching the captured one
PIECE_ITERATIONS = 64


class CaptureError(ValueError):
    """The iteration asked for cannot be captured (past the run, or it did not finish)."""


@dataclass
class Capture:
    """What one iteration used and what the engine made of it.

    Inputs: ``params`` before the forward pass (paired keys ``L1.W`` (n_in, n_out),
    ``L1.b`` (n_out,), ``L1.gamma``/``L1.beta`` with a norm); ``update_params`` those
    the update started from (``params`` unless a weight was edited by hand in the
    iteration); ``buffers`` batch norm's running statistics; ``x`` (B, n_in), ``t``
    (B, K); ``keep`` per hidden layer with dropout, 1 where a unit was kept (B, n);
    ``config`` the settings of the forward and backward phases, ``update_config``
    those of the update, ``loss_penalty`` (λ₁, λ₂) of the loss phase's regularization
    term (``config``'s unless the learner changed them after the loss phase);
    ``opt_state``/``opt_t`` the optimizer's state and step count before the update;
    ``grad_sum`` PyTorch's ``p.grad`` before this iteration under ``accumulate_grads``
    (else None); ``lr`` the schedule's rate at this iteration.
    Results (the engine's): ``loss`` (data term), ``reg`` (L1/L2 term), ``grads``
    (backward's, L1/L2 terms included), ``new_params``.
    """

    iteration: int
    spec: NetSpec
    config: RunConfig
    update_config: RunConfig
    params: dict[str, Array]
    update_params: dict[str, Array]
    buffers: dict[str, Array]
    x: Array
    t: Array
    keep: dict[int, Array]
    opt_name: str
    opt_hyper: dict[str, float | bool]
    opt_state: dict[str, dict[str, Array]]
    opt_t: int
    grad_sum: dict[str, Array] | None
    lr: float
    loss: float
    reg: float
    loss_penalty: tuple[float, float]
    grads: dict[str, Array]
    new_params: dict[str, Array]

    @property
    def number(self) -> int:
        """The iteration's number as the page counts (the first is 1; ``iteration`` is
        the 0-based index of the engine's records and the schedule's step)."""
        return self.iteration + 1


def capture_step(st: Stepper, between: Callable[[], None] | None = None) -> Capture:
    """Step ``st`` (at an iteration's start) through one whole iteration and capture
    it. ``between`` runs before each phase (a history applies logged commands there)."""
    if st.phase_index != 0:
        raise CaptureError("the stepper is inside an iteration")
    sync = between or (lambda: None)
    sync()
    iteration = st.iteration
    params = {k: v.copy() for k, v in st.net.params.items()}
    buffers = {k: v.copy() for k, v in st.net.buffers.items()}
    try:
        st.step_phase()
        sync()
        loss_penalty = (st.config.l1, st.config.l2)
        st.step_phase()
        sync()
        config = st.config
        st.step_phase()
        sync()
        update_config = st.config
        opt = st.optimizer.copy()
        grad_sum = ({k: v.copy() for k, v in st.grad_sum.items()}
                    if update_config.accumulate_grads else None)
        update_params = {k: v.copy() for k, v in st.net.params.items()}
        st.step_phase()
    except NonFiniteError as e:
        raise CaptureError(f"iteration {iteration} did not finish: {e}") from e
    p = st.last_iteration
    if st.halted is not None or p is None or p.loss is None or p.grads is None \
            or p.caches is None or p.x is None or p.t is None:
        raise CaptureError(f"iteration {iteration} did not finish")
    keep = {l: (c.mask != 0).astype(np.float64) for l, c in enumerate(p.caches, start=1)
            if c.mask is not None}
    same = all(np.array_equal(params[k], update_params[k]) for k in params)
    return Capture(
        iteration=iteration, spec=st.net.spec, config=config, update_config=update_config,
        params=params, update_params=params if same else update_params, buffers=buffers,
        x=p.x.copy(), t=p.t.copy(), keep=keep, opt_name=opt.name, opt_hyper=dict(opt.hyper),
        opt_state={k: {n: a.copy() for n, a in s.items()} for k, s in opt.state.items()},
        opt_t=opt.t, grad_sum=grad_sum, lr=float(p.lr), loss=float(p.loss.mean),
        reg=float(p.reg), loss_penalty=loss_penalty,
        grads={k: v.copy() for k, v in p.grads.items()},
        new_params={k: v.copy() for k, v in st.net.params.items()},
    )


def capture_at(history: History, iteration: int) -> Generator[None, None, Capture]:
    """Iteration ``iteration`` of ``history``'s active branch, captured on a stepper of
    its own (the session's stays where it is), a piece of training per turn.
    Raises :class:`CaptureError` past the run's furthest point (the iteration in
    progress there may be captured: the engine is deterministic)."""
    b = history.active
    if not 0 <= iteration <= b.head[0]:
        raise CaptureError(f"iteration {iteration} is not in the run (0 … {b.head[0]})")
    _, cp = b.checkpoint_before(iteration)
    st = Stepper(run_config(history.base))
    st.restore(cp.snap)
    w = Walker(st, b, cp.n_commands)
    history.sync(w)
    while st.iteration < iteration:
        history.advance(min(PIECE_ITERATIONS, iteration - st.iteration), w)
        if st.iteration < iteration:
            yield
    yield
    return capture_step(st, lambda: history.sync(w))
