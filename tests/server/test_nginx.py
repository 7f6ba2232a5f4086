"""The reverse-proxy recipe of docs/deploy.md, run against a real nginx (Debian's
package, installed by ``make test``): the ``nginx`` block is taken from the doc itself,
pointed at two server groups on loopback ports sharing one Redis (two machines,
simulated), and served under its sub-path ``/lab/``.

A learner's page loads under the sub-path with everything it asks for; sockets land on
both groups (nothing sticky); a teacher and a student on different groups follow the
same run with the same numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from websockets.sync.client import connect

from tests.helpers.net import free_port, poll
from tests.helpers.site import ROOT, Client, Redis, Site

DOC = ROOT / "docs" / "deploy.md"


def documented_site_conf() -> str:
    """The first ``nginx`` block of docs/deploy.md, as an operator would copy it."""
    found = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/deploy.md has no nginx block"
    return found.group(1)


def nginx_exe() -> str:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                    else None)
    assert exe, "nginx is missing: `make test` installs Debian's nginx"
    return exe


class Nginx:
    """nginx with the documented site, its upstream pointed at ``ports``, on a free port."""

    def __init__(self, tmp: Path, ports: list[int]) -> None:
        self.port = free_port()
        site = documented_site_conf()
        upstream = re.findall(r"^\s*server (\S+:\d+);", site, re.M)
        assert len(upstream) == len(ports), "the doc's upstream lists one server per machine"
        for documented, port in zip(upstream, ports, strict=True):
            site = site.replace(f"server {documented};", f"server 127.0.0.1:{port};")
        assert "listen 80;" in site
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        tmp.chmod(0o755)  # nginx's workers run as another user when started as root
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / d).mkdir()
            (tmp / d).chmod(0o777)
        (tmp / "site.conf").write_text(site)
        (tmp / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
""")
        self.tmp = tmp
        self.proc = subprocess.Popen(
            [nginx_exe(), "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e",
             str(tmp / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        poll(self._answers, 10, "nginx to answer")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"nginx exited: {err}{(self.tmp / 'error.log').read_text()}")
        try:
            with urllib.request.urlopen(self.url("/lab/healthz"), timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of a GET through nginx (redirects not followed)."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a: Any, **k: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(self.url(path), timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def socket(self, avoid: str | None = None) -> Client:
        """A WebSocket to ``/lab/ws`` through nginx, as a page at ``/lab/`` opens it
        (with its Origin), on a worker other than ``avoid``."""
        for _ in range(50):
            ws = connect(f"ws://127.0.0.1:{self.port}/lab/ws", open_timeout=5,
                         origin=f"http://127.0.0.1:{self.port}")  # type: ignore[arg-type]
            assert ws.response is not None
            worker = ws.response.headers["x-bpl-worker"]
            if worker != avoid:
                return Client(ws, worker)
            ws.close()
        raise AssertionError("every socket landed on the same worker")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    redis = Redis()
    redis.start()
    groups: list[Site] = []
    nginx: Nginx | None = None
    try:
        # two machines: each its own server group (one worker each here) on its own port
        groups = [Site(redis, workers=1) for _ in range(2)]
        nginx = Nginx(tmp_path_factory.mktemp("nginx"), [g.port for g in groups])
        yield nginx
    finally:
        if nginx is not None:
            nginx.stop()
        for g in groups:
            g.close()
        redis.stop()


def test_the_page_loads_under_the_sub_path_with_everything_it_asks_for(proxy: Nginx) -> None:
    status, headers, _ = proxy.get("/lab")
    assert status == 301 and headers["Location"].endswith("/lab/")
    status, _, body = proxy.get("/lab/")
    assert status == 200
    page = body.decode()
    assets = re.findall(r'(?:href|src)="([^"#:]+\.(?:css|js))"', page)
    assert any(a.endswith("main.js") for a in assets) and len(assets) > 5
    for asset in assets:  # resolved as the browser does, against the page's address
        path = urljoin("/lab/", asset)
        assert path.startswith("/lab/static/"), asset
        assert proxy.get(path)[0] == 200, path
    for api in ("api/catalog", "api/lessons?lang=ja"):
        assert proxy.get(urljoin("/lab/", api))[0] == 200, api
    # the app's redirect of a path asked with a trailing slash stays under the sub-path
    # (it named /api/catalog, outside /lab/, where nothing answers)
    status, headers, _ = proxy.get("/lab/api/catalog/")
    where = urlsplit(headers["Location"]).path
    assert status in (301, 307, 308) and where == "/lab/api/catalog", headers
    assert proxy.get(where)[0] == 200


def test_requests_land_on_both_groups_with_nothing_sticky(proxy: Nginx) -> None:
    seen = {proxy.get("/lab/healthz")[1]["x-bpl-worker"] for _ in range(8)}
    assert len(seen) == 2


def test_the_operators_endpoints_stay_inside(proxy: Nginx) -> None:
    """/readyz steps a session at each request and /metrics is for the scraper: the
    recipe does not pass them on (Prometheus scrapes each worker's metrics port)."""
    assert proxy.get("/lab/metrics")[0] == 404
    assert proxy.get("/lab/readyz")[0] == 404
    # with a trailing slash too (the app's redirect to the slashless path, outside /lab,
    # told a scraper where the endpoint is)
    assert proxy.get("/lab/metrics/")[0] == 404
    assert proxy.get("/lab/readyz/")[0] == 404
    assert proxy.get("/lab/healthz")[0] == 200


def test_a_teacher_and_a_student_on_different_machines_follow_the_same_run(
        proxy: Nginx) -> None:
    teacher = proxy.socket()
    student = proxy.socket(avoid=teacher.worker)
    try:
        assert teacher.pid != student.pid  # two groups, two processes
        teacher.send({"type": "hello", "batch": True})
        teacher.recv_type("run")
        teacher.send({"type": "share"})
        code = teacher.recv_type("share", where=lambda m: m["code"] is not None)["code"]
        student.send({"type": "hello", "batch": True, "follow": code})
        assert student.recv_type("follow")["active"] is True
        assert student.recv_type("run")["session"] is None
        for _ in range(2):
            teacher.send({"type": "step", "unit": "iteration"})
        for it in range(2):
            mine, theirs = teacher.frames_of(it), student.frames_of(it)
            for phase in ("forward", "loss", "backward", "update"):
                assert mine[phase]["values"] == theirs[phase]["values"], (it, phase)
    finally:
        teacher.close()
        student.close()
