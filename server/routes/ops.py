"""For the operator: ``/readyz`` (can this process take a learner now?) and
``/metrics`` (Prometheus's text format).

``/healthz`` (in :mod:`server.routes.pages`) says the process answers;
``/readyz`` says it can do a learner's work: it opens a session of the
default run on the engine thread, in its own turn like any learner's
command, steps one iteration through all four phases and checks the loss is
finite, within ``readyz_timeout_s``. It answers 503 when that fails or takes
too long (the engine thread is stuck or far behind) or when the store is
full. The session is not kept, and counts against no cap.

``/metrics`` is built by prometheus-client from a collector that reads the
app's state when scraped (nothing is counted twice, nothing on the hot path
but the counters the outboxes and the engine already keep). Every series has
a ``worker`` label, the worker's name (``<index>-<pid>-<token>``, as the
``x-bpl-worker`` header says), so several worker processes behind one port are told
apart; ``process_*`` series (CPU seconds, resident memory, open
descriptors) come from prometheus-client's process collector. CPU per
iteration is ``rate(bpl_engine_seconds_total) / rate(bpl_iterations_total)``.
docs/deploy.md lists the series.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.deps import SettingsDep, StoreDep, WorkerDep
from server.live.outbox import Outbox
from server.live.relay import ClassRelay
from server.live.session import Session
from server.live.store import SessionStore
from server.live.traffic import Traffic
from server.live.worker import Worker
from server.protocol import RunSettings
from server.run.history import COMPUTED

router = APIRouter()

#: the run ``/readyz`` steps: the default network, on its default data
READY_RUN = RunSettings()


@router.get("/readyz")
async def readyz(request: Request, store: StoreDep, worker: WorkerDep,
                 settings: SettingsDep) -> JSONResponse:
    """200 when a session opens and steps one iteration on the engine thread in time;
    503 (with the reason) when it fails, times out, or the server is full."""
    if len(store) >= settings.max_sessions:
        return JSONResponse({"ready": False, "reason": "full", "sessions": len(store),
                             "worker": request.app.state.worker_name}, 503)

    def open_and_step() -> float:
        s = Session(settings, READY_RUN)
        records = [s.history.step_phase() for _ in range(4)]
        return float(next(r.values["loss.total"] for r in records if r.phase == "loss"))

    name = request.app.state.worker_name
    t0 = time.perf_counter()
    try:
        loss = await asyncio.wait_for(worker.call(("readyz", id(t0)), open_and_step),
                                      settings.readyz_timeout_s)
    except TimeoutError:
        return JSONResponse({"ready": False, "reason": "engine thread too slow",
                             "timeout_s": settings.readyz_timeout_s, "worker": name}, 503)
    except Exception as e:
        return JSONResponse({"ready": False, "reason": f"{type(e).__name__}: {e}",
                             "worker": name}, 503)
    if not math.isfinite(loss):
        return JSONResponse({"ready": False, "reason": "non-finite loss", "worker": name}, 503)
    # Redis away does not make a worker unready: learners' runs are its own, and its
    # classes come back when Redis does (a balancer that took every worker out would
    # take the site down); "redis" says how it is (null: one process, no Redis)
    relay: ClassRelay = request.app.state.relay
    return JSONResponse({"ready": True, "ms": round((time.perf_counter() - t0) * 1e3, 1),
                         "sessions": len(store), "worker": request.app.state.worker_name,
                         "redis": None if relay.local else relay.bus.up})


class LabCollector(Collector):
    """The app's state as Prometheus series, read at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.worker_label = app.state.worker_name

    def collect(self) -> Iterator[Metric]:
        """Yield every series (sessions, followers, traffic, engine work)."""
        state = self.app.state
        store: SessionStore = state.sessions
        worker: Worker = state.worker
        traffic: Traffic = state.traffic
        connections: set[Outbox] = state.connections
        sessions = list(store)
        sent = traffic.totals(list(connections))
        label = [self.worker_label]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["worker"])
            g.add_metric(label, value)
            return g

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=["worker"])
            c.add_metric(label, value)
            return c

        yield gauge("bpl_sessions", "Sessions kept (attached or within their grace).",
                    len(sessions))
        refused = CounterMetricFamily(
            "bpl_refused", "Learners turned away, by the limit that did it (max_sessions, "
            "max_websockets, the per-address caps).", labels=["worker", "limit"])
        for limit, n in sorted(store.refused.items()):
            refused.add_metric([*label, limit], n)
        yield refused
        yield gauge("bpl_sessions_playing", "Sessions playing now.",
                    sum(s.playing for s in sessions))
        yield gauge("bpl_sessions_detached", "Sessions whose page left (kept for a reload).",
                    sum(s.detached_at is not None for s in sessions))
        relay: ClassRelay = state.relay
        yield gauge("bpl_followers", "Connections following a class (here or elsewhere).",
                    sum(len(s.audience) for s in sessions)
                    + sum(len(r) for r in relay.rooms.values()))
        yield gauge("bpl_connections", "Open session WebSockets.", len(connections))
        yield gauge("bpl_outbox_bytes", "Bytes queued for clients, all connections.",
                    sent["queued_bytes"])
        yield counter("bpl_iterations", "Iterations the engine computed (replays included).",
                      COMPUTED.iterations)
        yield counter("bpl_iterations_together",
                      "Fast-play iterations taken from a group of runs of their shape.",
                      COMPUTED.together)
        yield counter("bpl_iterations_together_computed",
                      "Fast-play iterations computed in a group (taken or not: the rest "
                      "is work a saturated worker threw away).", state.clock.stacked)
        yield counter("bpl_messages_sent", "Messages handed to client sockets.",
                      sent["messages"])
        yield counter("bpl_frames_sent", "Phase frames handed to client sockets.",
                      sent["frames"])
        yield counter("bpl_frames_dropped", "Frames dropped for slow readers (coalesced).",
                      sent["dropped"])
        yield counter("bpl_bytes_sent", "JSON bytes handed to client sockets.", sent["bytes"])
        yield counter("bpl_engine_seconds", "Seconds the engine thread spent working.",
                      worker.busy_s)
        yield gauge("bpl_engine_longest_piece_seconds",
                    "The longest single piece of work on the engine thread so far.",
                    worker.longest_s)
        yield gauge("bpl_engine_waiting", "Owners with work queued on the engine thread.",
                    worker.waiting())
        if not relay.local:  # several workers: the shared part (Redis)
            yield gauge("bpl_redis_up", "1 while this worker is connected to Redis.",
                        float(relay.bus.up))
            yield counter("bpl_redis_downs", "Times this worker lost Redis.", relay.bus.downs)
            yield counter("bpl_class_messages_published",
                          "Class messages published for followers on other workers.",
                          relay.published)
            yield counter("bpl_class_messages_unpublished",
                          "Class messages not published: Redis was away.", relay.dropped)
            yield gauge("bpl_class_rooms", "Classes owned elsewhere with followers here.",
                        len(relay.rooms))


class WorkerProcessCollector(Collector):
    """prometheus-client's ``process_*`` series (CPU seconds, resident memory, open
    descriptors) with this worker's ``worker`` label, as every ``bpl_*`` series has: a
    site's workers' processes are told apart wherever their series are gathered."""

    def __init__(self, label: str) -> None:
        self.inner = ProcessCollector(registry=None)
        self.label = label

    def collect(self) -> Iterator[Metric]:
        """Yield the process collector's families, each sample labelled."""
        for m in self.inner.collect():
            out = Metric(m.name, m.documentation, m.type, m.unit)
            for x in m.samples:
                out.add_sample(x.name, {**x.labels, "worker": self.label}, x.value, x.timestamp)
            yield out


def registry_for(app: FastAPI) -> CollectorRegistry:
    """A registry of ``app``'s own (one per app: tests build many apps)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LabCollector(app))
    registry.register(WorkerProcessCollector(app.state.worker_name))
    return registry


def mount(app: FastAPI) -> None:
    """Serve ``/readyz`` and ``/metrics`` for ``app`` (each app its own registry)."""
    registry = registry_for(app)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:  # the text is built on the loop: a few ms at most
        return Response(generate_latest(registry),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(router)
