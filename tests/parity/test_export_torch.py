"""Check it yourself with PyTorch (issue 16, slice 3): the PyTorch script of an
iteration (torch.nn, autograd, torch.optim with the run's optimizer state, the
schedule's step, clipping and regularisation) agrees with the engine's numbers for
the same sample of configurations the NumPy script is tested on. Run by
``make parity`` (needs torch); each script runs in-process in a fresh namespace."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from engine.config import RunConfig
from server.run.export_torch import torch_script
from tests.server.test_export_step import CASES, captured, learned_drawing_files


def run_script(source: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "step-torch.py", "exec"), {"__name__": "__main__"})
    return out.getvalue()


@pytest.mark.parametrize(("name", "config", "before"), CASES, ids=[c[0] for c in CASES])
def test_the_pytorch_script_of_an_iteration_agrees_with_the_engine(
        name: str, config: RunConfig, before: int) -> None:
    source = torch_script(captured(config, before))
    assert "torch.autograd.grad" in source and "optimizer.step()" in source
    lines = run_script(source).splitlines()
    assert lines[-1] == "agrees", lines[-1]
    assert "new L1.W =" in lines


def test_the_pytorch_script_says_where_it_differs_on_purpose_and_checks_for_real() -> None:
    cfg = CASES[2][1]   # batch norm, dropout, residual, Adam, L1/L2, cosine with warm-up
    source = torch_script(captured(cfg, 7))
    assert "differs on purpose: torch.nn.Dropout would draw a new mask" in source
    assert "NOT_COMPARED = ['L1.b', 'L2.b']" in source
    # the file's docstring lists them for this configuration, each in a sentence
    head = " ".join(source[:source.index('"""', 3)].split())
    for words in ("the page's mask", "rounding noise", "once per iteration",
                  "past T_max", "not the optimizer's `weight_decay`"):
        assert words in head, words
    assert "softplus" not in head and "GELU" not in head and "MSE" not in head
    softplus = torch_script(captured(RunConfig(activation="softplus"), 2))
    assert "differs on purpose: F.softplus returns z itself above z = 20" in softplus
    gelu_mse = torch_script(captured(CASES[5][1], 4))
    assert "approximate='tanh'" in gelu_mse and "F.mse_loss would average" in gelu_mse
    loss = re.search(r"^    'loss': (\S+),$", source, re.M)
    assert loss is not None
    tampered = source.replace(loss.group(0), f"    'loss': {float(loss.group(1)) * (1 + 1e-7)!r},")
    assert run_script(tampered).splitlines()[-1].startswith("differs: loss")


def test_the_pytorch_script_of_an_iteration_learned_from_a_drawing_agrees() -> None:
    """A batch of one row (the learner's drawing) through batch norm, in eval mode as the
    engine does it."""
    assert run_script(learned_drawing_files()["-torch.py"]).splitlines()[-1] == "agrees"
