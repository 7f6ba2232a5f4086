"""All server settings and limits in one place, overridable from the environment.

Every field can be set as ``BPL_<NAME>`` (e.g. ``BPL_MAX_UNITS=64``); the
defaults are documented in ``docs/protocol.md`` and chosen for a 2-core
machine serving a class.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Server configuration; one instance lives on ``app.state.settings``."""

    model_config = SettingsConfigDict(env_prefix="BPL_", extra="ignore")

    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Exact origins (scheme://host:port) allowed to open /ws besides the "
        "page's own origin; for reverse proxies.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1", "testserver"],
        description="Host headers accepted (TrustedHostMiddleware); '*' allows any.",
    )
    max_message_bytes: int = 65_536
    max_commands_per_second: float = 40.0
    command_burst: int = 80
    max_layers: int = 10
    max_units: int = 128
    max_inputs: int = 784
    max_samples: int = 2_000
    max_batch: int = 512
    max_grid: int = 64
    max_sessions: int = 500
    max_history_mb: float = 32.0
    idle_timeout_s: float = 1800.0
    disconnect_grace_s: float = 120.0
    tick_hz: float = 60.0
    max_speed: float = 1000.0
    outbox_limit: int = 64
    map_hz: float = 10.0
