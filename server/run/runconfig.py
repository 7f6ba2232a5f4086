"""Wire settings to engine settings, and the server's capacity limits on them.

The page sends :class:`~server.protocol.RunSettings` (validated field by field
by Pydantic); :func:`run_config` turns them into the engine's
:class:`~engine.config.RunConfig`, and :func:`check_limits` checks them against
the operator's :class:`~server.settings.Settings` (network size, dataset size,
batch), naming the setting an operator can raise.
"""

from __future__ import annotations

from engine import catalog
from engine.config import RunConfig
from engine.schedules import Schedule
from engine.stepper import Stepper
from server.protocol import RunSettings
from server.run.cost import Cost, estimate
from server.settings import Settings


class LimitError(ValueError):
    """A request exceeded a configured limit; ``limit`` names it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def check_limits(cfg: RunSettings, s: Settings) -> None:
    """Raise :class:`LimitError` naming the first limit ``cfg`` exceeds.

    Pydantic checks each field's own range; these are the server's capacity
    limits (``Settings``), so the error names the setting an operator can raise.
    """
    layers = len(cfg.hidden) + 1
    ds = catalog.entry("datasets", cfg.dataset)
    inputs = ds.dims if ds.real else len(cfg.features)  # a table's columns are its inputs
    checks = [
        ("max_layers", layers, s.max_layers, f"{layers} layers"),
        ("max_units", max(cfg.hidden, default=0), s.max_units,
         f"{max(cfg.hidden, default=0)} neurons in a layer"),
        ("max_inputs", inputs, s.max_inputs, f"{inputs} inputs"),
        ("max_samples", cfg.n_samples, s.max_samples, f"a dataset of {cfg.n_samples} samples"),
        ("max_samples", len(cfg.points), s.max_samples, f"{len(cfg.points)} custom points"),
        ("max_batch", cfg.batch_size, s.max_batch, f"batch size {cfg.batch_size}"),
    ]
    for name, value, limit, what in checks:
        if value > limit:
            raise LimitError(name, f"{what}: more than {name}={limit} allows")


def run_config(cfg: RunSettings) -> RunConfig:
    """The engine's :class:`RunConfig` for validated wire settings."""
    return RunConfig(
        dataset=cfg.dataset, n_samples=cfg.n_samples, noise=cfg.noise,
        test_fraction=cfg.test_fraction, features=tuple(cfg.features),
        standardize=cfg.standardize,
        points=tuple((float(a), float(b), int(c)) for a, b, c in cfg.points),
        hidden=tuple(cfg.hidden), activation=cfg.activation,
        layer_activations=tuple(cfg.layer_activations), alpha=cfg.alpha,
        output_activation=cfg.output_activation, loss=cfg.loss, init=cfg.init,
        init_scale=cfg.init_scale, norm=cfg.norm, dropout=cfg.dropout, residual=cfg.residual,
        optimizer=cfg.optimizer.name, optimizer_params=cfg.optimizer.params(), lr=cfg.lr,
        schedule=Schedule(**cfg.schedule.model_dump()), clip_norm=cfg.clip_norm,
        clip_value=cfg.clip_value, l1=cfg.l1, l2=cfg.l2,
        accumulate_grads=cfg.accumulate_grads, batch_size=cfg.batch_size, seed=cfg.seed,
    )


def check_cost(cost: Cost, s: Settings) -> None:
    """Raise :class:`LimitError` when one piece of the run's work would be too long
    (``max_piece_ms``: an iteration, or a metrics point over the whole dataset), a
    full frame too large (``max_frame_mb``), or its batch — 0 means the whole
    training set — larger than ``max_batch``."""
    if cost.batch > s.max_batch:
        raise LimitError("max_batch", f"batch size {cost.batch} (the whole training set): "
                         f"more than max_batch={s.max_batch} allows")
    ms = 1000 * cost.iteration_s
    if ms > s.max_piece_ms:
        raise LimitError("max_piece_ms", f"one iteration of this network on a batch of "
                         f"{cost.batch} takes about {ms:.0f} ms; the server allows "
                         f"{s.max_piece_ms:g} ms (max_piece_ms): use fewer or narrower "
                         "layers, or a smaller batch")
    ms = 1000 * cost.eval_s
    if ms > s.max_piece_ms:
        raise LimitError("max_piece_ms", f"evaluating this network on the whole dataset "
                         f"takes about {ms:.0f} ms; the server allows {s.max_piece_ms:g} ms "
                         "(max_piece_ms): use fewer samples, or fewer or narrower layers")
    mb = cost.frame_bytes / 2**20
    if mb > s.max_frame_mb:
        raise LimitError("max_frame_mb", f"one step of this network on a batch of "
                         f"{cost.batch} sends about {mb:.1f} MB; the server allows "
                         f"{s.max_frame_mb:g} MB (max_frame_mb): use a smaller batch")


def checked_stepper(cfg: RunSettings, s: Settings) -> Stepper:
    """A stepper for ``cfg`` within every limit (:func:`check_limits`, then the cost
    model, :func:`check_cost`); :class:`LimitError` or ValueError otherwise."""
    check_limits(cfg, s)
    st = Stepper(run_config(cfg))
    check_cost(estimate(st), s)
    return st
