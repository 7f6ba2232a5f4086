"""The systemd unit of docs/deploy.md, as an operator would copy it: systemd's own reader
(``systemd-analyze verify``, Debian's systemd package, installed by ``make test``) takes
it without a warning, and the service it describes (its command, working directory,
environment, file limit and kill signal, run here as systemd would run them: the test
machines have no service manager) is a two-worker site on Redis that answers under the
unit's host name and stops cleanly within the unit's stop timeout.

Only the install path and the ports are the test's own: ``/opt/backprop-lab`` is this
checkout, and ``PORT`` and the Redis URL are free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.helpers.net import free_port, free_ports, poll
from tests.helpers.site import ROOT, Redis

DOC = ROOT / "docs" / "deploy.md"
#: where the doc installs the lab
INSTALLED = "/opt/backprop-lab"


def documented_unit() -> str:
    """The ``ini`` block that follows the unit's path in docs/deploy.md."""
    found = re.search(r"`/etc/systemd/system/backprop-lab\.service`:\s*```ini\n(.*?)```",
                      DOC.read_text(), re.S)
    assert found, "docs/deploy.md has no backprop-lab.service block"
    return found.group(1)


def service(unit: str) -> dict[str, list[str]]:
    """The ``[Service]`` section's settings (each key's values, in order)."""
    section = re.search(r"^\[Service\]\n(.*?)(?=^\[|\Z)", unit, re.S | re.M)
    assert section
    out: dict[str, list[str]] = {}
    for line in section.group(1).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def here(unit: str) -> str:
    """The unit with this checkout in place of the install path."""
    return unit.replace(INSTALLED, str(ROOT))


def test_systemd_reads_the_documented_unit_without_a_warning(tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze is missing: `make test` installs Debian's systemd"
    path = tmp_path / "backprop-lab.service"
    path.write_text(here(documented_unit()))
    done = subprocess.run([exe, "verify", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # (an unknown key or a malformed line is only a warning to systemd, on stderr)
    assert [w for w in done.stderr.splitlines() if "backprop-lab.service" in w] == []


def test_a_typo_in_a_unit_is_what_the_reader_catches(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key in the same unit is reported."""
    exe = shutil.which("systemd-analyze")
    assert exe
    path = tmp_path / "backprop-lab.service"
    path.write_text(here(documented_unit()).replace("KillSignal=", "KillSignall="))
    done = subprocess.run([exe, "verify", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert "KillSignall" in done.stderr


def unit_socket(port: int, host: str) -> ClientConnection:
    """A WebSocket to the site on ``port``, asking for it by the unit's host name."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    return connect(f"ws://{host}:{port}/ws", sock=sock, open_timeout=3).__enter__()


def test_the_documented_service_runs_a_site_and_stops_within_its_timeout() -> None:
    unit = service(documented_unit())
    env: dict[str, str] = {}
    for assignments in unit["Environment"]:
        for pair in shlex.split(assignments):
            key, _, value = pair.partition("=")
            env[key] = value
    assert env["BPL_WORKERS"] == "2" and env["BPL_REDIS_URL"].startswith("redis://")
    host = env["BPL_ALLOWED_HOSTS"].split(",")[0]
    port = free_port()
    redis = Redis()
    redis.start()
    metrics = free_ports(2)  # (the unit's BPL_METRICS_PORT: each worker's own)
    assert env["BPL_METRICS_PORT"]
    env.update(PORT=str(port), BPL_REDIS_URL=redis.url, BPL_LOG_LEVEL="WARNING",
               BPL_METRICS_PORT=str(metrics), PATH="/usr/bin:/bin", HOME=str(Path.home()))
    assert unit["User"] == ["backprop"]  # (not applied: it runs as whoever runs the tests)
    nofile = int(unit["LimitNOFILE"][0])
    stop_s = float(unit["TimeoutStopSec"][0])
    kill = getattr(signal, unit["KillSignal"][0])

    # LimitNOFILE (as high as this machine lets an unprivileged process go), through
    # util-linux's prlimit; a process group of its own stands for the unit's cgroup
    nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    prlimit = shutil.which("prlimit")
    assert prlimit
    proc = subprocess.Popen([prlimit, f"--nofile={nofile}:{nofile}", "--",
                             *shlex.split(here(unit["ExecStart"][0]))],
                            cwd=here(unit["WorkingDirectory"][0]), env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        def get(path: str, as_host: str) -> tuple[int, str, str]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                         headers={"Host": as_host})
            try:
                with urllib.request.urlopen(req, timeout=3) as r:
                    return r.status, r.headers.get("x-bpl-worker", ""), r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, "", ""

        def workers() -> set[str] | None:
            seen = set()
            for _ in range(24):
                try:
                    status, worker, _ = get("/readyz", host)
                except OSError:
                    return None
                if status == 200:
                    seen.add(worker)
            return seen if len(seen) == 2 else None

        poll(workers, 30, "both workers to be ready", every=0.1)
        assert get("/healthz", "evil.example.com")[0] == 400  # only the unit's host name
        # each worker's metrics port answers a scraper asking by this machine's address
        for i in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics + i}/metrics",
                                        timeout=5) as r:
                assert r.headers["x-bpl-worker"].startswith(f"{i}-")
                assert b"bpl_sessions{" in r.read()

        sockets: list[ClientConnection] = []
        served: set[str] = set()
        for _ in range(40):
            ws = unit_socket(port, host)
            assert ws.response is not None
            served.add(ws.response.headers["x-bpl-worker"])
            sockets.append(ws)
            ws.send(json.dumps({"type": "hello"}))
            ws.send(json.dumps({"type": "play", "speed": 30}))
            if len(served) == 2 and len(sockets) >= 2:
                break
        assert len(served) == 2, served
        for ws in sockets:
            while frame_type(ws.recv(timeout=10)) != "frame":
                pass

        t0 = time.monotonic()
        # systemd's default KillMode=control-group: the signal goes to every process
        os.killpg(proc.pid, kill)
        codes = []
        for ws in sockets:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=stop_s)
            assert closed.value.rcvd is not None
            codes.append(closed.value.rcvd.code)
        assert set(codes) == {1001}  # going away: every page reconnects and restores
        assert proc.wait(timeout=stop_s) in (0, -kill)
        assert time.monotonic() - t0 < stop_s
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # (workers too, if the test failed)
        proc.wait()
        redis.stop()
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()


def frame_type(data: Any) -> str:
    """The type of the first message of a batch or of one message."""
    got = json.loads(data)
    return str((got[0] if isinstance(got, list) else got)["type"])
