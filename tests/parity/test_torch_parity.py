"""The engine against PyTorch itself, live: the same weights, data and settings
give the same numbers as ``torch`` (to rounding). Run by ``make parity``, which
installs a CPU build of torch; ``make test`` leaves this folder out (it never
skips a test), and the committed golden file (tests/engine/test_torch_golden.py)
with the formula tests carries the comparison there."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from engine.data import Dataset
from engine.model import LayerSpec, NetSpec
from engine.stepper import RunConfig, Stepper

OPTIMIZERS = [
    ("sgd", {}, {}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
     {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.5, "centered": True}, {"momentum": 0.5, "centered": True}),
    ("adagrad", {"lr_decay": 0.01}, {"lr_decay": 0.01}),
    ("adam", {}, {}),
    ("adamw", {"weight_decay": 0.1}, {"weight_decay": 0.1}),
]
TORCH_NAMES = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam",
               "adamw": "AdamW"}


def stepper(opt: str, hyper: dict, act: str, loss: str, k: int) -> Stepper:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3))
    t = (rng.random((16, 1)) < 0.5).astype(float) if loss == "bce" else (
        np.eye(k)[rng.integers(0, k, 16)] if loss == "cross_entropy" else rng.normal(size=(16, k)))
    spec = NetSpec(3, (LayerSpec(5, act), LayerSpec(4, act), LayerSpec(k, "linear")), loss)
    cfg = RunConfig(optimizer=opt, optimizer_params=tuple(hyper.items()), lr=0.05,
                    batch_size=8, seed=3)
    return Stepper(cfg, spec=spec, data=Dataset.from_arrays(x, t))


def torch_model(st: Stepper, act: str) -> Any:
    acts = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu":
            lambda: torch.nn.GELU(approximate="tanh"), "sigmoid": torch.nn.Sigmoid,
            "elu": torch.nn.ELU, "swish": torch.nn.SiLU,
            "softplus": torch.nn.Softplus}
    layers: list = []
    sizes = st.net.spec.sizes
    for l in range(1, len(sizes)):
        lin = torch.nn.Linear(sizes[l - 1], sizes[l]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(st.net.params[f"L{l}.W"].T))
            lin.bias.copy_(torch.tensor(st.net.params[f"L{l}.b"]))
        layers.append(lin)
        if l < len(sizes) - 1:
            layers.append(acts[act]())
    return torch.nn.Sequential(*layers)


def torch_loss(loss: str, out: Any, t: np.ndarray) -> Any:
    tt = torch.tensor(t)
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(out, tt)
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(out, tt.argmax(dim=1))
    return 0.5 * ((out - tt) ** 2).sum(dim=1).mean()


def backward_matches(model: Any, loss: str, fwd: dict, lrec: dict, back: dict,
                     rtol: float) -> list[Any]:
    """Run the batch of ``fwd`` through ``model`` in torch; assert the engine's loss and
    ∂L/∂W agree. Returns the model's Linear layers (their grads set)."""
    L = torch_loss(loss, model(torch.tensor(fwd["x"])), fwd["t"])
    L.backward()
    assert lrec["loss.data"] == pytest.approx(L.item(), rel=1e-12)
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    for l, m in enumerate(lin, start=1):
        np.testing.assert_allclose(back[f"L{l}.dW"], m.weight.grad.numpy().T, rtol=rtol,
                                   atol=1e-14)
    return lin


