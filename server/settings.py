"""All server settings and limits in one place, overridable from the environment.

Every field can be set as ``BPL_<NAME>`` (e.g. ``BPL_MAX_UNITS=64``); list
fields take a comma-separated value (``BPL_ALLOWED_HOSTS=lab.example.org,10.0.0.5``).
The defaults are documented in ``docs/protocol.md`` ("Limits") and chosen for
a 2-core machine serving a class of a few hundred learners.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Server configuration; one instance lives on ``app.state.settings``."""

    model_config = SettingsConfigDict(env_prefix="BPL_", extra="ignore")

    # ---- who may connect ---------------------------------------------------------
    allowed_origins: CommaList = Field(
        default_factory=list,
        description="Exact origins (scheme://host[:port]) allowed to open /ws besides the "
        "page's own origin, e.g. the public origin of a reverse proxy.",
    )
    allowed_hosts: CommaList = Field(
        default_factory=lambda: ["auto"],
        description="Host headers accepted. 'auto' = loopback names, this machine's host "
        "names and IP addresses (so a class on the LAN can use http://<ip>:8000); "
        "'*' accepts any host.",
    )

    # ---- limits on what one connection may send or ask for --------------------------
    max_message_bytes: int = Field(default=65_536, ge=1024, description="Largest client message.")
    max_commands_per_second: float = Field(default=40.0, gt=0, description="Commands a second.")
    command_burst: int = Field(default=80, ge=1, description="Commands allowed in a burst.")
    max_layers: int = Field(default=10, ge=1, description="Layers (hidden + output).")
    max_units: int = Field(default=128, ge=1, description="Neurons in one hidden layer.")
    max_inputs: int = Field(default=784, ge=1, description="Input features.")
    max_samples: int = Field(default=2_000, ge=4, description="Dataset size (samples or points).")
    max_batch: int = Field(default=512, ge=1, description="Batch size.")
    max_grid: int = Field(default=64, ge=4, description="Cells per side of a decision map.")
    max_speed: float = Field(default=1000.0, gt=0, description="Play speed, iterations per second.")
    max_history_mb: float = Field(default=32.0, gt=0, description="Recorded history per session.")
    detached_history_mb: float = Field(
        default=4.0, gt=0, description="A session whose page left keeps its histories "
        "within this until it comes back (checkpoints thinned: seeks replay further)."
    )
    max_piece_ms: float = Field(
        default=25.0, gt=0, description="Estimated time of one piece of a run's work (an "
        "iteration, a metrics point over the dataset) on the cost model's reference core."
    )
    max_frame_mb: float = Field(
        default=4.0, gt=0, description="Estimated size of one full phase frame, in MB."
    )
    max_stream_mb_per_s: float = Field(
        default=4.0, gt=0, description="Fast play's frames of one run, in MB a second at most: "
        "a large network shows fewer iterations a second rather than flood the event loop "
        "(its weight-sized arrays are most of each frame)."
    )
    max_total_history_mb: float = Field(
        default=2048.0, gt=0, description="Recorded history of all sessions together; past it "
        "the largest are thinned (checkpoints dropped, no run lost)."
    )
    max_load_cpu_s: float = Field(
        default=120.0, gt=0, description="Estimated replay time of a loaded or copied run "
        "(all its branches) on the reference core."
    )

    # ---- server-wide ---------------------------------------------------------------
    max_sessions: int = Field(default=500, ge=1, description="Sessions kept at once (all clients).")
    max_followers: int = Field(
        default=500, ge=0, description="Connections following one shared run (a class), on "
        "every worker process together."
    )
    idle_timeout_s: float = Field(default=1800.0, gt=0, description="Free idle sessions.")
    disconnect_grace_s: float = Field(
        default=45.0, ge=0, description="Keep a disconnected session this long for a reload "
        "(the page's reconnect tries at most 10 s apart; later, it restores its own copy)."
    )
    tick_hz: float = Field(default=60.0, gt=0, le=1000, description="Shared clock rate.")
    tick_budget_ms: float = Field(
        default=4.0, gt=0, description="Engine time one playing session may use per clock tick."
    )
    outbox_limit: int = Field(default=64, ge=4, description="Messages queued for one slow client.")
    outbox_max_mb: float = Field(
        default=8.0, gt=0, description="Bytes queued for one slow client (estimated), in MB."
    )
    send_timeout_s: float = Field(
        default=10.0, gt=0, description="A send to a client that takes longer closes the "
        "connection (its session is detached and paused, kept for a reload)."
    )
    map_hz: float = Field(default=10.0, gt=0, description="Decision maps sent per second, at most.")
    metrics_hz: float = Field(
        default=10.0, gt=0, description="Metrics points per second while playing fast."
    )
    log_level: str = Field(default="INFO", description="Level of the backprop_lab loggers.")
    log_json: bool = Field(default=True, description="JSON-lines logs (else key=value text).")

    # ---- sockets: size, time and number (server/serve.py, server/guards.py) ----------------
    max_header_bytes: int = Field(
        default=32_768, ge=1024,
        description="Request line and headers of one HTTP request (or WebSocket handshake); "
        "a larger head gets 431 and the connection is closed.",
    )
    request_head_timeout_s: float = Field(
        default=10.0, gt=0,
        description="Time a client may take to send a whole request head, from connecting "
        "(or from its previous response); then the connection is closed (slow or silent "
        "sockets).",
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, description="An idle HTTP keep-alive connection is closed after this."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0,
        description="Time one HTTP request may take, its response included (a client that "
        "stops reading a download); then it is cut off.",
    )
    ws_ping_interval_s: float = Field(
        default=20.0, gt=0, description="The server pings every WebSocket this often."
    )
    ws_ping_timeout_s: float = Field(
        default=20.0, gt=0,
        description="A WebSocket whose peer does not answer a ping within this is closed (1011).",
    )
    readyz_timeout_s: float = Field(
        default=2.0, gt=0, description="/readyz answers 503 when opening and stepping a "
        "session on the engine thread takes longer than this."
    )
    ws_close_timeout_s: float = Field(
        default=2.0, gt=0,
        description="After the server closes a WebSocket, how long it waits for the peer's "
        "close reply before closing the TCP connection (a peer that stopped reading is cut "
        "at once).",
    )
    hello_timeout_s: float = Field(
        default=10.0, gt=0,
        description="A WebSocket that neither opens a session nor follows a class within this "
        "is closed (4002).",
    )
    max_connections: int = Field(
        default=1000, ge=2,
        description="Open connections of every kind (uvicorn's limit_concurrency); HTTP requests "
        "past it get 503.",
    )
    max_connections_per_address: int = Field(
        default=64, ge=1,
        description="Open HTTP connections from one client address (WebSockets are counted "
        "apart); the next is closed at once.",
    )
    max_websockets: int = Field(
        default=800, ge=1,
        description="Open WebSocket connections, all clients together; the next one is told and "
        "closed (1013).",
    )
    max_websockets_per_address: int = Field(
        default=16, ge=1, description="Open WebSocket connections from one client address."
    )
    max_sessions_per_address: int = Field(
        default=20, ge=1, description="Sessions kept at once for one client address."
    )
    max_followers_per_address: int = Field(
        default=4, ge=1,
        description="Connections from one client address following one class run (all "
        "workers together).",
    )
    max_code_failures_per_minute: int = Field(
        default=10, ge=1,
        description="Wrong class codes one client address may give a minute; past that its "
        "codes are refused without being looked up.",
    )
    max_copies_per_minute: int = Field(
        default=6, ge=1,
        description="Runs one client address may copy from a class (fork) or open from a "
        "file (load) a minute: each replays a run, the heaviest work a command can ask for.",
    )
    trusted_proxies: CommaList = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Peers whose X-Forwarded-For names the client (uvicorn's "
        "forwarded_allow_ips): a reverse proxy's address; '*' trusts any peer (avoid).",
    )
    unlimited_addresses: CommaList = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Client addresses or networks the per-address caps do not apply to: this "
        "machine itself by default (the teacher at the server, a local reverse proxy that "
        "does not send X-Forwarded-For).",
    )

    # ---- several worker processes (server/serve.py, server/live/bus.py) -------------
    workers: int = Field(
        default=1, ge=1, le=64,
        description="Worker processes python -m server.serve starts on the one port (each "
        "binds it with SO_REUSEPORT; a supervisor restarts one that dies). More than one "
        "needs redis_url.",
    )
    redis_url: str = Field(
        default="",
        description="Redis shared by the worker processes (redis://host:port/db): class "
        "codes, class streams, the session directory. Empty: everything in this process.",
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535,
        description="A port of each worker's own for /metrics, /readyz and /healthz (worker i "
        "listens on metrics_port + i; a lone process on metrics_port): the shared port "
        "answers from whichever worker the kernel picks, so Prometheus scrapes each worker "
        "here. 0: none.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="The address the metrics ports listen on (this machine only by default).",
    )
    address_sync_s: float = Field(
        default=1.0, gt=0, le=60,
        description="With redis_url: how often each worker tells the others its per-address "
        "counts (WebSockets, sessions, followers, wrong class codes), so each per-address cap "
        "holds for the site.",
    )

    @field_validator("allowed_origins", "allowed_hosts", "trusted_proxies",
                     "unlimited_addresses", mode="before")
    @classmethod
    def _split_commas(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @property
    def ws_max_size(self) -> int:
        """uvicorn's hard cap on one WebSocket message: 4 × ``max_message_bytes``.

        Messages between the two limits are answered with a ``too_large`` error
        (the connection stays open); larger ones close the connection (1009).
        """
        return 4 * self.max_message_bytes
