"""Stacked-record benchmark: what fast play would cost if runs of one shape were one
stack of arrays, and each run's frame one row of it.

Not a test, and not the server: the measurement that decided a redesign (issue 18,
the route "a stacked record for runs of one shape"), which the server now does
(:mod:`engine.stacked`, with the engine's own operations, bit for bit; this bench's
simplified arithmetic shows the ceiling of the route). Earlier rounds measured two halves
of it and found neither pays alone (docs/performance.md): a stacked *pass* cut back
into per-run records (81 → 68 µs a run, unsafe for memory; safe, it did not pay), and
a binary frame packed from today's dicts (23 µs against orjson's 9.7). Here the
whole route is measured end to end, beside today's path in the same run:

- **today**: per run, :meth:`engine.stepper.Stepper.step_iteration` (the captured
  lean iteration, four records), :func:`server.run.compact.compact_iteration` and
  :func:`server.protocol.encode_bytes` of the four compact frames, the runs taken in
  turn as a worker's clock takes them (200 steppers: their arrays do not all stay
  in cache, as in the server);
- **stacked**: the same runs' parameters as arrays (S, n, m), one iteration of all of
  them as straight-line NumPy on (S, B, n) batches (tanh hidden layers, a linear
  output under bce, plain SGD: the default run), the numbers a compact frame holds
  computed for every run at once into one (S, F) float64 array (batch means by one
  reduction, the unit marks, gradients, norms, parameters and steps), then each
  run's message: a cached header and its row's bytes (binary), or its row as JSON.
  Each run still draws its own batch from its own generator (:class:`engine.batches.
  Batches`), as it must to stay the run it is.

It reports µs per run for each part, the engine's own captured step (the issue's
reference), and how far the stacked numbers are from each run's own after a few
iterations (the same batches, the same start): the redesign would have to keep
replays, rewinds and the inspector equal to what was shown.

    .venv/bin/python bench/stacked.py --runs 200 --seconds 2
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on sys.path and bench/engine.py would shadow
# the engine package: put the repository first instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from engine.stepper import Stepper  # noqa: E402
from server.protocol import RunSettings, encode_bytes  # noqa: E402
from server.run.compact import compact_iteration  # noqa: E402
from server.run.runconfig import run_config  # noqa: E402

Array = np.ndarray


def per_run(fn: Callable[[], object], runs: int, seconds: float) -> float:
    """CPU µs per run of ``fn`` (one call does every run once), median of rounds."""
    fn()
    times: list[float] = []
    t_end = time.process_time() + seconds
    while time.process_time() < t_end or len(times) < 5:
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    times.sort()
    return 1e6 * times[len(times) // 2] / runs


class Stack:
    """S default runs (2-4-4-1, tanh, linear output under bce, SGD) as stacked arrays.

    ``W[l]`` (S, n_{l−1}, n_l), ``b[l]`` (S, 1, n_l); :meth:`iteration` steps all of
    them on ``x`` (S, B, n_in), ``t`` (S, B, 1) and fills :attr:`rows` (S, F): per run
    the batch indices, the batch means of every layer's z and a, the saturated
    fraction of each hidden unit, the loss (data, reg, total), the means of y and t,
    of every δ, then dW, db, ‖dW‖, the rate, W and b after the update and their steps.
    """

    def __init__(self, steppers: list[Stepper]) -> None:
        self.layers = len(steppers[0].net.plans)
        self.W = [np.stack([s.net.params[f"L{l}.W"] for s in steppers])
                  for l in range(1, self.layers + 1)]
        self.b = [np.stack([s.net.params[f"L{l}.b"] for s in steppers])[:, None, :]
                  for l in range(1, self.layers + 1)]
        self.lr = np.array([s.config.lr for s in steppers])[:, None, None]
        self.rows: Array = np.empty(0)

    def iteration(self, idx: Array, x: Array, t: Array) -> Array:
        """One iteration of every run; returns :attr:`rows` (S, F)."""
        S, B, _ = x.shape
        ins, zs, hs = [x], [], []
        a = x
        for l in range(self.layers):
            z = np.matmul(a, self.W[l])
            z += self.b[l]
            if l + 1 < self.layers:
                a = np.tanh(z)
            else:
                sp = np.logaddexp(0.0, z)
                a = np.exp(z - sp)
            zs.append(z)
            hs.append(a)
            ins.append(a)
        per_sample = (sp - t * z)[:, :, 0]
        loss = per_sample.sum(1) / B
        delta = (a - t) / B
        deltas = [delta]
        dW: list[Array] = [np.empty(0)] * self.layers
        db: list[Array] = [np.empty(0)] * self.layers
        for l in range(self.layers - 1, -1, -1):
            dW[l] = np.matmul(ins[l].transpose(0, 2, 1), delta)
            db[l] = delta.sum(1, keepdims=True)
            if l:
                h = hs[l - 1]
                delta = np.matmul(delta, self.W[l].transpose(0, 2, 1)) * (1.0 - h * h)
                deltas.append(delta)
        deltas.reverse()
        gnorm = np.sqrt(np.stack([np.einsum("sij,sij->s", g, g) for g in dW], 1))
        if not (np.isfinite(loss).all() and np.isfinite(gnorm).all()):
            raise FloatingPointError("a run went non-finite (the stack would split it off)")
        steps_W = [-self.lr * g for g in dW]
        steps_b = [-self.lr * g for g in db]
        for l in range(self.layers):
            self.W[l] += steps_W[l]
            self.b[l] += steps_b[l]
        per_row = [*zs, *hs, t, *deltas]  # every (S, B, n) a frame averages
        means = np.add.reduce(np.concatenate(per_row, axis=2), 1) / B
        sat = [(np.abs(h) > 0.99).mean(1) for h in hs[:-1]]
        flat = lambda arrs: [a.reshape(S, -1) for a in arrs]  # noqa: E731
        self.rows = np.concatenate(
            [idx.astype(float), means, *sat, loss[:, None], np.zeros((S, 1)), loss[:, None],
             *flat(dW), *flat(db), gnorm, self.lr[:, :, 0],
             *flat(self.W), *flat(self.b), *flat(steps_W), *flat(steps_b)], axis=1)
        return self.rows


def frames_binary(rows: Array, heads: list[bytes]) -> list[bytes]:
    """Each run's message: its cached header (ids and shapes, sent once per run shape in
    a real protocol; here its length-prefixed bytes) and its row as float64 bytes."""
    data = rows.tobytes()
    n = rows.shape[1] * 8
    return [h + data[i * n:(i + 1) * n] for i, h in enumerate(heads)]


def frames_json(rows: Array, iteration: int) -> list[bytes]:
    """Each run's message as JSON: its row of numbers (the page maps them through the
    layout sent once)."""
    return [orjson.dumps({"type": "frames", "iteration": iteration, "v": r})
            for r in rows.tolist()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=2.0, help="per measured part")
    args = ap.parse_args()
    S = args.runs
    settings = RunSettings()
    config = run_config(settings)

    # ---- today: each run alone --------------------------------------------------------
    today = [Stepper(config) for _ in range(S)]

    def step_all() -> None:
        for st in today:
            st.step_iteration()

    recs_of: list[object] = []

    def step_and_compact() -> None:
        recs_of.clear()
        for st in today:
            recs = st.step_iteration()
            recs_of.append(compact_iteration([(r.phase, r.values) for r in recs]))

    def step_compact_encode() -> None:
        for st in today:
            recs = st.step_iteration()
            values = compact_iteration([(r.phase, r.values) for r in recs])
            encode_bytes([{"type": "frame", "phase": r.phase, "iteration": r.iteration,
                           "compact": True, "values": v}
                          for r, v in zip(recs, values, strict=True)])

    lone = Stepper(config)

    def engine_step() -> None:
        for _ in range(100):
            lone.step_iteration()

    # ---- stacked ------------------------------------------------------------------------
    runs = [Stepper(config) for _ in range(S)]
    stack = Stack(runs)
    heads = [struct.pack("<I", 24) + json.dumps({"type": "frames", "run": i}).encode()[:24]
             .ljust(24) for i in range(S)]

    def draw() -> tuple[Array, Array, Array]:
        drawn = [st.batches.next(st.config.batch_size) for st in runs]
        return (np.stack([d[0] for d in drawn]), np.stack([d[1] for d in drawn]),
                np.stack([d[2] for d in drawn]))

    batch = draw()

    def stacked_step() -> None:
        stack.iteration(*batch)

    def stacked_all_binary() -> None:
        frames_binary(stack.iteration(*draw()), heads)

    def stacked_all_json() -> None:
        frames_json(stack.iteration(*draw()), 0)

    # ---- how close: a fresh pair, the same batches ------------------------------------
    alone = [Stepper(config) for _ in range(8)]
    twins = [Stepper(config) for _ in range(8)]
    pair = Stack(twins)
    for _ in range(25):
        drawn = [st.batches.next(st.config.batch_size) for st in twins]
        pair.iteration(np.stack([d[0] for d in drawn]), np.stack([d[1] for d in drawn]),
                       np.stack([d[2] for d in drawn]))
        for st in alone:
            st.step_iteration()
    diffs = [float(np.max(np.abs(pair.W[l][i] - st.net.params[f"L{l + 1}.W"])))
             for i, st in enumerate(alone) for l in range(pair.layers)]
    equal = sum(np.array_equal(pair.W[l][i], st.net.params[f"L{l + 1}.W"])
                for i, st in enumerate(alone) for l in range(pair.layers))

    sec = args.seconds
    parts = {
        "engine_step_us": per_run(engine_step, 100, sec),
        "today_step_us": per_run(step_all, S, sec),
        "today_step_compact_us": per_run(step_and_compact, S, sec),
        "today_step_compact_encode_us": per_run(step_compact_encode, S, sec),
        "stacked_draw_us": per_run(draw, S, sec),
        "stacked_iteration_us": per_run(stacked_step, S, sec),
        "stacked_all_binary_us": per_run(stacked_all_binary, S, sec),
        "stacked_all_json_us": per_run(stacked_all_json, S, sec),
    }
    out = {"runs": S, **{k: round(v, 2) for k, v in parts.items()},
           "frame_numbers": int(stack.rows.shape[1]),
           "frame_bytes_binary": len(heads[0]) + 8 * int(stack.rows.shape[1]),
           "frame_bytes_json": len(frames_json(stack.rows, 0)[0]),
           "stacked_vs_alone_max_abs_diff_W": max(diffs),
           "stacked_vs_alone_bitwise_equal_W": f"{equal}/{len(diffs)}",
           "load_average_1m": round(os.getloadavg()[0], 2)}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
