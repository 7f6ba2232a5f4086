"""Page benchmark: frame rate while playing, and the bytes the page costs to load.

Starts a real uvicorn on a free port and headless Chromium (Debian's
``/usr/bin/chromium`` through Playwright), configures a 2-8-8-8-1 network
through the page's own controls, plays it, and records the intervals between
``requestAnimationFrame`` callbacks. Targets: median ≥ 55 fps; HTML + JS + CSS
transferred ≤ 150 KB by the first load (what loads later, when needed, is listed apart).

Usage::

    .venv/bin/python bench/page.py            # print the results
    .venv/bin/python bench/page.py --write    # also fill "## Page" in docs/performance.md
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.helpers.net import free_port, uvicorn_command, wait_healthy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
log = logging.getLogger("bench.page")

FRAME_JS = """async (ms) => {
    const t = [];
    await new Promise((done) => {
        const start = performance.now();
        const tick = (now) => {
            t.push(now);
            if (now - start < ms) requestAnimationFrame(tick); else done();
        };
        requestAnimationFrame(tick);
    });
    return t.slice(1).map((v, k) => v - t[k]);
}"""

BYTES_JS = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource')
        .filter((e) => /\\.(js|css)(\\?|$)/.test(e.name));
    return [[new URL(nav.name).pathname, nav.decodedBodySize],
            ...res.map((e) => [new URL(e.name).pathname, e.decodedBodySize])];
}"""

#: whether the network drawing holds ``n`` elements matching ``sel`` (a function: the
#: page's Content-Security-Policy forbids eval, which a bare expression would need)
COUNT_JS = "([sel, n]) => document.querySelectorAll(`.net-svg ${sel}`).length === n"

#: the page-weight target: HTML + JS + CSS transferred, KB
BUDGET_KB = 150

#: resource types whose bytes count as page weight
PAGE_TYPES = ("document", "script", "stylesheet")


class Transfers:
    """Bytes of each HTML/JS/CSS response as Chromium's network events report them:
    the body as received (compressed when the server compressed it) and the headers."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_finished(self, request: Any) -> None:
        if request.resource_type not in PAGE_TYPES:
            return
        response = request.response()
        sizes = request.sizes()
        headers = response.headers if response else {}
        self.rows.append({
            "path": urllib.parse.urlsplit(request.url).path,
            "encoding": headers.get("content-encoding", "identity"),
            "content_length": int(headers.get("content-length", -1)),
            "body": sizes["responseBodySize"], "headers": sizes["responseHeadersSize"],
        })


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(uvicorn_command(port), cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, timeout=30)
    return proc, url


def gzipped_total(urls: list[str]) -> int:
    """Bytes the same files take at gzip's best level (9), for comparison with what is sent."""
    total = 0
    for u in urls:
        with urllib.request.urlopen(u, timeout=5) as r:
            total += len(gzip.compress(r.read(), compresslevel=9))
    return total


def summarize(intervals: list[float]) -> dict[str, float]:
    """Median fps, 5th-percentile fps and the longest frame (ms)."""
    iv = sorted(intervals)
    p95 = iv[int(0.95 * (len(iv) - 1))]
    return {"median_fps": 1000 / statistics.median(iv), "mean_fps": 1000 * len(iv) / sum(iv),
            "p5_fps": 1000 / p95, "max_ms": iv[-1], "frames": len(iv)}


