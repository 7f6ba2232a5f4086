"""Serve Backprop Lab with uvicorn configured from :class:`~server.settings.Settings`.

``python -m server.serve`` is ``uvicorn server.app:create_app --factory`` with
the options this server relies on set consistently:

- per-message deflate **off** (compressing numeric frames costs 5–10× the
  server CPU per frame, and a decompressed size is what limits must apply to);
- ``ws_max_size`` = 4 × ``max_message_bytes``: messages up to
  ``max_message_bytes`` are processed, larger ones up to the cap get a
  ``too_large`` error, anything beyond closes the connection (1009) before it
  is buffered whole;
- slow and silent sockets cut: a request head bounded in bytes and time
  (``max_header_bytes``, ``request_head_timeout_s``: :mod:`server.headguard`),
  idle keep-alive connections closed after ``keep_alive_s``, WebSockets pinged
  every ``ws_ping_interval_s`` and closed (1011) when a ping goes unanswered
  for ``ws_ping_timeout_s``; a closed WebSocket's peer given ``ws_close_timeout_s`` to
  answer, and one that stopped reading cut at once (:mod:`server.wsclose`);
- at most ``max_connections`` open connections (uvicorn's ``limit_concurrency``:
  HTTP requests past it get 503), ``max_connections_per_address`` HTTP ones from
  one address, and the process's descriptor limit raised to fit them when the
  system allows;
- ``X-Forwarded-For`` believed only from ``trusted_proxies`` (uvicorn's
  ``forwarded_allow_ips``): the per-address caps count the address it names;
- on SIGTERM or Ctrl-C, every session socket closed with 1001 (going away)
  after its pending messages (:class:`Server`), then uvicorn's own bounded
  graceful shutdown, so a stuck client cannot hold a restart.

``HOST`` and ``PORT`` come from the environment (defaults 127.0.0.1:8000); use
``HOST=0.0.0.0`` to serve a class on the local network.

With ``BPL_WORKERS=N`` (N > 1, and ``BPL_REDIS_URL``) this process is a small
supervisor instead (:class:`Supervisor`): it starts N worker processes, each
``python -m server.serve`` again with its index in ``BACKPROP_LAB_WORKER``, each
binding the one port with ``SO_REUSEPORT`` (the kernel spreads new connections
over them) and running uvicorn on that socket; a worker that dies is started
again. uvicorn's own ``workers=`` is not used: it pickles the configuration for
spawned children, and the HTTP and WebSocket protocol classes here are made at
run time (:func:`~server.headguard.bounded_head_protocol`,
:func:`~server.wsclose.closing_protocol`), so each worker builds its own. On
SIGTERM or Ctrl-C the supervisor passes SIGTERM on to every worker (each closes
its sockets with 1001) and waits for them.

The server runs on the C library's allocator (``PYTHONMALLOC=malloc``): unless the
environment already names an allocator, :func:`main` starts itself again with it.
Python's own small-object allocator keeps a 1 MB arena as long as one object in it
lives, and objects that outlive a big session (a log record, a cached string) pin
the arenas its short-lived ones were taken from: measured with ``bench/abuse.py``,
after a fork, twenty parallel downloads or slow play of the largest network the
server settled 23–26 % above its idle memory with Python's allocator and 11–15 %
with glibc's (whose free pages :mod:`server.live.memory` hands back). It costs
about 5 % more CPU per iteration (40 sessions at 30 it/s, in process: 221 against
211 µs; docs/performance.md). ``PYTHONMALLOC=pymalloc`` keeps Python's.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import uvicorn
from fastapi import FastAPI

from server.app import WORKER_ENV, close_sockets, ops_port
from server.headguard import bounded_head_protocol
from server.logs import configure_logging, uvicorn_log_config
from server.settings import Settings
from server.wsclose import closing_protocol

log = logging.getLogger("backprop_lab.serve")

GRACEFUL_SHUTDOWN_S = 5
#: descriptors kept beyond ``max_connections``: listening socket, logs, libraries
SPARE_DESCRIPTORS = 64


def uvicorn_config(host: str, port: int, settings: Settings | None = None,
                   **overrides: object) -> uvicorn.Config:
    """The uvicorn :class:`~uvicorn.Config` for serving the app on ``host:port``."""
    settings = settings or Settings()
    options: dict[str, object] = {
        "factory": True,
        "host": host,
        "port": port,
        "http": bounded_head_protocol(settings),
        "ws": closing_protocol(settings),
        "ws_per_message_deflate": False,
        "ws_max_size": settings.ws_max_size,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "forwarded_allow_ips": settings.trusted_proxies,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "log_level": settings.log_level.lower(),  # (uvicorn sets its loggers' level to it)
        "log_config": uvicorn_log_config(settings.log_level, settings.log_json),
        **overrides,
    }
    return uvicorn.Config("server.app:create_app", **options)  # type: ignore[arg-type]


class Server(uvicorn.Server):
    """uvicorn's server, closing the app's session sockets with 1001 (going away) before
    its own shutdown, which would close each WebSocket with 1012 (service restart)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, close the session sockets (1001), then uvicorn's shutdown."""
        for server in getattr(self, "servers", []):
            server.close()
        app = _fastapi_app(self.config.loaded_app) if self.config.loaded else None
        if app is not None:
            await close_sockets(app)
        await super().shutdown(sockets)


def _fastapi_app(app: object) -> FastAPI | None:
    """The FastAPI app inside uvicorn's middleware (its proxy-headers wrapper)."""
    for _ in range(8):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
    return None


