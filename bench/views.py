"""Views benchmark: what maps and the inspector cost the server, per message.

For a few network sizes it times :func:`server.run.maps.compute_maps` (one
evaluation-mode forward of the output grid and the neuron grids, quantized)
and the encoded size of the ``maps`` message, and times one ``inspect``
message body (batch mode with the engine's finite-difference check). Each
view is sent at most ``map_hz`` (10) times a second per session and at most
once per ten times its compute time, so ``ms`` × 10 is a session's CPU share
per second in the worst case.

Usage::

    .venv/bin/python bench/views.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# run as a script, bench/ comes first on sys.path and bench/engine.py would shadow the
# engine package: put the repository root there instead
sys.path[0] = str(Path(__file__).resolve().parents[1])

from engine.stepper import Stepper  # noqa: E402
from server.protocol import RunSettings, encode  # noqa: E402
from server.run.inspect import Capture, inspect_body  # noqa: E402
from server.run.maps import compute_maps  # noqa: E402
from server.run.runconfig import run_config  # noqa: E402

NETS = [(4, 4), (8, 8, 8), (32, 32), (64,) * 4, (128,) * 8]


def timed(fn: Callable[[], object], n: int) -> float:
    """Median milliseconds of ``n`` calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def main() -> None:
    """Print a Markdown table of the measurements."""
    print("| hidden | maps ms | maps bytes | neuron grid | inspect ms |")  # noqa: T201
    print("|---|---:|---:|---:|---:|")  # noqa: T201
    for hidden in NETS:
        st = Stepper(run_config(RunSettings(dataset="spiral", hidden=hidden, batch_size=32)))
        st.train(5)
        cap = Capture()
        for rec in st.step_iteration():
            cap.add(rec.phase, rec.iteration, rec.values)
        m = compute_maps(st.net, st.data, 64, st.iteration)
        size = len(encode({"type": "maps", **m}))
        ms_maps = timed(lambda st=st: compute_maps(st.net, st.data, 64, st.iteration), 20)
        ms_insp = timed(lambda st=st, cap=cap: inspect_body(st, cap, "L1.W", (0, 0), None), 20)
        print(f"| {'-'.join(map(str, hidden))} | {ms_maps:.2f} | {size:,} | "  # noqa: T201
              f"{m['neuron_size']}² | {ms_insp:.2f} |")


if __name__ == "__main__":
    main()
