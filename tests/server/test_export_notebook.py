"""Check it yourself as a notebook (issue 16, slices 2 and 5): a NumPy part and a PyTorch
part, one code cell per phase after a markdown cell explaining it in the learner's
language, the NumPy part agreeing with the engine; where torch is not installed (as
under ``make test``) the PyTorch cells do nothing and the last line says so in the
learner's language. ``tests/parity/test_export_notebook_torch.py`` runs the PyTorch
part with torch.

One notebook is executed headless by a real Jupyter kernel (nbclient + ipykernel),
as a learner's Run All would; the sample of configurations runs the code cells in
order in one namespace of their own (a kernel per configuration would take seconds
each), which is what a kernel does with them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from fastapi.testclient import TestClient
from nbclient import NotebookClient

from engine.config import RunConfig
from server.run.export_notebook import NOT_RUN, notebook
from tests.server.conftest import WS, make_app
from tests.server.test_export_step import CASES, captured

PHASES = ["settings", "inputs", "functions", "forward", "loss", "backward", "update", "check"]
TORCH_PHASES = ["model", "forward", "backward", "update", "check"]
#: the code cell that ends the NumPy part: its check
NUMPY_CHECK = len(PHASES) - 1


def run_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The code cells run in order in one fresh namespace; what each one printed."""
    ns: dict[str, object] = {"__name__": "__main__"}
    printed = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(cell.source, "cell", "exec"), ns)
            printed.append(out.getvalue())
    return printed


def last_line(text: str) -> str:
    lines = text.splitlines()
    return lines[-1] if lines else ""


def kernel_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """What each code cell of an executed notebook printed."""
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize(("name", "config", "before"), CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_the_notebook_of_an_iteration_agrees_phase_by_phase(
        name: str, config: RunConfig, before: int) -> None:
    nb = nbformat.reads(notebook(captured(config, before), "en"), as_version=4)
    nbformat.validate(nb)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds == (["markdown"] + ["markdown", "code"] * len(PHASES)
                     + ["markdown", "code"] + ["markdown", "code"] * len(TORCH_PHASES))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "torch", None)   # `import torch` fails, as without torch
        printed = run_cells(nb)
    assert last_line(printed[NUMPY_CHECK]) == "agrees"
    assert last_line(printed[-1]) == NOT_RUN["en"]
    # the PyTorch cells in between did nothing
    assert printed[NUMPY_CHECK + 2:-1] == [""] * (len(TORCH_PHASES) - 1)


@pytest.mark.parametrize(("lang", "words"), [
    ("ja", ["## 順伝播", "## 損失", "## 逆伝播", "## 更新", "連鎖律", "## 同じ反復を PyTorch で",
            "## PyTorch で逆伝播", "pip install torch", "新しいマスクを引いてしまう"]),
    ("en", ["## Forward pass", "## Loss", "## Backward pass", "## Update", "chain rule",
            "## The same iteration with PyTorch", "## Backward pass in PyTorch",
            "pip install torch", "would draw a new one"]),
])
def test_the_notebook_explains_each_phase_in_the_learners_language(
        lang: str, words: list[str]) -> None:
    nb = nbformat.reads(notebook(captured(CASES[2][1], 7), lang), as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for w in words:
        assert w in text
    other = "## Backward pass" if lang == "ja" else "## 逆伝播"
    assert other not in text


def test_a_kernel_runs_the_downloaded_notebook_headless_and_it_agrees(tmp_path: Path) -> None:
    """Run All in a real kernel where torch cannot be imported (a stand-in package that
    refuses, first on the kernel's path, whatever this machine has): the NumPy part
    agrees and the notebook ends saying, in Japanese, that the PyTorch part was not run."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no torch here')\n")
    config = {"dataset": "xor", "hidden": [4, 3], "activation": "relu", "batch_size": 8,
              "lr": 0.1, "seed": 5, "norm": "batch", "dropout": 0.25,
              "optimizer": {"name": "sgd", "momentum": 0.9}}
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.configure(config)
        ws.send({"type": "step", "unit": "iteration"})
        ws.recv_type("state")
        ws.send({"type": "step", "unit": "iteration"})
        ws.recv_type("state")
        got = client.post("/runs/step-1-ja.ipynb", data={"session": sid})
    assert got.status_code == 200
    assert 'filename="backprop-lab-step-2-ja.ipynb"' in got.headers["content-disposition"]
    nb = nbformat.reads(got.text, as_version=4)
    assert json.loads(got.text)["metadata"]["kernelspec"]["name"] == "python3"
    path = os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute(
        env={**os.environ, "PYTHONPATH": path})
    printed = kernel_outputs(nb)
    assert last_line(printed[NUMPY_CHECK]) == "agrees"
    assert last_line(printed[-1]) == NOT_RUN["ja"]
    assert "インストールされていない" in NOT_RUN["ja"]
    assert nb.cells[0].source.startswith("# Backprop Lab：")
