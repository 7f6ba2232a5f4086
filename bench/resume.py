"""What a learner's reconnect to another worker costs, two ways (docs/deploy.md):
the page's own copy (the ``save`` message, kept by the page and sent back as
``load``) against a copy kept in Redis. Either way the run comes back by replaying
its run file; this measures the file's size, how often a playing session sends it,
and the replay's time, for short and long runs of a small and a larger network.

    .venv/bin/python bench/resume.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# run as a script, bench/ comes first on sys.path and bench/engine.py would shadow the
# engine package
sys.path[0] = str(Path(__file__).resolve().parents[1])

import orjson  # noqa: E402

from server.live.outbox import Outbox  # noqa: E402
from server.live.session import Session  # noqa: E402
from server.protocol import RunSettings, client_adapter, encode_bytes  # noqa: E402
from server.run.runfile import run_file  # noqa: E402
from server.settings import Settings  # noqa: E402

RUNS = {
    "xor, 2-4-1": RunSettings(),
    "moons, 16-16, 200 samples": RunSettings(dataset="moons", hidden=[16, 16], n_samples=200,
                                             batch_size=20),
}


def main() -> None:
    settings = Settings()
    print("| run | iterations | changes | save bytes | replay to resume (ms) |")  # noqa: T201
    print("|---|---|---|---|---|")  # noqa: T201
    for name, cfg in RUNS.items():
        for iterations in (300, 3_000, 30_000):
            s = Session(settings, cfg)
            s.attach(Outbox(4096))
            s.history.train(iterations // 2)
            s.handle(client_adapter.validate_python({"type": "set", "lr": 0.1}))
            s.history.train(iterations - iterations // 2)
            run = run_file(s.history, metrics=False)
            size = len(encode_bytes({"type": "save", "run": run}))
            load = client_adapter.validate_python({"type": "load", "run": orjson.loads(
                orjson.dumps(run))})
            t = Session(settings)
            t.attach(Outbox(4096))
            t0 = time.perf_counter()
            t.handle(load)
            ms = (time.perf_counter() - t0) * 1e3
            assert t.stepper.iteration == s.stepper.iteration
            print(f"| {name} | {iterations} | 1 | {size} | {ms:.0f} |")  # noqa: T201


if __name__ == "__main__":
    main()
