"""Structured logs: one JSON object (or one ``key=value`` line) per event.

A self-hosted server is operated from its logs: session start and end, refused
origins, limits hit, internal errors. Each record carries its ``extra`` fields
(``session``, ``reason``, ``code``…) as keys, so the lines can be filtered and
counted without parsing prose. Only the ``backprop_lab`` loggers get this
handler; uvicorn keeps its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import orjson

# attributes every LogRecord has; anything else came from ``extra=``
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName",
}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """``time``, ``level``, ``logger``, ``event`` and the record's ``extra`` fields."""
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
            out[k] = v
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
