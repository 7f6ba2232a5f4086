"""Check it yourself as a notebook, with torch installed (issue 16, slice 5): the
notebook's PyTorch part runs and agrees with the engine, as its NumPy part does, for
the whole sample of configurations; and a real kernel runs one downloaded notebook
to its end, both parts saying ``agrees``. Run by ``make parity`` (needs torch);
``tests/server/test_export_notebook.py`` runs the notebooks without torch."""

from __future__ import annotations

import nbformat
import pytest
from fastapi.testclient import TestClient
from nbclient import NotebookClient

from engine.config import RunConfig
from server.run.export_notebook import notebook
from tests.server.conftest import WS, make_app
from tests.server.test_export_notebook import NUMPY_CHECK, kernel_outputs, last_line, run_cells
from tests.server.test_export_step import CASES, captured


@pytest.mark.parametrize(("name", "config", "before"), CASES, ids=[c[0] for c in CASES])
def test_both_parts_of_the_notebook_agree_with_the_engine(
        name: str, config: RunConfig, before: int) -> None:
    nb = nbformat.reads(notebook(captured(config, before), "en"), as_version=4)
    printed = run_cells(nb)
    assert last_line(printed[NUMPY_CHECK]) == "agrees"
    assert printed[NUMPY_CHECK + 1].startswith("torch ")   # the import cell: torch there
    assert "new L1.W =" in printed[-2]                      # the update cell printed
    assert last_line(printed[-1]) == "agrees", printed[-1]


def test_a_kernel_runs_a_downloaded_notebook_with_torch_to_the_end_and_both_parts_agree(
        ) -> None:
    config = {"dataset": "iris", "hidden": [5, 5], "activation": "gelu", "batch_size": 8,
              "seed": 2, "norm": "layer", "dropout": 0.2, "residual": True, "l2": 0.01,
              "optimizer": {"name": "adam"}, "schedule": {"name": "cosine", "t_max": 20}}
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.configure(config)
        for _ in range(3):
            ws.send({"type": "step", "unit": "iteration"})
            ws.recv_type("state")
        got = client.post("/runs/step-2-en.ipynb", data={"session": sid})
    assert got.status_code == 200, got.text
    nb = nbformat.reads(got.text, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    printed = kernel_outputs(nb)
    assert last_line(printed[NUMPY_CHECK]) == "agrees"
    assert last_line(printed[-1]) == "agrees"
