"""Check it yourself from the page (issue 16, slice 4): the timeline, the inspector and
a lesson step offer the iteration shown as a NumPy script, a PyTorch script and a
notebook; the three arrive, the NumPy one runs and agrees with the page, and each is
explained in the page's language."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    # its second part redoes the iteration with PyTorch (run by make parity)
    assert any("".join(c["source"]).startswith("## The same iteration with PyTorch")
               for c in nb["cells"])
    assert lab.errors == []


def test_a_lesson_step_offers_them_in_japanese_with_the_notebook_explained_in_japanese(
        make_lab: Any, tmp_path: Path) -> None:
    lab = make_lab(locale="ja-JP").open("/?lesson=one-neuron&step=3")
    page = lab.page
    lab.wait_for_message("lesson_step", after=0, id="one-neuron", step=3)
    fold = page.locator(".lesson-panel .lesson-step-files > summary")
    fold.wait_for(state="visible")
    assert fold.inner_text() == "自分で確かめる"
    fold.click()   # folded between the step buttons until asked for
    files = page.locator(".lesson-panel .step-files")
    files.wait_for(state="visible")
    assert page.locator(".lesson-panel .step-numpy").inner_text() == "NumPy スクリプト"
    assert "確かめる" in files.inner_text()
    lab.settled()
    with page.expect_download() as dl:   # forward and loss of iteration 1 shown
        page.click(".lesson-panel .step-notebook")
    assert dl.value.suggested_filename == "backprop-lab-step-1-ja.ipynb"
    dl.value.save_as(tmp_path / "nb.ipynb")
    nb = json.loads((tmp_path / "nb.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "## 逆伝播" in text and "連鎖律" in text
    # and the scripts, explained in Japanese too (their names say so)
    for cls, name in (("step-numpy", "backprop-lab-step-1-ja.py"),
                      ("step-torch", "backprop-lab-step-1-torch-ja.py")):
        with page.expect_download() as dl:
            page.click(f".lesson-panel .{cls}")
        assert dl.value.suggested_filename == name
        dl.value.save_as(tmp_path / name)
        assert "反復 1" in (tmp_path / name).read_text().splitlines()[0]
    done = subprocess.run([sys.executable, str(tmp_path / "backprop-lab-step-1-ja.py")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.splitlines()[-1] == "agrees", done.stderr
    assert lab.errors == []
