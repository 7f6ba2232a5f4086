"""Engine benchmark: µs per captured iteration, fast-forward rate, and PyTorch beside it.

Run from the repository root::

    .venv/bin/python bench/engine.py            # add --json for machine-readable output

For each network (2-8-8-1, 2-8×6-1, 784-128-10, and 64-32-10 on the real 8×8
digits, batch 32, SGD) it measures, in
one process and interleaved round by round so that machine noise hits both
sides alike:

* ``captured``: median µs of :meth:`Stepper.step_iteration` (all four phase
  records, every intermediate value kept);
* ``fast``: iterations per second of :meth:`Stepper.train` (median of short
  chunks);
* ``torch``: median µs of a plain PyTorch CPU loop (forward, loss, backward,
  ``optimizer.step``) on the same shapes, when torch is importable.

With ``--baseline REV`` it instead compares the working tree's engine with
the one committed at git revision ``REV`` (exported to a temporary package
``engine_base``) in the same process, alternating blocks of captured
iterations between the two, and prints both medians, the per-round ratio
and whether both reach the same weights.

BLAS (and torch) are pinned to one thread, as the server runs them. This is a
benchmark, not a test: it asserts nothing; ``docs/performance.md`` records
its results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data import Dataset, make_dataset
from engine.model import LayerSpec, NetSpec
from engine.stepper import RunConfig, Stepper


def _import_torch() -> Any:
    """torch when importable, else None (the benchmark still runs without it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


torch: Any = _import_torch()

BATCH = 32


@dataclass(frozen=True)
class Case:
    """One benchmarked network."""

    name: str
    n_in: int
    hidden: tuple[int, ...]
    n_out: int
    activation: str
    loss: str  # bce or cross_entropy
    dataset: str | None = None  # a real dataset's training split instead of synthetic data


CASES = (
    Case("2-8-8-1", 2, (8, 8), 1, "tanh", "bce"),
    Case("2-8x6-1", 2, (8,) * 6, 1, "tanh", "bce"),
    Case("784-128-10", 784, (128,), 10, "relu", "cross_entropy"),
    Case("64-32-10 digits", 64, (32,), 10, "relu", "cross_entropy", dataset="digits"),
)


def make_data(case: Case, n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic inputs (n, n_in) and 0/1 or one-hot targets (n, n_out); for a real
    dataset, its standardised training split (899 rows of digits) as the lab makes it."""
    if case.dataset is not None:
        d = make_dataset(case.dataset, np.random.default_rng(seed))
        return d.x_train, d.t_train
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, case.n_in))
    if case.n_out == 1:
        t = (x[:, :1] * x[:, 1:2] > 0).astype(np.float64)
    else:
        t = np.eye(case.n_out)[rng.integers(0, case.n_out, n)]
    return x, t


def make_stepper(case: Case) -> Stepper:
    """A stepper for ``case`` on its synthetic data (SGD, lr 0.05, batch 32)."""
    x, t = make_data(case)
    spec = NetSpec(case.n_in, (*(LayerSpec(h, case.activation) for h in case.hidden),
                               LayerSpec(case.n_out, "linear")), case.loss)
    return Stepper(RunConfig(lr=0.05, batch_size=BATCH, seed=1),
                   spec=spec, data=Dataset.from_arrays(x, t))


class TorchLoop:
    """The same network and data as a plain PyTorch loop (float64, SGD)."""

    def __init__(self, case: Case) -> None:
        assert torch is not None
        torch.manual_seed(0)
        x, t = make_data(case)
        self.x = torch.tensor(x)
        self.t = torch.tensor(t) if case.n_out == 1 else torch.tensor(t.argmax(axis=1))
        act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[case.activation]
        layers: list[Any] = []
        prev = case.n_in
        for h in case.hidden:
            layers += [torch.nn.Linear(prev, h), act()]
            prev = h
        layers.append(torch.nn.Linear(prev, case.n_out))
        self.model = torch.nn.Sequential(*layers).double()
        self.loss = (torch.nn.BCEWithLogitsLoss() if case.loss == "bce"
                     else torch.nn.CrossEntropyLoss())
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05)
        self.cursor = 0

    def step(self) -> None:
        """One iteration: forward, loss, backward, update."""
        c = self.cursor
        if c + BATCH > len(self.x):
            c = 0
        self.cursor = c + BATCH
        xb, tb = self.x[c:c + BATCH], self.t[c:c + BATCH]
        self.opt.zero_grad(set_to_none=True)
        out = self.loss(self.model(xb), tb)
        out.backward()
        self.opt.step()


def time_calls(fn: Any, n: int) -> list[float]:
    """Per-call wall times (µs) of ``n`` calls."""
    out = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        fn()
        out.append((pc() - t0) / 1000.0)
    return out


def bench_case(case: Case, rounds: int, per_round: int, fast_n: int) -> dict[str, Any]:
    """Interleaved rounds of captured, torch and fast measurements for one case."""
    st = make_stepper(case)
    tl = TorchLoop(case) if torch is not None else None
    for _ in range(50):  # warm caches and allocators
        st.step_iteration()
        if tl is not None:
            tl.step()
    st.train(200)
    cap: list[list[float]] = []
    tor: list[list[float]] = []
    fast: list[list[float]] = []
    for _ in range(rounds):
        cap.append(time_calls(st.step_iteration, per_round))
        if tl is not None:
            tor.append(time_calls(tl.step, per_round))
        chunk = []
        for _ in range(10):
            t0 = time.perf_counter()
            st.train(fast_n)
            chunk.append((time.perf_counter() - t0) * 1e6 / fast_n)
        fast.append(chunk)

    def med(rows: list[list[float]]) -> float:
        return statistics.median([v for r in rows for v in r])

    def best(rows: list[list[float]]) -> float:
        # the quietest round: other processes on a shared machine slow some rounds
        return min(statistics.median(r) for r in rows)

    res: dict[str, Any] = {
        "net": case.name,
        "captured_us": med(cap),
        "fast_us": med(fast),
        "fast_its": 1e6 / med(fast),
        "captured_best_us": best(cap),
        "fast_best_its": 1e6 / best(fast),
    }
    if tor:
        res["torch_us"] = med(tor)
        res["torch_best_us"] = best(tor)
        # ratios round by round (each round's engine and torch blocks run back to back,
        # so a slow spell of the shared machine hits both sides), then their median
        per_round = [(statistics.median(t), statistics.median(c), statistics.median(f))
                     for t, c, f in zip(tor, cap, fast, strict=True)]
        res["torch_over_captured"] = statistics.median(t / c for t, c, _ in per_round)
        res["torch_over_fast"] = statistics.median(t / f for t, _, f in per_round)
    return res


def import_baseline(rev: str) -> Any:
    """The engine at git revision ``rev`` as a package named ``engine_base``."""
    import importlib
    import re
    import subprocess
    import tarfile
    import tempfile

    root = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="engine-base-"))
    tar = subprocess.run(["git", "archive", rev, "engine"], cwd=root, check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(tar)) as tf:
        tf.extractall(tmp, filter="data")
    (tmp / "engine").rename(tmp / "engine_base")
    for f in (tmp / "engine_base").glob("*.py"):
        f.write_text(re.sub(r"\b(from|import) engine\b", r"\1 engine_base", f.read_text()))
    sys.path.insert(0, str(tmp))
    return {m: importlib.import_module(f"engine_base.{m}") for m in ("data", "model", "stepper")}


def bench_baseline(rev: str, rounds: int, per_round: int) -> list[dict[str, Any]]:
    """Captured µs of the working tree against ``rev``, interleaved in one process."""
    base = import_baseline(rev)
    out = []
    for case in CASES[:2]:
        x, t = make_data(case)

        def build(data: Any, model: Any, stepper: Any, case: Case = case,
                  x: np.ndarray = x, t: np.ndarray = t) -> Any:
            spec = model.NetSpec(case.n_in, (*(model.LayerSpec(h, case.activation)
                                               for h in case.hidden),
                                             model.LayerSpec(case.n_out, "linear")), case.loss)
            return stepper.Stepper(stepper.RunConfig(lr=0.05, batch_size=BATCH, seed=1),
                                   spec=spec, data=data.Dataset.from_arrays(x, t))

        import engine.data
        import engine.model
        import engine.stepper
        sides = {"base": build(base["data"], base["model"], base["stepper"]),
                 "new": build(engine.data, engine.model, engine.stepper)}
        for st in sides.values():
            for _ in range(300):
                st.step_iteration()
        meds: dict[str, list[float]] = {"base": [], "new": []}
        for r in range(rounds):
            for k in (("base", "new") if r % 2 == 0 else ("new", "base")):
                meds[k].append(statistics.median(time_calls(sides[k].step_iteration, per_round)))
        same = all(np.array_equal(sides["base"].net.params[k], sides["new"].net.params[k])
                   for k in sides["new"].net.params)
        out.append({"net": case.name, "base_us": statistics.median(meds["base"]),
                    "new_us": statistics.median(meds["new"]),
                    "ratio": statistics.median(n / b for n, b in zip(meds["new"], meds["base"],
                                                                     strict=True)),
                    "same_weights": same})
    return out


def environment() -> dict[str, Any]:
    """What the numbers were measured under."""
    blas = [{k: i.get(k) for k in ("internal_api", "version", "num_threads")}
            for i in threadpool_info()]
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "blas": blas,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    """Parse options, run every case, print a table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--per-round", type=int, default=150)
    ap.add_argument("--fast", type=int, default=200,
                    help="iterations per fast-forward chunk (ten chunks a round)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--baseline", metavar="REV",
                    help="compare captured steps with the engine at this git revision")
    args = ap.parse_args()
    if args.baseline:
        with threadpool_limits(limits=1):
            rows = bench_baseline(args.baseline, max(args.rounds, 2) * 2, args.per_round)
        sys.stdout.write(json.dumps({"env": environment(), "baseline": args.baseline,
                                     "results": rows}, indent=2) + "\n")
        return
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        env = environment()
        results = []
        for case in CASES:
            scale = 10 if case.n_in > 100 else 1  # the big net: fewer, longer calls
            results.append(bench_case(case, args.rounds, max(args.per_round // scale, 20),
                                      max(args.fast // scale, 20)))
        env["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        sys.stdout.write(json.dumps({"env": env, "results": results}, indent=2) + "\n")
        return
    nan = float("nan")
    lines = [f"env: {json.dumps(env)}",
             "medians over all rounds (best round in brackets); ratios: median of per-round ratios",
             f"{'net':<15} {'captured µs':>16} {'fast it/s':>16} {'torch µs':>16} "
             f"{'torch/capt':>10} {'torch/fast':>10}"]
    for r in results:
        lines.append(
            f"{r['net']:<15} {r['captured_us']:>7.1f} ({r['captured_best_us']:>6.1f}) "
            f"{r['fast_its']:>7.0f} ({r['fast_best_its']:>6.0f}) "
            f"{r.get('torch_us', nan):>7.1f} ({r.get('torch_best_us', nan):>6.1f}) "
            f"{r.get('torch_over_captured', nan):>10.2f} "
            f"{r.get('torch_over_fast', nan):>10.2f}"
        )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
