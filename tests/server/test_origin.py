"""Who may open a session: the WebSocket Origin allowlist and the Host allowlist."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.hosts import resolve_hosts
from server.origin import origin_allowed
from server.settings import Settings
from tests.server.conftest import WS, LiveServer, make_app, raw_socket

SAME = "http://testserver"  # the TestClient's own origin (Host: testserver)


def headers(origin: str | None, **extra: str) -> dict[str, str]:
    return {**extra, **({"origin": origin} if origin is not None else {})}


def connect(client: TestClient, origin: str | None, **extra: str) -> None:
    """Open and close a socket (raises WebSocketDisconnect when refused)."""
    with client.websocket_connect("/ws", headers=headers(origin, **extra)) as raw:
        assert WS(raw).hello()["type"] == "run"


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "null",
    "http://testserver.evil.com",          # look-alike: trusted name as a prefix
    "http://evil.com/http://testserver",   # trusted name in the path
    "http://testserver:8080",              # other port
    "https://testserver",                  # other scheme
    "http://testserver@evil.com",          # user-info trick
    "http://127.0.0.1:8000.evil.com",      # port look-alike
    "file://",
    "",
])
def test_foreign_null_and_look_alike_origins_are_refused(client: TestClient, origin: str) -> None:
    with pytest.raises(WebSocketDisconnect) as e:
        connect(client, origin)
    assert e.value.code == 1008


def test_same_origin_and_scriptable_clients_are_accepted(client: TestClient) -> None:
    for origin in (SAME, "http://TESTSERVER", "http://testserver:80", None):
        connect(client, origin)


def test_a_configured_proxy_origin_is_accepted_exactly() -> None:
    app = make_app(allowed_origins="https://lab.example.org")
    with TestClient(app) as client:
        connect(client, "https://lab.example.org")
        for bad in ("https://lab.example.org.evil.com", "http://lab.example.org",
                    "https://evil.lab.example.org"):
            with pytest.raises(WebSocketDisconnect):
                connect(client, bad)


def test_origin_rules_exact_scheme_host_port() -> None:
    allowed = ["https://trusted.example"]
    assert origin_allowed("https://trusted.example", "x", "ws", allowed)
    assert origin_allowed("https://trusted.example:443", "x", "ws", allowed)
    assert not origin_allowed("https://trusted.example.evil.com", "x", "ws", allowed)
    assert not origin_allowed("https://trusted.example:8443", "x", "ws", allowed)
    assert not origin_allowed("null", "trusted.example", "ws", allowed)
    # same origin follows the Host header and the socket's scheme
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", [])
    assert not origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", "wss", [])
    assert origin_allowed("https://lab.org", "lab.org", "wss", [])


def test_unknown_host_headers_are_refused_for_pages_and_sockets(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    r = client.get("/healthz", headers={"host": "rebound.attacker.example"})
    assert r.status_code == 400
    with pytest.raises(WebSocketDisconnect):
        connect(client, None, host="rebound.attacker.example")


def test_auto_hosts_cover_loopback_and_this_machine_so_a_lan_class_can_connect() -> None:
    hosts = resolve_hosts(["auto"])
    assert {"127.0.0.1", "localhost", "[::1]"} <= set(hosts)
    import socket
    assert socket.gethostname().lower() in hosts
    assert "evil.example" not in hosts
    # an operator's names add to, or replace, the automatic list
    assert resolve_hosts(["lab.example.org"]) == ["lab.example.org"]
    assert "lab.example.org" in resolve_hosts(["auto", "lab.example.org"])


def test_env_overrides_take_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPL_ALLOWED_ORIGINS", "https://a.example, https://b.example:8443")
    monkeypatch.setenv("BPL_ALLOWED_HOSTS", "a.example,b.example")
    s = Settings()
    assert s.allowed_origins == ["https://a.example", "https://b.example:8443"]
    assert s.allowed_hosts == ["a.example", "b.example"]


def test_real_server_refuses_a_cross_origin_handshake_before_upgrading() -> None:
    with LiveServer(Settings()) as srv:
        with raw_socket(srv.port, origin="https://evil.example") as (_, head):
            assert head.split(b"\r\n")[0].split()[1] == b"403"
        with raw_socket(srv.port, origin=f"http://127.0.0.1:{srv.port}") as (_, head):
            assert head.split(b"\r\n")[0].split()[1] == b"101"
        with raw_socket(srv.port, host="rebound.attacker.example") as (_, head):
            assert head.split(b"\r\n")[0].split()[1] == b"400"


def test_tls_ended_at_a_trusted_proxy_that_says_so_needs_no_allowed_origin() -> None:
    """docs/deploy.md: behind a proxy in ``trusted_proxies`` that sends
    ``X-Forwarded-Proto: https``, the page's ``https://`` origin is its own; from a peer
    that is not trusted, or without the header, it is another scheme and refused."""
    page = "https://lab.example.org"
    for trusted, proto, status in [(["127.0.0.1"], "https", b"101"),
                                   (["127.0.0.1"], None, b"403"),
                                   (["10.9.9.9"], "https", b"403")]:
        settings = Settings(allowed_hosts=["lab.example.org"], trusted_proxies=trusted)
        with LiveServer(settings) as srv, raw_socket(
                srv.port, origin=page, host="lab.example.org",
                extra=(f"X-Forwarded-Proto: {proto}",) if proto else ()) as (_, head):
            assert head.split(b"\r\n")[0].split()[1] == status, (trusted, proto)


def test_a_class_on_the_lan_reaches_the_teachers_address_with_no_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``HOST=0.0.0.0 make run``: students open http://<teacher's IP>:8000. A machine
    with loopback only (a sandbox) is given a LAN address, so the test never skips."""
    from server import hosts

    real = hosts.machine_addresses()
    ips = sorted(a for a in real if a.count(".") == 3 and not a.startswith("127."))
    if not ips:
        monkeypatch.setattr(hosts, "machine_addresses", lambda: {*real, "192.0.2.10"})
        ips = ["192.0.2.10"]
    client = TestClient(make_app())
    host = f"{ips[0]}:8000"
    assert client.get("/healthz", headers={"host": host}).status_code == 200
    connect(client, f"http://{host}", host=host)
    with pytest.raises(WebSocketDisconnect):  # and the page's origin, not another
        connect(client, "http://10.9.9.9:8000", host=host)
