"""All sessions' histories together stay within max_total_history_mb: the largest are
thinned (checkpoints dropped), and every run still replays exactly."""

from __future__ import annotations

import itertools

import pytest

from engine.stepper import Stepper
from server.live import memory
from server.protocol import RunSettings
from server.run.history import History, records_equal
from server.run.runconfig import run_config


def played(iterations: int) -> tuple[History, list]:  # type: ignore[type-arg]
    cfg = RunSettings(hidden=(32, 32))
    h = History(Stepper(run_config(cfg)), cfg, interval=16, budget_bytes=64 * 2**20)
    h.train(iterations)
    last = [h.step_phase() for _ in range(4)]
    return h, last


def test_the_largest_histories_are_thinned_to_fit_and_still_replay_exactly() -> None:
    runs = [played(n) for n in (400, 800, 1600)]
    before = [h.nbytes() for h, _ in runs]
    budget = sum(before) // 3
    total = memory.enforce((h for h, _ in runs), budget)
    after = [h.nbytes() for h, _ in runs]
    assert total == sum(after) <= budget
    assert after[2] < before[2]  # the largest gave memory back
    for h, last in runs:
        again = h.seek(h.pos)
        assert all(records_equal(a, b) for a, b in zip(last, again, strict=True))


def test_thinning_stops_once_only_the_first_and_the_live_checkpoint_are_left(
        caplog: pytest.LogCaptureFixture) -> None:
    """A budget too small for even those two keeps both and stops there: it doubled the
    interval up to 2^30, logging "history thinned" at each of ~25 useless doublings."""
    h, _ = played(300)
    with caplog.at_level("INFO", logger="backprop_lab"):
        h.shrink(1)
    assert set(h.active.checkpoints) == {0, 288}  # iteration 0 and where the run is
    thinned = [r for r in caplog.records if r.getMessage() == "history thinned"]
    assert h.interval <= 512 and len(thinned) <= 5


def test_within_the_budget_nothing_changes() -> None:
    h, _ = played(200)
    n = h.nbytes()
    assert memory.enforce([h], 10 * n) == n and h.nbytes() == n


def test_freed_memory_goes_back_to_the_system() -> None:
    """What freed sessions held is returned (glibc keeps freed heap chunks otherwise:
    a server stayed at 396 MB with no session left, 74 MB idle): release() trims."""
    import numpy as np
    import psutil

    me = psutil.Process()
    # many mid-sized arrays, as histories' checkpoints are: below the mmap threshold,
    # so glibc serves them from its heap and keeps the pages when they are freed
    held = [np.full(2000, float(i)) for i in range(10_000)]  # 160 MB
    kept = held[::50]  # a few stay alive (a session still playing), spread over the heap
    del held  # the rest freed: the heap cannot shrink past the live ones on its own
    before = me.memory_info().rss
    assert memory.release(now=1e9)
    after = me.memory_info().rss
    assert before - after > 100 * 2**20, (before >> 20, after >> 20)
    assert not memory.release(now=1e9 + 1)  # at most every RELEASE_EVERY_S...
    assert not memory.release_due(now=1e9 + 2)
    assert memory.release_due(now=1e9 + 1 + memory.RELEASE_EVERY_S)  # ...but not dropped
    assert not memory.release_due(now=1e9 + 2 + memory.RELEASE_EVERY_S)  # (done once)
    assert all(a[0] == 50 * i for i, a in enumerate(kept))  # the live ones untouched


def test_a_session_whose_page_left_keeps_its_run_in_little_memory() -> None:
    """A detached session is kept for a reload (disconnect_grace_s); meanwhile its
    history fits detached_history_mb, and once back it replays the same numbers."""
    from server.live.outbox import Outbox
    from server.live.session import Session
    from server.settings import Settings

    settings = Settings(detached_history_mb=0.5)
    s = Session(settings, RunSettings(hidden=(128, 128), batch_size=32))
    ob = Outbox(4096)
    s.attach(ob)
    s.history.train(1200)
    early = (40, 2)  # iteration 40, its forward and loss done
    before = s.history.seek(early)
    s.history.seek((1200, 0))
    assert s.history.nbytes() > 2**20
    s.detach()
    assert s.history.nbytes() <= 0.5 * 2**20
    s.attach(Outbox(4096))
    assert s.history.budget_bytes == int(settings.max_history_mb * 2**20)
    again = s.history.seek(early)
    assert len(again) == len(before) and all(
        records_equal(a, b) for a, b in zip(again, before, strict=True))