def raise_descriptor_limit(needed: int) -> None:
    """Raise this process's open-file limit to ``needed`` if the hard limit allows (a
    1024-descriptor default would run out before ``max_connections``); warn if not."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning("descriptor limit below max_connections",
                    extra={"limit": target, "needed": needed})


def bound_socket(host: str, port: int, shared: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``SO_REUSEADDR``: a connection in TIME_WAIT
    does not hold it). ``shared``: other workers of this site may bind it too
    (``SO_REUSEPORT``: Linux then spreads new connections over the listening ones, and
    only processes of the same user may join); else it is this process's alone, as a
    worker's metrics port (``Settings.metrics_port``) is."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_taken(host: str, port: int) -> bool:
    """Whether another server listens on ``host:port`` (its workers' ``SO_REUSEPORT``
    would let this site's bind it too, and the kernel would split the learners between
    the two sites): a bind without ``SO_REUSEPORT`` fails then."""
    try:
        bound_socket(host, port).close()
    except OSError:
        return True
    return False


def metrics_ports_problem(settings: Settings, port: int) -> str | None:
    """Why the workers' metrics ports (``metrics_port`` … ``metrics_port + workers - 1``)
    cannot be had, or None: one of them the site's own port (its learners would get the
    metrics port's 404), or past the last port."""
    if not settings.metrics_port:
        return None
    first, last = settings.metrics_port, settings.metrics_port + settings.workers - 1
    if first <= port <= last:
        return (f"BPL_METRICS_PORT={first} gives the workers ports {first}-{last}, which "
                f"include the site's PORT {port}: choose ports apart from it")
    if last > 65535:
        return f"BPL_METRICS_PORT={first} with {settings.workers} workers goes past port 65535"
    return None


#: a worker that exits sooner than this after its start is restarted only after a pause
RESTART_PAUSE_S = 1.0
#: how long the supervisor waits for its workers to finish after SIGTERM, then kills them
STOP_WAIT_S = GRACEFUL_SHUTDOWN_S + 5.0


class Supervisor:
    """Starts ``n`` worker processes on ``host:port`` and starts again any that exits,
    until SIGTERM or Ctrl-C."""

    def __init__(self, host: str, port: int, n: int) -> None:
        self.host = host
        self.port = port
        self.n = n
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}
        self.stopping = False

    def _start(self, i: int) -> None:
        env = {**os.environ, WORKER_ENV: str(i), "HOST": self.host, "PORT": str(self.port)}
        self.children[i] = subprocess.Popen([sys.executable, "-m", "server.serve"], env=env)
        self.started[i] = time.monotonic()
        log.info("worker started", extra={"index": i, "pid": self.children[i].pid})

    def _stop(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def run(self) -> None:
        """Supervise until told to stop; then stop every worker."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for i in range(self.n):
            self._start(i)
        while not self.stopping:
            for i, p in list(self.children.items()):
                code = p.poll()
                if code is None or self.stopping:
                    continue
                log.warning("worker exited", extra={"index": i, "pid": p.pid, "code": code})
                if time.monotonic() - self.started[i] < RESTART_PAUSE_S:
                    time.sleep(RESTART_PAUSE_S)  # (a worker that cannot start: no busy loop)
                if not self.stopping:
                    self._start(i)
            time.sleep(0.05)
        for p in self.children.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for p in self.children.values():
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


#: the allocator the server runs on unless the environment names one (see above)
ALLOCATOR = "malloc"


def on_c_allocator() -> None:
    """Start this process again on :data:`ALLOCATOR` unless ``PYTHONMALLOC`` is set
    (an allocator is chosen before Python starts; ``exec`` keeps the process id, so a
    service manager or a test that started it still holds the server)."""
    if os.environ.get("PYTHONMALLOC"):
        return
    env = {**os.environ, "PYTHONMALLOC": ALLOCATOR}
    os.execve(sys.executable, [sys.executable, "-m", "server.serve", *sys.argv[1:]], env)


def main() -> None:
    """Run the server until interrupted: one process, or a supervisor of ``workers``."""
    on_c_allocator()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    settings = Settings()
    if os.environ.get(WORKER_ENV) is None:
        problem = metrics_ports_problem(settings, port)
        if problem:
            sys.exit(problem)
    if os.environ.get(WORKER_ENV) is None and settings.workers > 1:
        if not settings.redis_url:
            sys.exit("BPL_WORKERS > 1 needs BPL_REDIS_URL: the workers share class codes "
                     "and class streams through Redis (docs/deploy.md)")
        configure_logging(settings.log_level, settings.log_json)
        if port_taken(host, port):
            sys.exit(f"port {port} on {host} is in use: another server listens there (a "
                     "second site on it would get half of the learners); stop it, or set PORT")
        Supervisor(host, port, settings.workers).run()
        return
    raise_descriptor_limit(settings.max_connections + SPARE_DESCRIPTORS)
    config = uvicorn_config(host, port, settings)
    server = Server(config)
    own = ops_port(settings)
    extra = [] if own is None else [bound_socket(settings.metrics_host, own)]
    if os.environ.get(WORKER_ENV) is None:
        server.run(sockets=[config.bind_socket(), *extra] if extra else None)
    else:  # one of several workers on the one port
        server.run(sockets=[bound_socket(host, port, shared=True), *extra])


if __name__ == "__main__":
    main()
