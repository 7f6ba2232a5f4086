"""The page works under its Content-Security-Policy (no inline script, no inline style
attribute, nothing from elsewhere), and a download never puts the session id in a URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.browser.conftest import Lab

#: an init script keeping every CSP violation the page reports in ``window.__csp``
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def open_more(lab: Lab) -> None:
    """Unfold the timeline's jump, change, branches and files."""
    if not lab.page.eval_on_selector(".tl-more", "d => d.open"):
        lab.page.click(".tl-more summary")


def test_the_page_works_under_its_content_security_policy(make_lab: Any) -> None:
    lab: Lab = make_lab()
    page = lab.page
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(lab.base_url + "/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    lab.wait_ready()
    # what draws with style: the network, the charts, the maps, the timeline's markers
    for _ in range(4):
        lab.step("iteration")
    open_more(lab)
    page.fill("#tl-jump", "2")
    page.click(".tl-go")
    page.wait_for_selector("[data-slot='timeline'][data-iteration='2'][data-phase='forward']")
    page.select_option("#tl-lr", "1" if lab.last("timeline")["settings"]["lr"] != 1 else "0.3")
    mark = lab.mark()
    page.click(".tl-apply")
    lab.wait_for_message("timeline", after=mark, branch=1)
    page.wait_for_selector(".tl-mark-set")
    lab.play_until("30", 8)
    page.keyboard.press("?")  # help
    page.keyboard.press("Escape")
    assert page.evaluate("window.__csp") == []
    assert lab.errors == []


def test_a_download_carries_the_session_id_in_its_body_never_its_url(
        lab: Lab, tmp_path: Path) -> None:
    page = lab.page
    session = lab.last("run")["session"]
    requests: list[Any] = []
    page.on("request", lambda r: requests.append(r))
    lab.step("iteration")
    open_more(lab)
    for selector, name in ((".tl-save", "run.json"), (".tl-metrics-csv", "metrics.csv"),
                           (".tl-weights-csv", "weights.csv")):
        with page.expect_download() as dl:
            page.click(selector)
        path = tmp_path / name
        dl.value.save_as(path)
        assert path.stat().st_size > 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["format"] == "backprop-lab-run"
    assert (tmp_path / "weights.csv").read_text().startswith("iteration,id,row,col,value")
    posts = [r for r in requests if r.url.split("/")[-2:-1] == ["runs"]]
    assert len(posts) == 3 and all(r.method == "POST" for r in posts)
    assert all(session in (r.post_data or "") for r in posts)
    assert not [r.url for r in requests if session in r.url]
    assert page.evaluate("location.pathname") == "/"  # the page stayed
    assert lab.errors == []
