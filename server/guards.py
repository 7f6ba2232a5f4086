"""Guards in front of the app: who may hold how many sockets, how long a request may
take, and the headers every response carries.

uvicorn bounds a request head's size and time (:mod:`server.headguard`) and pings
WebSockets; what needs to know the app's routes and the client's address is here,
as plain ASGI middleware added by :func:`server.app.create_app`:

- :class:`ConnectionGuard` counts open WebSockets per client address and in all
  (``max_websockets_per_address``, ``max_websockets``): one past a cap is
  accepted, told why (an ``error`` naming the limit) and closed with 1013 (try
  again later), so a page can say so instead of failing silently; past
  :data:`TOLD_PER_MINUTE` of those from one address in a minute (a script, not
  a page) the handshake itself is refused (HTTP 403) and the socket closed at
  once, so a flood cannot hold uvicorn's connection slots. It also cuts an
  HTTP request that takes longer than ``request_timeout_s`` (a client that stops
  reading a download), and tells the connection's own code which address the
  per-address caps count it under (:data:`ADDRESS`).
- :class:`SecurityHeaders` adds a Content-Security-Policy (scripts and styles from
  this origin only, no inline script, no framing), ``nosniff`` and a
  Referrer-Policy to every HTTP response.

A client's address is uvicorn's ``scope["client"]``, which is the reverse proxy's
unless uvicorn trusts it (``trusted_proxies``) to name the client in
``X-Forwarded-For``. IPv6 clients are counted by their /64 network (one machine
usually holds a whole /64). Addresses in ``unlimited_addresses`` — this machine
by default — are not counted at all. :class:`AddressBuckets` is the token bucket
per address the live floor uses for wrong class codes.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from server.protocol import encode, server_message
from server.settings import Settings

if TYPE_CHECKING:
    from server.live.tally import AddressTally

log = logging.getLogger("backprop_lab.guards")

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

#: the address the per-address caps count the current connection under (None: not
#: counted), set by :class:`ConnectionGuard` for the task that runs a WebSocket
ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bpl_client_address", default=None)

CLOSE_TRY_LATER = 1013  # too many connections (from this address, or in all)
#: Scripts, styles, images, fonts and connections (the WebSocket included: CSP Level 3's
#: 'self' covers ws: and wss: to the same host) from this origin only; no inline script
#: or style attribute, no plugin, no <base>, forms post here only, and no framing (the
#: page cannot be overlaid by another site: clickjacking). ``data:`` images: the page's
#: empty favicon.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    (b"referrer-policy", b"no-referrer"),
]
#: refused WebSockets an address is told why (accepted, an error naming the limit, close
#: 1013) per minute; past that, a flood, they are refused at the handshake (HTTP 403)
TOLD_PER_MINUTE = 32
#: at most one "refused" log line per address per this many seconds (a flood of
#: refused connections must not flood the logs too)
LOG_EVERY_S = 60.0


def address_key(host: str | None) -> str:
    """What the per-address caps count ``host`` as: an IPv4 address as it is, an IPv6
    one as its /64 network (an IPv4-mapped one as the IPv4 address), anything else
    (a test client's name) as it is; ``unknown`` without an address."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Unlimited:
    """The addresses and networks the per-address caps leave alone."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for e in entries:
            try:
                self.networks.append(ipaddress.ip_network(e, strict=False))
            except ValueError:
                self.names.add(e)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        if host in self.names:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)


def counted_address(scope: Scope, unlimited: Unlimited) -> str | None:
    """The key the per-address caps count this connection under, or None when its
    address is in ``unlimited_addresses``."""
    client = scope.get("client")
    host = client[0] if client else None
    return None if host in unlimited else address_key(host)


class AddressBuckets:
    """A token bucket per address: ``capacity`` tokens, refilled at ``capacity`` per
    ``period_s``. :meth:`allowed` asks without spending, :meth:`spend` spends one.
    Buckets that have refilled are forgotten, so memory follows the addresses that
    were refused lately, not every address ever seen."""

    def __init__(self, capacity: int, period_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period_s
        self.clock = clock
        #: the workers whose buckets drain together (server.live.tally): each refills
        #: at its share of the rate, so the site's refill is the cap's
        self.workers = 1
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def tokens(self, address: str) -> float:
        """Tokens ``address`` has now."""
        got = self._buckets.get(address)
        if got is None:
            return self.capacity
        tokens, at = got
        return min(self.capacity, tokens + (self.clock() - at) * self.rate / self.workers)

    def allowed(self, address: str, elsewhere: float = 0.0) -> bool:
        """Whether ``address`` has a token left, ``elsewhere`` more spent by the other
        workers (:mod:`server.live.tally`)."""
        return self.tokens(address) - elsewhere >= 1.0

    def wait_s(self, address: str, elsewhere: float = 0.0) -> float:
        """Seconds until ``address`` has a token again (0 if it has one)."""
        return max(0.0, (1.0 + elsewhere - self.tokens(address)) * self.workers / self.rate)

    def deficits(self) -> dict[str, float]:
        """Tokens short of a full bucket, per address that is short (for the other
        workers; the table is copied whole first, as another thread may spend)."""
        buckets = dict(self._buckets)
        out = {}
        for address in buckets:
            short = self.capacity - self.tokens(address)
            if short > 0:
                out[address] = short
        return out

    def spend(self, address: str) -> None:
        """Take one token from ``address`` (down to zero)."""
        now = self.clock()
        self._buckets[address] = (max(0.0, self.tokens(address) - 1.0), now)
        if len(self._buckets) > 1024:
            self._forget_full()

    def _forget_full(self) -> None:
        for a in [a for a in self._buckets if self.tokens(a) >= self.capacity]:
            del self._buckets[a]


class ConnectionGuard:
    """Caps on open WebSockets (per address and in all), a time limit on HTTP
    requests, and the client's address for the connection's own code."""

    def __init__(self, app: ASGIApp, settings: Settings, tally: AddressTally | None = None,
                 refused: Counter[str] | None = None) -> None:
        self.app = app
        self.settings = settings
        #: WebSockets refused, by limit (the store's count, for /metrics)
        self.refused: Counter[str] = Counter() if refused is None else refused
        self.unlimited = Unlimited(settings.unlimited_addresses)
        self.open: Counter[str] = Counter()  # open WebSockets per counted address
        self.total = 0  # open WebSockets, all addresses
        #: the other workers' counts (server.live.tally), told this worker's
        self.tally = tally
        if tally is not None:
            tally.count("websockets", lambda: dict(self.open))
        self._logged: dict[str, float] = {}
        #: refusals an address is *told* (accepted, an error, close 1013) per minute;
        #: past them its sockets are refused at the handshake (HTTP 403, closed at once)
        self.told = AddressBuckets(TOLD_PER_MINUTE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route by scope type: WebSockets are counted, HTTP requests timed."""
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        limit = self.settings.request_timeout_s
        with anyio.move_on_after(limit) as cut:
            await self.app(scope, receive, send_tracked)
        if not cut.cancelled_caught:
            return
        self._log("request cut", scope.get("path", ""), "request_timeout_s")
        if not started:  # else uvicorn closes a connection whose response stopped halfway
            body = f"the request took longer than request_timeout_s={limit:g}\n".encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.settings
        address = counted_address(scope, self.unlimited)
        if self.total >= st.max_websockets:
            await self._refuse(receive, send, address, "max_websockets",
                               f"the server has {st.max_websockets} connections open "
                               "(max_websockets); try again later")
            return
        if address is not None and self.open[address] + (
                0.0 if self.tally is None else self.tally.elsewhere("websockets", address)
        ) >= st.max_websockets_per_address:
            await self._refuse(receive, send, address, "max_websockets_per_address",
                               f"{st.max_websockets_per_address} connections are open from "
                               "this address (max_websockets_per_address); close a tab or "
                               "try again later")
            return
        self.total += 1
        if address is not None:
            self.open[address] += 1
        token = ADDRESS.set(address)
        try:
            await self.app(scope, receive, send)
        finally:
            ADDRESS.reset(token)
            self.total -= 1
            if address is not None:
                self.open[address] -= 1
                if self.open[address] <= 0:
                    del self.open[address]

    async def _refuse(self, receive: Receive, send: Send, address: str | None, limit: str,
                      message: str) -> None:
        """Accept, say which limit was hit, close with 1013; or, for an address told
        :data:`TOLD_PER_MINUTE` times in the last minute, refuse the handshake itself."""
        self.refused[limit] += 1
        self._log("connection refused", address or "unlimited", limit)
        event = await receive()
        if event["type"] != "websocket.connect":
            return
        key = address or "unlimited"
        if not self.told.allowed(key):
            # a flood: telling each socket would keep it open until its close handshake
            # (ws_close_timeout_s), holding one of uvicorn's connection slots
            await send({"type": "websocket.close", "code": CLOSE_TRY_LATER, "reason": limit})
            return
        self.told.spend(key)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": encode(
            server_message("error", code="limit", message=message, limit=limit))})
        await send({"type": "websocket.close", "code": CLOSE_TRY_LATER, "reason": limit})

    def _log(self, event: str, what: str, limit: str) -> None:
        now = time.monotonic()
        key = f"{limit}:{what}"
        if now - self._logged.get(key, -math.inf) < LOG_EVERY_S:
            return
        if len(self._logged) > 1024:
            self._logged = {k: t for k, t in self._logged.items() if now - t < LOG_EVERY_S}
        self._logged[key] = now
        log.warning(event, extra={"what": what, "limit": limit})


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (a header the app set
    itself wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
