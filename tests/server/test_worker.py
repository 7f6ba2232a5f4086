"""The engine thread: every owner's work runs in order, owners take turns a piece at
a time, and cancelling never loses another owner's work or the thread."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Generator, Iterator

import numpy as np

from server.live.playback import keep_params
from server.live.worker import SEND_TURN_S, Worker
from tests.helpers.net import poll


def test_owners_take_turns_a_piece_at_a_time_and_keep_their_order() -> None:
    w = Worker()
    log: list[str] = []
    gate = threading.Event()

    def long(name: str) -> Iterator[None]:
        for i in range(3):
            log.append(f"{name}{i}")
            yield

    w.submit("a", gate.wait)  # hold the thread until everything is queued
    w.submit("a", lambda: long("a"))
    w.submit("a", lambda: log.append("a-next"))
    w.submit("b", lambda: long("b"))
    gate.set()
    poll(lambda: len(log) == 7, 5, "every job")
    w.stop()
    # a's later job waits for a's long one; b's pieces come in between a's
    assert log.index("a-next") > log.index("a2")
    assert log.index("b0") < log.index("a2")


def test_cancel_and_submit_again_while_running_keeps_the_thread_and_the_new_job() -> None:
    w = Worker()
    started, go = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> Iterator[None]:
        started.set()
        go.wait()
        yield
        ran.append("old rest")  # dropped: it was cancelled

    w.submit("idx", first)
    started.wait(5)
    w.cancel("idx")  # while its piece runs
    w.submit("idx", lambda: ran.append("new"))
    w.submit("other", lambda: ran.append("other"))
    go.set()
    poll(lambda: {"new", "other"} <= set(ran), 5, "the new job and the other owner's")
    w.submit("other", lambda: ran.append("after"))
    poll(lambda: "after" in ran, 5, "work after the cancel")  # the thread lives on
    w.stop()
    assert "old rest" not in ran


def test_a_timeline_that_supersedes_a_pending_one_keeps_its_weights() -> None:
    """After a jump, the weights in use ride on the timeline; a later timeline (of the
    indexer, of play) replacing it before it is sent must not drop them."""
    jump = {"type": "timeline", "iteration": 5, "params": {"L1.W": [[1.0]]}}
    later = {"type": "timeline", "iteration": 5, "indexed": 900}
    merged = keep_params(jump, later)
    assert merged["indexed"] == 900 and merged["params"] == jump["params"]
    assert keep_params(later, jump) == jump


def test_a_big_weights_csv_is_built_in_pieces_of_one_iteration_between_others_turns(
) -> None:
    """A download of the largest network's weights (~1 MB of CSV) was one 53 ms piece on
    the engine thread; now other owners run between its pieces, and the file is still
    of the one iteration it started at though the run steps on meanwhile."""
    import asyncio
    import csv
    import io

    from engine.config import RunConfig
    from engine.stepper import Stepper
    from server.run.runfile import CSV_ROWS_PER_PIECE, weights_csv

    st = Stepper(RunConfig(dataset="circle", hidden=(96, 96), batch_size=16, seed=3))
    before = {k: a.copy() for k, a in st.net.params.items()}
    entries = sum(a.size for a in before.values())
    assert entries > 3 * CSV_ROWS_PER_PIECE
    w = Worker()
    log: list[str] = []

    def build() -> Generator[None, None, str]:
        pieces = 0
        gen = weights_csv(st)
        try:
            while True:
                next(gen)
                pieces += 1
                log.append("csv")
                yield
        except StopIteration as done:
            log.append(f"pieces={pieces}")
            return str(done.value)

    weights_at = {0: before}

    def learner() -> None:
        log.append("step")
        st.step_iteration()
        weights_at[st.iteration] = {k: a.copy() for k, a in st.net.params.items()}

    gate = threading.Event()

    async def main() -> str:
        # the worker waits at a gate until both owners' work is queued (else, under
        # load, it ran pieces of the download before the learner's jobs arrived)
        w.submit("gate", gate.wait)
        task = asyncio.ensure_future(w.call_pieces("download", build))
        await asyncio.sleep(0)
        for _ in range(3):
            w.submit("learner", learner)
        gate.set()
        return await task

    text = asyncio.run(main())
    w.stop()
    assert log.index("step") < log.index("csv", 2)  # the learner ran between the pieces
    assert st.iteration == 3
    rows = list(csv.DictReader(io.StringIO(text)))
    iterations = {r["iteration"] for r in rows}
    assert len(rows) == entries and len(iterations) == 1
    at = weights_at[int(iterations.pop())]
    assert any(not np.array_equal(at[k], st.net.params[k]) for k in at)  # it stepped on
    for r in rows:
        a = at[r["id"]]
        v = a[int(r["row"])] if a.ndim == 1 else a[int(r["row"]), int(r["col"])]
        assert float(r["value"]) == v  # exact: the weights of the iteration it names


class LateTicker:
    """A clock whose ticks take longer than its period, overrunning while ``full``."""

    period = 0.002

    def __init__(self) -> None:
        self.full = True
        self.overruns = 0
        self.ticks: list[tuple[float, float, bool]] = []  # (start, end, overran)

    def tick(self, now: float) -> int:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.003:  # busy, as an engine step is
            pass
        if self.full:
            self.overruns += 1
        self.ticks.append((t0, time.perf_counter(), self.full))
        return 1

    def reap(self, now: float) -> None:
        pass


def test_after_a_tick_that_could_not_serve_everyone_the_engine_steps_aside_for_the_sends(
) -> None:
    """Saturated, the engine thread leaves the event loop a turn between ticks to send
    what the tick made (else the loop waits for a forced GIL switch, falls behind and
    the learners' frames are coalesced away); when the clock only runs late, it does not."""
    ticker = LateTicker()
    w = Worker(ticker)
    w.start()
    poll(lambda: len(ticker.ticks) >= 30, 10, "ticks while saturated")
    ticker.full = False
    n = len(ticker.ticks)
    poll(lambda: len(ticker.ticks) >= n + 30, 10, "ticks while late")
    w.stop()
    gaps = [(b[0] - a[1], a[2]) for a, b in zip(ticker.ticks, ticker.ticks[1:], strict=False)]
    after_full = [g for g, full in gaps if full]
    after_late = [g for g, full in gaps if not full]
    assert min(after_full) >= SEND_TURN_S
    assert statistics.median(after_late) < SEND_TURN_S / 2