def test_a_class_run_left_by_its_teacher_and_then_its_class_is_kept_in_little_memory() -> None:
    """A teacher's run stays whole while the class still watches it after the teacher's
    page left; once the last student leaves too, it is kept as any run whose page left
    (the abuse bench's fork row: a teacher's run of the largest network stayed whole
    for the whole grace, its class gone)."""
    from server.live.outbox import Outbox
    from server.live.session import Session
    from server.live.sharing import Follower
    from server.settings import Settings

    s = Session(Settings(detached_history_mb=0.5), RunSettings(hidden=(128, 128)))
    s.attach(Outbox(4096))
    s.history.train(1200)
    f = Follower(Outbox(4096))
    s.add_follower(f)
    s.detach()  # the teacher's page left
    assert s.history.nbytes() > 2**20  # the class still sees the run as it was
    s.remove_follower(f)  # the last student left
    assert s.history.nbytes() <= 0.5 * 2**20
    assert s.stepper.last_iteration is None


def test_a_loaded_runs_indexing_lets_its_memory_go_without_the_collector() -> None:
    """The indexer's own stepper (a whole network) goes once indexing is done, and a run
    dropped mid-indexing is freed at once: history and indexer held each other, so
    both waited for the cyclic collector, which the server holds back (a freed
    session's run stayed, with two steppers, until it ran)."""
    import gc
    import weakref

    from server.protocol import RunFile
    from server.run.runfile import branches_from_file, run_file

    cfg = RunSettings(hidden=(16,))
    h = History(Stepper(run_config(cfg)), cfg, interval=8)
    h.train(100)
    file = RunFile.model_validate(run_file(h))

    def loaded() -> History:
        st = Stepper(run_config(cfg))
        saved, current = branches_from_file(file, st, max_batch=1000)
        g = History.from_branches(st, cfg, saved, current, interval=8)
        g.start_indexing(Stepper(run_config(cfg)))
        assert g.indexing is not None
        return g

    gc.disable()
    try:
        g = loaded()
        fresh = weakref.ref(g.indexing.fresh)  # type: ignore[union-attr]
        while not g.index_some(16):
            pass
        assert g.indexing is None and fresh() is None  # done: its stepper is gone
        assert g.seek((97, 1))  # and seeks reach the whole run
        g = loaded()
        g.index_some(16)  # dropped mid-indexing (its session ended)
        gone = weakref.ref(g)
        del g
        assert gone() is None
    finally:
        gc.enable()


