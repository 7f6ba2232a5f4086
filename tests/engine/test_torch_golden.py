"""The engine against PyTorch's own numbers, without PyTorch installed.

``data/torch_golden.json`` holds what PyTorch computed for small runs with
given weights, data and settings (written by ``make_torch_golden.py``, which
documents the cases and how the engine's documented differences — ½ in mse,
W's layout — are accounted for). Here the engine runs the same iterations
with :meth:`Stepper.step_batch` and must give the same learning rates,
losses, gradients, parameters after every step, batch-norm running
statistics and evaluation-mode outputs, to float64 rounding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.data import Dataset
from engine.model import LayerSpec, NetSpec
from engine.schedules import Schedule
from engine.stepper import RunConfig, Stepper

GOLDEN = json.loads((Path(__file__).parent / "data" / "torch_golden.json").read_text())
CASES = GOLDEN["cases"]
RTOL, ATOL = 1e-10, 1e-13


def close(actual: Any, expected: Any, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def engine_run(c: dict[str, Any]) -> Stepper:
    x, t = np.array(c["x"]), np.array(c["t"])
    sizes = [len(c["params"][f"L{l}.b"]) for l in range(1, 4)]
    hidden = tuple(LayerSpec(n, c["act"], norm=c["norm"]) for n in sizes[:-1])
    spec = NetSpec(x.shape[1], (*hidden, LayerSpec(sizes[-1], "linear")), c["loss"])
    cfg = RunConfig(optimizer=c["optimizer"], optimizer_params=tuple(c["hyper"].items()),
                    lr=c["lr"], schedule=Schedule(**c["schedule"]), clip_norm=c["clip_norm"],
                    clip_value=c["clip_value"], batch_size=0,
                    accumulate_grads=c.get("accumulate", False))
    st = Stepper(cfg, spec=spec, data=Dataset.from_arrays(x, t))
    assert set(st.net.params) == set(c["params"])
    for k, v in c["params"].items():
        st.net.params[k] = np.array(v)
    return st


def test_the_golden_file_covers_what_it_claims() -> None:
    names = {c["name"] for c in CASES}
    assert {"sgd", "sgd_momentum", "sgd_nesterov", "sgd_dampening", "sgd_weight_decay",
            "rmsprop", "rmsprop_centered", "rmsprop_momentum", "adagrad_lr_decay", "adam",
            "adamw", "step_lr", "exponential_lr", "cosine_lr", "step_lr_warmup",
            "cosine_lr_warmup", "clip_norm", "clip_value", "mse", "cross_entropy",
            "batch_norm", "layer_norm"} <= names
    assert {c["act"] for c in CASES} >= {"sigmoid", "tanh", "relu", "leaky_relu", "elu",
                                         "gelu", "swish", "softplus", "linear"}
    # the schedules really change the rate, the clipping really clips
    lrs = {c["name"]: [s["lr"] for s in c["steps"]] for c in CASES}
    assert all(len(set(lrs[n])) >= 3 for n in ("step_lr_warmup", "cosine_lr", "exponential_lr"))
    clip = next(c for c in CASES if c["name"] == "clip_norm")
    assert all(s["clip_total_norm"] > clip["clip_norm"] for s in clip["steps"])


@pytest.mark.parametrize("c", CASES, ids=[c["name"] for c in CASES])
def test_the_engine_gives_pytorchs_numbers(c: dict[str, Any]) -> None:
    st = engine_run(c)
    x, t = np.array(c["x"]), np.array(c["t"])
    for i, step in enumerate(c["steps"]):
        _, loss, back, upd = (r.values for r in st.step_batch(x, t))
        where = f"{c['name']} iteration {i}"
        close(upd["lr"], step["lr"], f"{where}: lr")
        close(loss["loss.data"], step["loss"], f"{where}: loss")
        for k, g in step.get("grads", {}).items():
            l, name = k.split(".")
            gid = {"W": f"{l}.dW", "b": f"{l}.db", "gamma": f"{l}.dgamma",
                   "beta": f"{l}.dbeta"}[name]
            close(back[gid], g, f"{where}: ∂L/∂{k}")
        for k, g in step.get("grad_sum", {}).items():
            close(upd[f"{k}.grad_sum"], g, f"{where}: p.grad of {k} (never reset)")
        if "clip_total_norm" in step:
            close(upd["clip.total_norm"], step["clip_total_norm"], f"{where}: clip norm")
        for k, p in step["params"].items():
            close(upd[k], p, f"{where}: {k} after the step")
    for k, v in c.get("buffers", {}).items():
        close(st.net.buffers[k], v, f"{c['name']}: {k}")
    if "eval" in c:
        z = st.net.forward(np.array(c["eval"]["x"]), train=False)[-1].z
        close(z, c["eval"]["z"], f"{c['name']}: evaluation-mode logits")
