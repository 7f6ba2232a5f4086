"""History benchmark: seek time and memory for a long run.

Not a test. Builds the history of one run as a session keeps it (checkpoints
within the session budget of ``max_history_mb``, the fast path called with
``--chunk`` iterations and a metrics point after each call, as a session
playing at full speed does), then seeks to random iterations and phases and
reports:

- the time to build the run (fast path plus checkpoints),
- seek time, median and p95 (restore + replay + the phases of the iteration
  shown; the frames' JSON encoding is timed separately),
- the history's memory: checkpoint bytes and metrics columns as the history
  counts them, and as allocated (``tracemalloc`` while copying them),
- that every seek gave back the first-computed numbers (a sample is checked
  against an independent phase-by-phase run).

Targets: seek ≤ 20 ms, ≤ 32 MB per session for a 100,000-iteration run.

    .venv/bin/python bench/history.py --iterations 100000 --hidden 8 8 --batch 10
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.stepper import Stepper  # noqa: E402
from server.protocol import RunSettings, encode, server_message  # noqa: E402
from server.run.history import History, records_equal  # noqa: E402
from server.run.runconfig import run_config  # noqa: E402
from server.settings import Settings  # noqa: E402

log = logging.getLogger("bench.history")


def pct(xs: list[float], q: float) -> float:
    """The ``q``-quantile of ``xs`` (nearest rank)."""
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    """Build, seek, measure, report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=100_000)
    ap.add_argument("--hidden", type=int, nargs="*", default=[8, 8])
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--dataset", default="xor")
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--seeks", type=int, default=300)
    ap.add_argument("--check", type=int, default=5, help="seeks checked bit for bit")
    ap.add_argument("--chunk", type=int, default=17,
                    help="iterations per fast-path call (a tick at 1000 it/s)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cfg = RunSettings(dataset=args.dataset, hidden=tuple(args.hidden), batch_size=args.batch,
                      lr=0.03, seed=1, optimizer={"name": args.optimizer})
    budget = int(Settings().max_history_mb * 2**20)  # as a session: the whole history
    h = History(Stepper(run_config(cfg)), cfg, budget_bytes=budget)
    st = h.stepper
    t0 = time.perf_counter()
    d = st.data
    while st.iteration < args.iterations:
        h.train(min(args.chunk, args.iterations - st.iteration))
        tl, ta = st.evaluate(d.x_train, d.t_train)
        h.record_metrics({"iteration": st.iteration, "train_loss": tl, "test_loss": tl,
                          "train_acc": ta, "test_acc": ta, "lr": cfg.lr})
    build = time.perf_counter() - t0

    cps = h.active.checkpoints
    cp_bytes = sum(cp.nbytes for cp in cps.values())
    m_bytes = h.active.metrics.nbytes
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    held = (copy.deepcopy({k: cp.snap for k, cp in cps.items()}),
            copy.deepcopy(h.active.metrics.cols))
    traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del held

    rng = random.Random(7)
    seek_ms: list[float] = []
    enc_ms: list[float] = []
    targets = []
    for _ in range(args.seeks):
        it = rng.randrange(args.iterations)
        p = rng.randrange(1, 5)
        pos = (it + 1, 0) if p == 4 else (it, p)
        t = time.perf_counter()
        recs = h.seek(pos)
        seek_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        for r in recs:
            encode(server_message("frame", phase=r.phase, iteration=r.iteration,
                                  values=r.values))
        enc_ms.append((time.perf_counter() - t) * 1e3)
        targets.append((pos, recs))

    checked = 0
    for pos, recs in sorted(targets[:args.check], key=lambda x: x[0]):
        ref = Stepper(run_config(cfg))
        start = recs[0].iteration
        ref.train(start)
        want = [ref.step_phase() for _ in recs]
        assert all(records_equal(a, b) for a, b in zip(recs, want, strict=True)), pos
        checked += 1

    print(f"run: {args.dataset} {[2, *args.hidden, 1]} batch {args.batch} "  # noqa: T201
          f"{args.optimizer}, {args.iterations} iterations, built in {build:.1f} s "
          f"({build / args.iterations * 1e6:.0f} µs/iteration incl. checkpoints)")
    print(f"checkpoints: {len(cps)} every {h.interval} iterations, "  # noqa: T201
          f"{cp_bytes / 2**20:.2f} MB counted, {traced / 2**20:.2f} MB allocated "
          f"(with metrics: {len(h.active.metrics)} points, {m_bytes / 2**20:.2f} MB)")
    print(f"history total (counted): {h.nbytes() / 2**20:.2f} MB "  # noqa: T201
          f"(target ≤ 32 MB)")
    print(f"seek over {args.seeks} random iterations/phases: median "  # noqa: T201
          f"{statistics.median(seek_ms):.2f} ms, p95 {pct(seek_ms, 0.95):.2f} ms, "
          f"max {max(seek_ms):.2f} ms (target ≤ 20 ms); frame encoding median "
          f"{statistics.median(enc_ms):.2f} ms; {checked} seeks checked bit for bit")


if __name__ == "__main__":
    main()