def test_a_release_frees_what_reference_cycles_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server holds the cyclic collector back; a release runs it (at most every
    COLLECT_EVERY_S), so arrays kept only by freed cycles (a closed connection's
    tasks and tracebacks) go back to the system too."""
    import gc
    import weakref

    import numpy as np

    class Cycle:
        def __init__(self) -> None:
            self.me = self
            self.frames = np.ones(200_000)

    # (the module's clock of the last release, as if none had run: tests share it)
    monkeypatch.setattr(memory, "_last_release", -memory.RELEASE_EVERY_S)
    monkeypatch.setattr(memory, "_last_collect", -memory.COLLECT_EVERY_S)
    gc.disable()
    try:
        c = Cycle()
        held = weakref.ref(c.frames)
        del c
        assert held() is not None  # only the collector can free it
        assert memory.release(now=2e9)
        assert held() is None
        c = Cycle()
        held = weakref.ref(c.frames)
        del c
        assert memory.release(now=2e9 + memory.RELEASE_EVERY_S)  # trimmed, not collected:
        assert held() is not None  # a full collection holds the engine thread
        assert memory.release(now=2e9 + memory.COLLECT_EVERY_S)
        assert held() is None
    finally:
        gc.enable()


def test_a_threads_freed_heap_goes_back_after_a_large_frame() -> None:
    """The engine thread's heap gives back what a freed session held, even after a
    large frame (several MB, pages of its own) was freed: glibc would otherwise raise
    its thresholds to that size and keep twice as much free at the top of the thread's
    heap, where ``malloc_trim`` does not reach (a server sat at 100 MB against 82 idle
    once a big network's session was freed)."""
    import threading

    import numpy as np
    import psutil

    assert memory.tune()  # as the server does at start
    frame = np.ones(2 << 20)  # 16 MB, pages of its own
    del frame  # freed: glibc's own thresholds would rise to 16 and 32 MB here
    me = psutil.Process()
    before = me.memory_info().rss
    held: list[bytearray | None] = [None] * 120

    def session() -> None:  # a big network's buffers on the engine thread: 24 MB
        for i in range(len(held)):
            held[i] = bytearray(200_000)
        for i in reversed(range(len(held))):  # the newest first, each at the heap's top
            held[i] = None

    t = threading.Thread(target=session)
    t.start()
    t.join()
    assert me.memory_info().rss - before < 8 * 2**20, "the thread's heap kept what it freed"


def test_a_session_kept_for_a_reload_lets_the_values_shown_go_and_shows_them_again() -> None:
    """A session whose page left keeps no iteration's values (a batch's worth per layer:
    6 MB for the largest network, 45 MB for the seven copies of the abuse bench's fork
    row): its page's return recomputes the same ones, and the run goes on the same."""
    import copy
    import tracemalloc

    import numpy as np

    from server.live.outbox import Outbox
    from server.live.session import Session
    from server.settings import Settings

    def session() -> Session:
        s = Session(Settings(), RunSettings(hidden=(128, 128), batch_size=200, n_samples=400))
        s.attach(Outbox(4096))
        s.history.train(30)
        return s

    tracemalloc.start()  # (it counts what is allocated from now on)
    try:
        s, twin = session(), session()
        shown = copy.deepcopy(s.history.seek(s.history.pos))  # what the page showed
        last = s.stepper.last_iteration
        assert last is not None and last.caches is not None
        held = sum(c.a.nbytes + c.z.nbytes for c in last.caches)
        del last
        before = tracemalloc.get_traced_memory()[0]
        s.detach()
        freed = before - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert freed >= held > 2**19, (freed, held)
    s.attach(Outbox(4096))  # the page is back
    again = s.history.seek(s.history.pos)
    assert len(again) == len(shown) == 4
    assert all(records_equal(a, b) for a, b in zip(again, shown, strict=True))
    s.history.train(10)
    twin.history.train(10)
    assert all(np.array_equal(v, twin.stepper.net.params[k])
               for k, v in s.stepper.net.params.items())


def test_copies_of_a_class_run_kept_for_a_reload_hold_no_phase_values() -> None:
    """The abuse bench's fork row, in process: six copies of a teacher's run whose pages
    left keep neither the stepper's last values nor the inspector's phase records of the
    iteration shown (these stayed, 2.4 MB a copy of the largest network: the row's
    server stayed 54 % above idle for the grace); a page back gets the same records."""
    import weakref

    import numpy as np

    from server.live.outbox import Outbox
    from server.live.session import Session
    from server.settings import Settings

    def arrays(cap: dict[str, dict[str, object]]) -> list[np.ndarray]:
        return [v for rec in cap.values() for v in rec.values() if isinstance(v, np.ndarray)]

    settings = Settings()
    teacher = Session(settings, RunSettings(hidden=(128, 128), batch_size=200, n_samples=400))
    teacher.attach(Outbox(4096))
    teacher.history.train(100)
    copies = [Session(settings, RunSettings()) for _ in range(6)]
    for c in copies:
        c.attach(Outbox(4096))
        c.copy_from(teacher)
    shown = {p: {k: np.copy(v) for k, v in rec.items() if isinstance(v, np.ndarray)}
             for p, rec in copies[0].views.capture.phases.items()}
    # (each array or what it views: a batch's inputs view the dataset, the update's
    # weights are the live ones; both stay, the rest is the iteration's own)
    held = [(weakref.ref(a if a.base is None else a.base), a.nbytes) for c in copies
            for a in arrays(c.views.capture.phases)]
    total = sum(n for _, n in held)
    assert total > 6 * 2**20
    for c in copies:
        c.detach()
    assert all(not c.views.capture.phases for c in copies)
    freed = sum(n for r, n in held if r() is None)  # at once, not by the collector
    assert freed > 0.9 * total, (freed, total)
    copies[0].attach(Outbox(4096))  # its page is back
    again = copies[0].views.capture.phases
    assert set(again) == set(shown) and all(
        np.array_equal(again[p][k], v) for p, rec in shown.items() for k, v in rec.items())


def test_a_page_back_after_leaving_replays_no_more_than_before_it_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A session kept for a reload has its checkpoints thinned, but not the one its
    page's return starts from: the return replays no more iterations than a reload
    before leaving would (it replayed up to the thinned interval at once on the engine
    thread, every learner's frames waiting: 1.5 s for the largest network)."""
    from server.live.outbox import Outbox
    from server.live.session import Session
    from server.settings import Settings

    s = Session(Settings(detached_history_mb=0.5), RunSettings(hidden=(64, 64)))
    s.attach(Outbox(4096))
    s.history.train(3000)
    s.history.step_phase()  # (the page shows a phase inside the next iteration)
    interval = s.history.interval
    replayed: list[int] = []
    advance = History.advance

    def counted(self: History, n: int, *args: object, **kw: object) -> None:
        replayed.append(n)
        advance(self, n, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(History, "advance", counted)
    s.detach()
    assert s.history.interval > interval and s.history.nbytes() <= 0.5 * 2**20
    s.attach(Outbox(4096))  # the page is back
    assert sum(replayed) < interval


def test_a_page_back_after_leaving_gets_dense_checkpoints_again_as_it_plays_on() -> None:
    """The thinning of a session kept for a reload is for while it is kept: once its
    page is back, what it plays from then on is checkpointed as densely as before, so
    a seek into it replays no more than before the page left (it kept the thinned
    interval for good: seeks into the rest of the run replayed up to 16 × as far)."""
    from server.live.outbox import Outbox
    from server.live.session import Session
    from server.settings import Settings

    s = Session(Settings(detached_history_mb=0.25), RunSettings(hidden=(64, 64)))
    s.attach(Outbox(4096))
    s.history.train(2000)
    dense = s.history.interval
    s.detach()
    assert s.history.interval >= 8 * dense  # kept small: thinned...
    assert s.history.interval <= 4096  # ...down to the first and the live one, no further
    s.attach(Outbox(4096))
    s.history.train(1000)  # the learner plays on
    taken = sorted(it for it in s.history.active.checkpoints if it > 2000)
    assert taken and all(b - a == dense for a, b in itertools.pairwise(taken))
    assert 3000 - taken[-1] <= dense
    assert all(s.history.active.checkpoint_before(it)[0] >= it - dense
               for it in range(2100, 3000, 37))


@pytest.mark.parametrize(("given", "runs_on"), [(None, "malloc"), ("pymalloc", "pymalloc")])
def test_the_server_runs_on_the_c_allocator_unless_told_otherwise(
        given: str | None, runs_on: str) -> None:
    """``python -m server.serve`` starts itself again on glibc's allocator (a big
    session's small objects then go back to the system with it), in the same process,
    so what started it still holds the server; an allocator the operator names stays."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    from tests.helpers.net import free_port, wait_healthy

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    env |= {"HOST": "127.0.0.1", "PORT": str(port), **({"PYTHONMALLOC": given} if given else {})}
    proc = subprocess.Popen([sys.executable, "-m", "server.serve"], env=env,
                            cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=20)
        assert psutil.Process(proc.pid).environ().get("PYTHONMALLOC") == runs_on
    finally:
        proc.kill()
        proc.wait()