@pytest.mark.parametrize("opt,hyper,thyper", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_three_iterations_match_torch(opt: str, hyper: dict, thyper: dict) -> None:
    st = stepper(opt, hyper, "tanh", "bce", 1)
    model = torch_model(st, "tanh")
    topt = getattr(torch.optim, TORCH_NAMES[opt])(model.parameters(), lr=0.05, **thyper)
    for _ in range(3):
        fwd, loss, back, upd = (r.values for r in st.step_iteration())
        topt.zero_grad()
        lin = backward_matches(model, "bce", fwd, loss, back, rtol=1e-10)
        topt.step()
        for l, m in enumerate(lin, start=1):
            np.testing.assert_allclose(upd[f"L{l}.W"], m.weight.detach().numpy().T,
                                       rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(upd[f"L{l}.b"], m.bias.detach().numpy(), rtol=1e-10,
                                       atol=1e-13)


@pytest.mark.parametrize("act", ["relu", "gelu", "sigmoid", "swish", "softplus", "elu"])
@pytest.mark.parametrize("loss,k", [("mse", 2), ("cross_entropy", 4)])
def test_gradients_match_torch_autograd(act: str, loss: str, k: int) -> None:
    st = stepper("sgd", {}, act, loss, k)
    model = torch_model(st, act)
    fwd, lrec, back, _ = (r.values for r in st.step_iteration())
    lin = backward_matches(model, loss, fwd, lrec, back, rtol=1e-9)
    for l, m in enumerate(lin, start=1):
        np.testing.assert_allclose(back[f"L{l}.db"], m.bias.grad.numpy(), rtol=1e-9,
                                   atol=1e-14)


@pytest.mark.parametrize("opt,hyper,clip_norm,clip_value", [
    ("sgd", {}, 0.0, 0.0),
    ("sgd", {"momentum": 0.9, "weight_decay": 0.01}, 0.3, 0.0),
    ("adam", {"weight_decay": 0.05}, 0.0, 0.02),
], ids=["sgd", "momentum-decay-clip-norm", "adam-decay-clip-value"])
def test_accumulated_gradients_match_torch_without_zero_grad(
        opt: str, hyper: dict, clip_norm: float, clip_value: float) -> None:
    """``accumulate_grads`` is PyTorch's loop with ``optimizer.zero_grad()`` left out:
    ``backward()`` adds into ``p.grad``, the clipping works on ``p.grad`` in place (the
    clipped sum is what the next iteration adds to), weight decay is added inside
    ``step()``. The backward record keeps this iteration's gradient; the update record's
    ``grad_sum`` is ``p.grad`` before clipping."""
    base = stepper(opt, hyper, "tanh", "bce", 1)
    st = Stepper(replace(base.config, accumulate_grads=True, clip_norm=clip_norm,
                         clip_value=clip_value), spec=base.net.spec, data=base.data)
    model = torch_model(st, "tanh")
    topt = getattr(torch.optim, TORCH_NAMES[opt])(model.parameters(), lr=0.05, **hyper)
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    for _ in range(4):
        fwd, lrec, back, upd = (r.values for r in st.step_iteration())
        before = [m.weight.grad.clone() if m.weight.grad is not None else None for m in lin]
        L = torch_loss("bce", model(torch.tensor(fwd["x"])), fwd["t"])
        L.backward()  # no zero_grad(): p.grad += ∂L/∂p
        assert lrec["loss.data"] == pytest.approx(L.item(), rel=1e-12)
        for l, (m, old) in enumerate(zip(lin, before, strict=True), start=1):
            this = m.weight.grad if old is None else m.weight.grad - old
            np.testing.assert_allclose(back[f"L{l}.dW"], this.numpy().T, rtol=1e-9, atol=1e-13)
            np.testing.assert_allclose(upd[f"L{l}.W.grad_sum"], m.weight.grad.numpy().T,
                                       rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(upd[f"L{l}.b.grad_sum"], m.bias.grad.numpy(),
                                       rtol=1e-10, atol=1e-13)
        params = list(model.parameters())
        if clip_value > 0:
            torch.nn.utils.clip_grad_value_(params, clip_value)
        if clip_norm > 0:
            total = torch.nn.utils.clip_grad_norm_(params, clip_norm)
            assert upd["clip.total_norm"] == pytest.approx(float(total), rel=1e-12)
        topt.step()
        for l, m in enumerate(lin, start=1):
            np.testing.assert_allclose(upd[f"L{l}.W"], m.weight.detach().numpy().T,
                                       rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(upd[f"L{l}.b"], m.bias.detach().numpy(), rtol=1e-10,
                                       atol=1e-13)
            np.testing.assert_allclose(st.grad_sum[f"L{l}.W"], m.weight.grad.numpy().T,
                                       rtol=1e-10, atol=1e-13)
