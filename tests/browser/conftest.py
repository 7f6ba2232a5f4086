"""Browser-test fixtures: one real uvicorn server and one real Chromium for tests/browser.

The server runs as a subprocess on a free port, exactly as ``make run`` starts
it (``--ws-per-message-deflate false``). Chromium is Debian's
``/usr/bin/chromium`` driven by Playwright; ``playwright install`` is never
used; a missing Chromium fails the run, it never skips.

Each test gets a fresh browser context (so a fresh sessionStorage and a fresh
server session) wrapped in :class:`Lab`, which records console errors and
every WebSocket message the page receives, so tests can compare what the
page shows with what the engine sent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.net import free_port, uvicorn_command, wait_healthy
from tests.helpers.packed import decode_frame

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BPL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: the three screens a page is looked at on (``make_lab(**SCREENS[name])``): a desk, a
#: projector (presentation mode is the test's to switch on) and a phone, by touch
SCREENS: dict[str, dict[str, Any]] = {
    "desk": {"viewport": {"width": 1280, "height": 800}},
    "projector": {"viewport": {"width": 1280, "height": 720}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}
#: an init script, run in every page: the page's WebSockets in ``window.__sockets`` (to
#: drop one, or to send through one), each counting in ``__handled`` the frames it has
#: delivered (counted just before the page's own handler runs, in the same event)
CAPTURE_SOCKETS = """
(() => {
  if (window.__sockets) return;
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.__handled = 0;
      window.__sockets.push(this);
      this.addEventListener('message', () => { this.__handled += 1; });
    }
  };
})();
"""
#: Set BPL_SCREENSHOTS=1 to refresh docs/screenshots/; otherwise shots go to a temp dir
#: so a test run leaves the working tree clean.
WRITE_DOCS_SHOTS = os.environ.get("BPL_SCREENSHOTS", "") not in ("", "0")


# Package scope, not session: Playwright's sync API keeps an event loop running
# in this thread while it is open, which would break later asyncio-based tests.
@pytest.fixture(scope="package")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real uvicorn serving the app for the browser tests."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A file, not a pipe nobody reads: a full pipe would block the server's logging.
    log = open(tmp_path_factory.mktemp("uvicorn") / "server.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(uvicorn_command(port), cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout=30)
    except RuntimeError as e:
        log.seek(0)
        pytest.fail(f"{e}\n{log.read()}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _chromium_path() -> str | None:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the browser tests; a missing one fails, never skips
    (`make test` installs Debian's chromium first)."""
    path = _chromium_path()
    if path is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make test` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # pragma: no cover - the test extra installs it
        pytest.fail(f"playwright is not installed: {e}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Lab:
    """A page of Backprop Lab plus what it logged and received."""

    def __init__(self, page: Any, base_url: str, shot_dir: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.shot_dir = shot_dir
        self.errors: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.socket_frames: list[int] = []  # frames received, a count for each socket
        self.socket_layouts: list[dict[int, Any]] = []  # packed layouts, for each socket
        self.binary_frames = 0  # of them, binary (a batch holding packed frames)
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("websocket", self._on_ws)

    def _on_console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            self.errors.append(f"console.{msg.type}: {msg.text}")

    def _on_ws(self, ws: Any) -> None:
        k = len(self.socket_frames)
        self.socket_frames.append(0)
        self.socket_layouts.append({})
        ws.on("framereceived", lambda payload: self._on_frame(k, payload))

    def _on_frame(self, k: int, payload: Any) -> None:
        # (JSON, or packed frames in a binary message)
        data = decode_frame(payload, self.socket_layouts[k])
        self.socket_frames[k] += 1
        self.binary_frames += not isinstance(payload, str)
        # the page asks for batched delivery: one frame may carry a list of messages
        self.received.extend(data if isinstance(data, list) else [data])

    # ---- navigation -------------------------------------------------------------

    def open(self, path: str = "/") -> Lab:
        """Load the page and wait until it has drawn a run."""
        self.page.goto(self.base_url + path)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Wait for the connection and the SVG network of the current run."""
        self.page.wait_for_selector(".conn[data-state='open']", timeout=20_000)
        self.page.wait_for_selector(".net-svg circle.node", timeout=20_000)

    # ---- what the server sent ---------------------------------------------------

    def messages(self, type_: str) -> list[dict[str, Any]]:
        """Messages of one type received so far, oldest first."""
        return [m for m in self.received if m.get("type") == type_]

    def last(self, type_: str, **match: Any) -> dict[str, Any]:
        """The latest message of ``type_`` whose fields equal ``match``."""
        for m in reversed(self.received):
            if m.get("type") == type_ and all(m.get(k) == v for k, v in match.items()):
                return m
        raise AssertionError(f"no {type_} message matching {match}")

    def wait_until(self, predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
        """Poll ``predicate()`` (Python-side state) until it holds; AssertionError after
        ``timeout`` seconds. Playwright hands the page's events (the WebSocket frames
        :attr:`received` is made of) to Python only while Python waits on it: the short
        waits between polls are that pump, not a guess at how long something takes."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.page.wait_for_timeout(20)

    def mark(self) -> int:
        """A position in the received messages, for :meth:`wait_for_message`'s ``after``."""
        return len(self.received)

    def wait_for_message(self, type_: str, timeout: float = 15.0, after: int | None = None,
                         **match: Any) -> dict[str, Any]:
        """Wait for a message of ``type_`` matching ``match`` received after ``after``
        (a :meth:`mark` taken before the action that causes it; default: now)."""
        start = len(self.received) if after is None else after
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found[:] = [m for m in self.received[start:] if m.get("type") == type_
                        and all(m.get(k) == v for k, v in match.items())][:1]
            return bool(found)

        self.wait_until(arrived, timeout, f"a {type_} message matching {match}")
        return found[0]

    def wait_for_run(self, timeout: float = 10.0, **config: Any) -> dict[str, Any]:
        """The latest ``run`` message once its settings include ``config`` (a link
        configures the page's first run)."""
        def latest() -> dict[str, Any] | None:
            runs = self.messages("run")
            if runs and all(runs[-1]["config"][k] == v for k, v in config.items()):
                return runs[-1]
            return None

        self.wait_until(lambda: latest() is not None, timeout, f"a run with {config}")
        run = latest()
        assert run is not None
        return run

    def settled(self) -> None:
        """Wait until the page has handled every frame its socket received so far and
        painted what they changed (views that redraw on the next animation frame)."""
        n = self.socket_frames[-1] if self.socket_frames else 0
        self.page.wait_for_function(
            "n => (window.__sockets.at(-1)?.__handled ?? 0) >= n", arg=n)
        self.page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def squeezed(self, selector: str) -> float:
        """How many pixels narrower than its content the first element matching
        ``selector`` is drawn (a select's content: its longest option; a button's: its
        words on one line); 0 when it reads whole. Its content's width is measured out of
        the layout (absolutely placed, as wide as it asks), where no flex row shrinks it."""
        return float(self.page.evaluate("""(sel) => {
            const el = document.querySelector(sel);
            const shown = el.getBoundingClientRect().width;
            const was = el.style.cssText;
            el.style.position = 'absolute';
            el.style.width = 'max-content';
            const whole = el.getBoundingClientRect().width;
            el.style.cssText = was;
            return Math.max(0, whole - shown);
        }""", selector))

    def sync(self) -> dict[str, Any]:
        """Wait until the server has answered everything the page sent so far: a bogus
        message through the page's own socket, and the error answering it (the server
        handles a connection's messages in order). The page shows that error as a
        notice. Returns the error."""
        mark = self.mark()
        self.page.evaluate(
            "() => window.__sockets.at(-1).send(JSON.stringify({type: 'sync-marker'}))")
        self.wait_until(lambda: any(m.get("type") == "error" and "sync-marker" in m["message"]
                                    for m in self.received[mark:]), what="the sync-marker's error")
        return next(m for m in self.received[mark:]
                    if m.get("type") == "error" and "sync-marker" in m["message"])

    # ---- what the page shows ----------------------------------------------------

    def text(self, selector: str) -> str:
        """Text of the first element matching ``selector`` (HTML or SVG)."""
        return str(self.page.text_content(selector) or "")

    def number(self, selector: str) -> float:
        """The number shown in ``selector`` (true minus signs accepted)."""
        return parse_number(self.text(selector))

    def step(self, unit: str = "phase") -> None:
        """Click a step button and wait for what it produces: its frames (one phase, or
        the rest of the iteration) and the ``state`` the server sends after them."""
        mark = self.mark()
        button = ".btn-step-phase" if unit == "phase" else ".btn-step-iteration"
        self.page.click(button)
        self.wait_until(lambda: {"frame", "state"} <= {m.get("type")
                                                       for m in self.received[mark:]},
                        what=f"the frames and state of a step ({unit})")

    def play_until(self, speed: str, iteration: int, timeout_ms: int = 30_000) -> None:
        """Play at ``speed`` until the page counts ``iteration`` iterations, then pause."""
        page = self.page
        page.select_option("#ctl-speed", speed)
        page.click(".btn-toggle-play")
        page.wait_for_selector(".btn-toggle-play[aria-pressed='true']")
        page.wait_for_function(
            "n => Number(document.querySelector('#stat-iteration').textContent) >= n",
            arg=iteration, timeout=timeout_ms)
        mark = self.mark()
        page.click(".btn-toggle-play")
        page.wait_for_selector(".btn-toggle-play[aria-pressed='false']")
        # the pause's state comes after every frame played before it
        self.wait_for_message("state", after=mark, playing=False)

    def screenshot(self, name: str) -> Path:
        """Save a full-page PNG (under docs/screenshots/ when BPL_SCREENSHOTS=1), with every
        finite animation at its end (a gradient bar caught growing looks like another number)."""
        self.shot_dir.mkdir(parents=True, exist_ok=True)
        path = self.shot_dir / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path


def parse_number(text: str) -> float:
    """Parse a number as the page formats it (− as minus, ∞, NaN)."""
    t = text.strip().replace("−", "-").replace("%", "")
    if t in ("∞", "-∞"):
        return float(t.replace("∞", "inf"))
    return float(t)


@pytest.fixture
def make_lab(browser: Any, server_url: str, tmp_path: Path) -> Iterator[Any]:
    """Factory: ``make_lab(viewport=..., locale=..., reduced_motion=...)`` → Lab (closed after)."""
    contexts: list[Any] = []

    def make(**kw: Any) -> Lab:
        opts = {"viewport": {"width": 1280, "height": 860}, "locale": "en-US", **kw}
        ctx = browser.new_context(**opts)
        ctx.add_init_script(CAPTURE_SOCKETS)  # for Lab.settled and Lab.sync
        contexts.append(ctx)
        return Lab(ctx.new_page(), server_url, SCREENSHOTS if WRITE_DOCS_SHOTS else tmp_path)

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def lab(make_lab: Any) -> Lab:
    """A desktop, English page of Backprop Lab, loaded and connected."""
    return make_lab().open()
