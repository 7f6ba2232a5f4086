"""Check it yourself as a notebook (issue 16, slice 2): one code cell per phase after a
markdown cell explaining it in the learner's language, agreeing with the engine.

One notebook is executed headless by a real Jupyter kernel (nbclient + ipykernel),
as a learner's Run All would; the sample of configurations runs the code cells in
order in one namespace of their own (a kernel per configuration would take seconds
each), which is what a kernel does with them."""

from __future__ import annotations

import contextlib
import io
import json

import nbformat
import pytest
from fastapi.testclient import TestClient
from nbclient import NotebookClient

from engine.config import RunConfig
from server.run.export_notebook import notebook
from tests.server.conftest import WS, make_app
from tests.server.test_export_step import CASES, captured

PHASES = ["settings", "inputs", "functions", "forward", "loss", "backward", "update", "check"]


def run_cells(nb: nbformat.NotebookNode) -> str:
    """The code cells run in order in one fresh namespace; what they printed."""
    ns: dict[str, object] = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, "cell", "exec"), ns)
    return out.getvalue()


@pytest.mark.parametrize(("name", "config", "before"), CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_the_notebook_of_an_iteration_agrees_phase_by_phase(
        name: str, config: RunConfig, before: int) -> None:
    nb = nbformat.reads(notebook(captured(config, before), "en"), as_version=4)
    nbformat.validate(nb)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds == ["markdown"] + ["markdown", "code"] * len(PHASES)
    assert run_cells(nb).splitlines()[-1] == "agrees"


@pytest.mark.parametrize(("lang", "words"), [
    ("ja", ["## 順伝播", "## 損失", "## 逆伝播", "## 更新", "連鎖律"]),
    ("en", ["## Forward pass", "## Loss", "## Backward pass", "## Update", "chain rule"]),
])
def test_the_notebook_explains_each_phase_in_the_learners_language(
        lang: str, words: list[str]) -> None:
    nb = nbformat.reads(notebook(captured(CASES[2][1], 7), lang), as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for w in words:
        assert w in text
    other = "## Backward pass" if lang == "ja" else "## 逆伝播"
    assert other not in text


def test_a_kernel_runs_the_downloaded_notebook_headless_and_it_agrees() -> None:
    config = {"dataset": "xor", "hidden": [4, 3], "activation": "relu", "batch_size": 8,
              "lr": 0.1, "seed": 5, "norm": "batch", "dropout": 0.25,
              "optimizer": {"name": "sgd", "momentum": 0.9}}
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.send({"type": "configure", "config": config})
        ws.recv_type("run")
        ws.recv_type("timeline")
        ws.send({"type": "step", "unit": "iteration"})
        ws.recv_type("state")
        ws.send({"type": "step", "unit": "iteration"})
        ws.recv_type("state")
        got = client.post("/runs/step-1-ja.ipynb", data={"session": sid})
    assert got.status_code == 200
    assert 'filename="backprop-lab-step-2-ja.ipynb"' in got.headers["content-disposition"]
    nb = nbformat.reads(got.text, as_version=4)
    assert json.loads(got.text)["metadata"]["kernelspec"]["name"] == "python3"
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    last = nb.cells[-1].outputs
    text = "".join(o.get("text", "") for o in last if o.output_type == "stream")
    assert text.splitlines()[-1] == "agrees"
    assert nb.cells[0].source.startswith("# Backprop Lab：")
