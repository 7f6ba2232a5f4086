"""Structured logs: one JSON object (or one ``key=value`` line) per event.

A self-hosted server is operated from its logs: session start and end, refused
origins, limits hit, internal errors. Each record carries its ``extra`` fields
(``session``, ``reason``, ``code``…) as keys, so the lines can be filtered and
counted without parsing prose. The ``backprop_lab`` loggers get this handler,
and uvicorn's (its errors, its access lines: :func:`uvicorn_log_config`) the same
format, so a server's stderr is one kind of line.

A session id is a bearer secret: whoever has it drives the session and
downloads its run. So a log never holds one: the fields that carry a session id
(:data:`SESSION_FIELDS`, ``session`` and ``source``) are written as
:func:`session_tag`, the first 8 hex digits of an HMAC-SHA256 of the id under a
key drawn when the process starts — enough to follow one session through the
log, useless for finding or driving it (and different after a restart).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import sys
from typing import Any

import orjson

# attributes every LogRecord has; anything else came from ``extra=``
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName",
    "color_message",  # (uvicorn's own copy of the message, with terminal colours)
}


#: ``extra`` fields that hold a session id: logged as its tag, never as the id
SESSION_FIELDS = frozenset({"session", "source"})
#: this process's key for session tags (never written anywhere)
_TAG_KEY = secrets.token_bytes(32)


def session_tag(session_id: str) -> str:
    """A short, non-reversible tag of ``session_id`` for logs: 8 hex digits of its
    HMAC-SHA256 under this process's key."""
    return hmac.new(_TAG_KEY, session_id.encode(), hashlib.sha256).hexdigest()[:8]


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """``time``, ``level``, ``logger``, ``event`` and the record's ``extra`` fields (a
    session id as its :func:`session_tag`)."""
    out: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
            timespec="milliseconds"
        ),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": record.getMessage(),
    }
    for k, v in record.__dict__.items():
        if k not in _STANDARD and not k.startswith("_"):
            out[k] = session_tag(v) if k in SESSION_FIELDS and isinstance(v, str) else v
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as compact JSON (values orjson cannot encode become strings)."""
        return orjson.dumps(record_fields(record), default=str).decode()


class KeyValueFormatter(logging.Formatter):
    """``time level logger event key=value …`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as text; values with spaces are quoted."""
        f = record_fields(record)
        head = f"{f.pop('time')} {f.pop('level'):7} {f.pop('logger')} {f.pop('event')}"
        exc = f.pop("exc", None)
        kv = " ".join(
            f"{k}={v!r}" if isinstance(v, str) and (" " in v or not v) else f"{k}={v}"
            for k, v in f.items()
        )
        line = f"{head} {kv}".rstrip()
        return f"{line}\n{exc}" if exc else line


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Give the ``backprop_lab`` loggers one stderr handler (idempotent)."""
    root = logging.getLogger("backprop_lab")
    root.setLevel(level.upper())
    for h in root.handlers:
        if getattr(h, "_backprop_lab", False):
            h.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
            return
    handler = logging.StreamHandler(sys.stderr)
    handler._backprop_lab = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root.addHandler(handler)


def uvicorn_log_config(level: str = "INFO", json_lines: bool = True) -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers (``uvicorn.error``'s start, stop and
    WebSocket lines; ``uvicorn.access``'s request lines) written as this module writes
    the app's, at ``level`` or above."""
    fmt = "server.logs.JsonFormatter" if json_lines else "server.logs.KeyValueFormatter"
    one = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lines": {"()": fmt}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "lines",
                                "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": one, "uvicorn.error": {"level": level.upper()},
                    "uvicorn.access": one},
    }
