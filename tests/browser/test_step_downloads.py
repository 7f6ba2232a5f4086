"""Check it yourself from the page (issue 16, slice 4): the timeline and the inspector
offer the iteration shown as a NumPy script, a PyTorch script and a notebook; the
three arrive, and the NumPy one runs and agrees with the page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.browser.conftest import Lab
from tests.browser.test_inspector import PANEL, open_inspector


def test_the_iteration_shown_downloads_as_three_files_and_the_numpy_one_agrees(
        lab: Lab, tmp_path: Path) -> None:
    page = lab.page
    lab.step("iteration")
    lab.step("iteration")
    lab.step("phase")   # iteration 3 shown, its forward pass so far
    lab.settled()
    # the inspector offers the iteration shown, under what it shows
    open_inspector(lab, "L2.a.1")
    assert page.locator(f"{PANEL} .step-files").is_visible()
    with page.expect_download() as dl:
        page.click(f"{PANEL} .step-numpy")
    assert dl.value.suggested_filename == "backprop-lab-step-3.py"
    page.click(f"{PANEL} .bpl-insp-close")
    # and the timeline, unfolded
    if not page.eval_on_selector(".tl-more", "d => d.open"):
        page.click(".tl-more summary")
    names = {}
    for cls in ("step-numpy", "step-torch", "step-notebook"):
        with page.expect_download() as dl:
            page.click(f".timeline .{cls}")
        names[cls] = dl.value.suggested_filename
        dl.value.save_as(tmp_path / names[cls])
    assert names == {"step-numpy": "backprop-lab-step-3.py",
                     "step-torch": "backprop-lab-step-3-torch.py",
                     "step-notebook": "backprop-lab-step-3-en.ipynb"}
    done = subprocess.run([sys.executable, str(tmp_path / names["step-numpy"])],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.splitlines()[-1] == "agrees", done.stderr
    assert "import torch" in (tmp_path / names["step-torch"]).read_text()
    nb = json.loads((tmp_path / names["step-notebook"]).read_text())
    assert "".join(nb["cells"][0]["source"]).startswith("# Backprop Lab: iteration 3")
    assert lab.errors == []
