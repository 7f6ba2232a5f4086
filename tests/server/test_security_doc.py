"""docs/security.md stays true: every setting has a row with its environment variable,
its default and the tests that hold it, and those tests exist; plus the tests it names
for settings no other test covered."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi.testclient import TestClient

from server.logs import JsonFormatter, KeyValueFormatter
from server.settings import Settings
from tests.server.conftest import WS, make_app

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"


def limit_rows() -> dict[str, tuple[str, str, str]]:
    """``setting → (environment variable, default, tests cell)`` from "Every limit"."""
    text = DOC.read_text()
    section = text.split("\n## Every limit\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| `([A-Z_]+)` \| ([^|]+) \|[^|]+\| ([^|]+) \|$",
                      section, flags=re.M)
    return {name: (env, default.strip(), tests) for name, env, default, tests in rows}


def test_every_setting_is_in_security_md_with_its_env_default_and_tests() -> None:
    rows = limit_rows()
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in Settings.model_fields:
        assert name in rows, f"setting {name} missing from docs/security.md (Every limit)"
        env, doc_default, _ = rows[name]
        assert env == f"BPL_{name.upper()}", name
        real = getattr(defaults, name)
        if isinstance(real, bool):
            assert doc_default == str(real).lower(), name
        elif isinstance(real, int | float):
            assert float(doc_default) == real, name
        elif isinstance(real, list):
            assert doc_default == (", ".join(real) if real else "(none)"), name
        else:
            assert doc_default == str(real), name
    assert not set(rows) - set(Settings.model_fields), "rows for settings that do not exist"


def test_every_test_the_page_names_exists() -> None:
    named = set(re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", DOC.read_text()))
    per_setting = {name: re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", cell)
                   for name, (_, _, cell) in limit_rows().items()}
    for name, refs in per_setting.items():
        assert refs, f"{name}: no test named in docs/security.md"
    for path, func in named:
        file = ROOT / path
        assert file.is_file(), f"docs/security.md names {path}, which does not exist"
        if func:
            assert re.search(rf"^def {func}\(", file.read_text(), flags=re.M), \
                f"docs/security.md names {path}::{func}, which does not exist"


def test_a_frame_past_max_frame_mb_is_refused_naming_it() -> None:
    with TestClient(make_app(max_frame_mb=0.05)) as client, \
            client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.hello()
        w.send({"type": "configure", "config": {"hidden": [64, 64], "batch_size": 256}})
        err = w.error()
        assert err["code"] == "limit" and err["limit"] == "max_frame_mb"
        w.works()


def test_log_level_and_format_follow_the_settings() -> None:
    logger = logging.getLogger("backprop_lab")
    level = logger.level
    try:
        with TestClient(make_app(log_level="WARNING", log_json=False)):
            ours = [h for h in logger.handlers if getattr(h, "_backprop_lab", False)]
            assert logger.level == logging.WARNING
            assert isinstance(ours[0].formatter, KeyValueFormatter)
        with TestClient(make_app(log_level="DEBUG", log_json=True)):
            assert logger.level == logging.DEBUG
            assert isinstance(ours[0].formatter, JsonFormatter)
    finally:
        logger.setLevel(level)
