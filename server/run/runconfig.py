"""Wire settings to engine settings, and the server's capacity limits on them.

The page sends :class:`~server.protocol.RunSettings` (validated field by field
by Pydantic); :func:`run_config` turns them into the engine's
:class:`~engine.config.RunConfig`, and :func:`check_limits` checks them against
the operator's :class:`~server.settings.Settings` (network size, dataset size,
batch), naming the setting an operator can raise.
"""

from __future__ import annotations

import numpy as np

from engine import catalog
from engine.config import RunConfig
from engine.owndata import CsvError, Table, parse_csv
from engine.schedules import Schedule
from engine.stepper import Stepper
from server.protocol import RunSettings
from server.run.cost import Cost, estimate
from server.runsettings import OwnTable
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
    rows = 0
    if cfg.dataset == "own":
        if cfg.table is None:
            raise ValueError("own data: open a CSV file first")
        inputs, rows = len(cfg.table.columns), len(cfg.table.x)
    checks = [
        ("max_layers", layers, s.max_layers, f"{layers} layers"),
        ("max_units", max(cfg.hidden, default=0), s.max_units,
         f"{max(cfg.hidden, default=0)} neurons in a layer"),
        ("max_inputs", inputs, s.max_inputs, f"{inputs} inputs"),
        ("max_samples", cfg.n_samples, s.max_samples, f"a dataset of {cfg.n_samples} samples"),
        ("max_samples", len(cfg.points), s.max_samples, f"{len(cfg.points)} custom points"),
        ("max_samples", rows, s.max_samples, f"a table of {rows} rows"),
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
        table=own_table(cfg.table) if cfg.dataset == "own" and cfg.table is not None else None,
    )


def csv_settings(text: str, current: RunSettings,
                 s: Settings) -> tuple[RunSettings | None, CsvError | None]:
    """``current`` settings on the ``own`` dataset of CSV ``text``, or the
    :class:`~engine.owndata.CsvError` saying what is wrong; at most ``max_samples`` rows
    and ``max_inputs`` feature columns."""
    try:
        table = parse_csv(text, s.max_samples, s.max_inputs)
    except CsvError as e:
        return None, e
    return current.model_copy(update={"dataset": "own", "table": wire_table(table)}), None


def own_table_kept(cfg: RunSettings, current: RunSettings) -> RunSettings:
    """``cfg``, on the ``own`` dataset without a table, with the current run's table (the
    page sends new settings without echoing the table it was given)."""
    if cfg.dataset == "own" and cfg.table is None and current.table is not None:
        return cfg.model_copy(update={"table": current.table})
    return cfg


def own_table(t: OwnTable) -> Table:
    """The engine's :class:`~engine.owndata.Table` for a wire table."""
    y = np.asarray(t.y, dtype=np.float64)
    return Table(tuple(t.columns), np.asarray(t.x, dtype=np.float64), t.target,
                 y.astype(np.int64) if t.labels is not None else y,
                 None if t.labels is None else tuple(t.labels))


def wire_table(t: Table) -> OwnTable:
    """The wire form of a parsed :class:`~engine.owndata.Table`."""
    return OwnTable(columns=t.columns, x=tuple(map(tuple, t.x.tolist())), target=t.target,
                    y=tuple(t.y.tolist()), labels=t.labels)


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
