"""Wire settings to engine settings, and the server's capacity limits on them.

The page sends :class:`~server.protocol.RunSettings` (validated field by field
by Pydantic); :func:`run_config` turns them into the engine's
:class:`~engine.config.RunConfig`, and :func:`check_limits` checks them against
the operator's :class:`~server.settings.Settings` (network size, dataset size,
batch), naming the setting an operator can raise.
"""

from __future__ import annotations

from engine.config import RunConfig
from engine.schedules import Schedule
from server.protocol import RunSettings
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
    checks = [
        ("max_layers", layers, s.max_layers, f"{layers} layers"),
        ("max_units", max(cfg.hidden, default=0), s.max_units,
         f"{max(cfg.hidden, default=0)} neurons in a layer"),
        ("max_inputs", len(cfg.features), s.max_inputs, f"{len(cfg.features)} inputs"),
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
        points=tuple((float(a), float(b), int(c)) for a, b, c in cfg.points),
        hidden=tuple(cfg.hidden), activation=cfg.activation,
        layer_activations=tuple(cfg.layer_activations), alpha=cfg.alpha,
        output_activation=cfg.output_activation, loss=cfg.loss, init=cfg.init,
        init_scale=cfg.init_scale, norm=cfg.norm, dropout=cfg.dropout, residual=cfg.residual,
        optimizer=cfg.optimizer.name, optimizer_params=cfg.optimizer.params(), lr=cfg.lr,
        schedule=Schedule(**cfg.schedule.model_dump()), clip_norm=cfg.clip_norm,
        clip_value=cfg.clip_value, l1=cfg.l1, l2=cfg.l2, batch_size=cfg.batch_size,
        seed=cfg.seed,
    )