def measure(seconds: float) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    proc, url = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            transfers = Transfers()
            page.on("requestfinished", transfers.on_finished)
            page.goto(url)
            page.wait_for_selector(".conn[data-state='open']")
            page.wait_for_selector(".net-svg circle.node")
            # the first load: what the first screen fetched, up to a network quiet for 0.5 s
            page.wait_for_load_state("networkidle")
            first = len(transfers.rows)
            sizes = page.evaluate(
                "() => document.querySelectorAll('.net-svg circle.node').length")
            # functions, not expressions: the page's Content-Security-Policy forbids eval
            # (Playwright evaluates a bare expression with it)
            page.fill("#ctl-neurons", "8")
            page.dispatch_event("#ctl-neurons", "change")
            page.wait_for_function(COUNT_JS, arg=["circle.node", 2 + 8 + 8 + 1])
            page.fill("#ctl-layers", "3")
            page.dispatch_event("#ctl-layers", "change")
            page.wait_for_function(COUNT_JS, arg=["circle.node", 2 + 8 + 8 + 8 + 1])
            page.wait_for_function(COUNT_JS, arg=["line.edge", 16 + 64 + 64 + 8])
            decoded = dict(page.evaluate(BYTES_JS))
            bytes_ = {"files": transfers.rows[:first], "later": transfers.rows[first:],
                      "decoded": decoded,
                      "gzip9": gzipped_total([url + row["path"] for row in transfers.rows[:first]])}
            results: dict[str, Any] = {"bytes": bytes_, "initial_nodes": sizes, "runs": {}}
            idle = page.evaluate(FRAME_JS, 2000)
            results["runs"]["idle"] = summarize(idle)
            for speed in ("2", "30", "100"):  # 100: Play's default
                page.select_option("#ctl-speed", speed)
                page.click(".btn-toggle-play")
                page.wait_for_selector(".btn-toggle-play[aria-pressed='true']")
                page.wait_for_timeout(500)
                iv = page.evaluate(FRAME_JS, int(seconds * 1000))
                page.click(".btn-toggle-play")
                page.wait_for_selector(".btn-toggle-play[aria-pressed='false']")
                it = page.text_content("#stat-iteration")
                results["runs"][f"playing {speed} it/s"] = {**summarize(iv), "iteration": it}
            results["chromium"] = browser.version
            results["load"] = (load_before, os.getloadavg()[0])
            browser.close()
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def render(r: dict[str, Any], seconds: float) -> str:
    b = r["bytes"]
    rows = b["files"]
    body = sum(row["body"] for row in rows)
    headers = sum(row["headers"] for row in rows)
    decoded = sum(b["decoded"].values())
    gz = sum(1 for row in rows if row["encoding"] == "gzip")
    lines = [
        "`.venv/bin/python bench/page.py --write` — headless Chromium "
        f"{r['chromium']} (software rendering, `--disable-gpu`), 1280×860, "
        f"{platform.machine()} with {_cpus()} CPU cores shared with the server; a 2-8-8-8-1 "
        f"tanh network configured through the page's controls, {seconds:g} s per measurement; "
        f"1-minute load average {r['load'][0]:.1f} before and {r['load'][1]:.1f} after "
        "(other work on the machine shows up as long frames).",
        "",
        "| while | median fps | mean fps | 5th-percentile fps | longest frame |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in r["runs"].items():
        lines.append(f"| {name} | {s['median_fps']:.1f} | {s['mean_fps']:.1f} | "
                     f"{s['p5_fps']:.1f} | {s['max_ms']:.1f} ms |")
    lines += [
        "",
        "Target: median ≥ 55 fps while playing. At ≤ 4 it/s every phase is animated "
        "(pulses along all 152 edges); above that the server sends the latest iteration's "
        "frames and the page paints them once per animation frame without animation.",
        "",
        f"Page weight of the first load, as Chromium's network events report it (a fresh "
        f"context, no cache, until the first screen is drawn and the network is quiet): "
        f"HTML + JS + CSS transferred **{body / 1024:.1f} KB** of response bodies "
        f"({(body + headers) / 1024:.1f} KB with headers) in {len(rows)} responses, {gz} of "
        f"them gzip-encoded by the server (Starlette's `GZipMiddleware`, level 6, responses "
        f"≥ 500 bytes); {decoded / 1024:.1f} KB once decoded. Target ≤ {BUDGET_KB} KB transferred: "
        f"{'met' if body <= BUDGET_KB * 1024 else 'missed'}. gzip at level 9 would give "
        f"{b['gzip9'] / 1024:.1f} KB. {_at_start(rows)}",
        "",
        "Loaded later, when first needed (views/lazy-slot.js: a slot's stand-in keeps the "
        "events its view will need and hands them over once it is built): the other "
        "language's strings on the first switch; the help, class and confirm dialogs and "
        "the course list on first open; the earlier-runs list with the first run that has "
        "one; the activation curve when its panel comes into view (a placeholder of its "
        "size until then); the computational graph with the first run whose network it "
        "draws; the optimizer-state strip with the first optimizer that keeps state; the "
        "loss landscape when shown; a lesson when one opens; each with its own stylesheet. "
        "In this benchmark (configuring and playing): "
        + (", ".join(f"`{row['path'].removeprefix('/static/')}` {row['body'] / 1024:.1f} KB"
                     for row in b["later"]) or "nothing") + ".",
        "",
        "Where the time goes (Chrome's sampling profiler while playing): rendering the SVG "
        "(style, layout, paint) is most of the busy time; the page's own JavaScript is under "
        "10 %. Changes that helped: `JSON.parse` with a reviver only when a frame holds a "
        "non-finite string (the reviver made parsing ~10× slower and was 8 % of all time at "
        "30 it/s), canvases sized from `ResizeObserver` and theme colours cached (no forced "
        "layout or style recalculation per paint), the banner and fast-play network painted "
        "once per animation frame. Long frames while animating are the phase starts, when "
        "each edge's pulse animation is created.",
        "",
        "Before compression the page was ~170 KB (all of it sent as is); compressing "
        "HTTP responses was the remedy, the WebSocket is unaffected (the middleware "
        "handles only HTTP requests, and per-message deflate stays off). Three modules "
        "that duplicated other views (a scatter plot and a loss chart beside the output "
        "map and the health charts, and their canvas helper, ~13 KB) were removed. "
        "Loading what the first screen does not show when it is first needed took the first "
        "load from 163.6 KB to under 140 KB: one language's strings instead of both (−12 KB), "
        "the activation curve in view rather than 100 px before it (−5.7 KB), the dialogs, "
        "the earlier runs and the optimizer-state strip on first use, and the stylesheets of "
        "lazily loaded views with them.",
        "",
        *_over_budget(body),
        "Largest files (transferred / decoded): " + ", ".join(
            f"`{row['path'].removeprefix('/static/')}` {row['body'] / 1024:.1f} / "
            f"{b['decoded'].get(row['path'], 0) / 1024:.1f} KB"
            for row in sorted(rows, key=lambda row: -row["body"])[:6]) + ".",
    ]
    return "\n".join(lines) + "\n"


def _at_start(rows: list[dict[str, Any]]) -> str:
    """What the first load is made of: scripts (the strings of the language shown among
    them) and stylesheets, with their transferred KB."""
    def kb(sel: list[dict[str, Any]]) -> str:
        return f"{sum(r['body'] for r in sel) / 1024:.1f} KB"
    js = [r for r in rows if r["path"].endswith(".js")]
    css = [r for r in rows if r["path"].endswith(".css")]
    strings = [r for r in js if "/strings-" in r["path"]]
    return (f"At start: the page, {len(js)} scripts ({kb(js)}: the views on the first screen, "
            f"the run model, the socket, the address bar, and the strings of the language "
            f"shown, {kb(strings)}) and {len(css)} stylesheets ({kb(css)}).")


def _over_budget(body: int) -> list[str]:
    """A line saying by how much the first load misses the budget (none if met)."""
    if body <= BUDGET_KB * 1024:
        return []
    return [f"Over the budget by {body / 1024 - BUDGET_KB:.1f} KB.", ""]


def _cpus() -> int:
    return os.cpu_count() or 1


def write_section(text: str) -> None:
    """Replace the body of "## Page" in docs/performance.md, leaving other sections alone."""
    path = ROOT / "docs" / "performance.md"
    doc = path.read_text() if path.exists() else (
        "# Performance\n\n## Engine\n\n## Page\n\n## Streaming and load\n\n## History\n")
    m = re.search(r"^## Page\n(.*?)(?=^## |\Z)", doc, flags=re.S | re.M)
    if m is None:
        doc = doc.rstrip("\n") + "\n\n## Page\n\n" + text
    else:
        doc = doc[: m.start(1)] + "\n" + text + "\n" + doc[m.end(1):]
    path.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--write", action="store_true", help="fill '## Page' in docs/performance.md")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    r = measure(a.seconds)
    text = render(r, a.seconds)
    log.info("%s", text)
    if a.write:
        write_section(text)


if __name__ == "__main__":
    main()
