"""Write ``tests/engine/data/torch_golden.json``: PyTorch's numbers for small runs.

Run by hand where PyTorch is installed (CI has no torch; the golden file is
committed and ``tests/engine/test_torch_golden.py`` checks the engine against
it without torch)::

    .venv/bin/python tests/engine/make_torch_golden.py

Each case is a small network (2 inputs, two hidden layers of 3, K outputs)
with given weights, a given batch of 5 rows and given settings. PyTorch runs a
few iterations of it in float64 — ``Linear`` (weight = Wᵀ), optional
``BatchNorm1d``/``LayerNorm``, the activation, the loss, ``backward``,
gradient clipping, ``optimizer.step()``, ``scheduler.step()`` — and the file
keeps, per iteration: the learning rate used, the loss, the parameters after
the step, and (first iteration only, to stay small) the gradients. Cases with
a norm also keep the batch-norm running statistics and the evaluation-mode
logits after training.

The cases cover every optimizer (SGD plain, momentum, Nesterov, dampening,
weight decay; RMSprop plain, centered, momentum; Adagrad with lr_decay; Adam;
AdamW), the schedules (StepLR, ExponentialLR, CosineAnnealingLR, each also
chained with a LinearLR warm-up), clipping (``clip_grad_value_``, then
``clip_grad_norm_``, the engine's order), the three losses, every
activation, and the forgotten ``optimizer.zero_grad()`` (``accumulate``: the
engine's ``accumulate_grads``; ``p.grad`` adds up, is clipped in place, and the
file keeps it before clipping as ``grad_sum`` every iteration). The engine's
documented differences are accounted for here: its ``mse`` is ½Σ_k(y − t)²
averaged over the batch, i.e. ``MSELoss()`` × K/2; ``W`` is stored in the
engine's (n_in, n_out) layout; targets are one-hot (``CrossEntropyLoss`` gets
their argmax); the schedules step every iteration.

Numbers are written with Python's shortest round-trip repr, so float64
values survive exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

OUT = Path(__file__).parent / "data" / "torch_golden.json"
N_IN, HIDDEN, B = 2, (3, 3), 5

ACTS: dict[str, Any] = {
    "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU,
    "leaky_relu": torch.nn.LeakyReLU, "elu": torch.nn.ELU,
    "gelu": lambda: torch.nn.GELU(approximate="tanh"), "swish": torch.nn.SiLU,
    "softplus": torch.nn.Softplus, "linear": torch.nn.Identity,
}
TORCH_OPT = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam",
             "adamw": "AdamW"}


def case(name: str, *, act: str = "tanh", loss: str = "bce", k: int = 1, norm: str = "none",
         optimizer: str = "sgd", hyper: dict[str, Any] | None = None, lr: float = 0.1,
         schedule: dict[str, Any] | None = None, clip_norm: float = 0.0,
         clip_value: float = 0.0, iterations: int = 3,
         accumulate: bool = False) -> dict[str, Any]:
    """One case's settings, in the engine's names."""
    return {"name": name, "act": act, "loss": loss, "k": k, "norm": norm,
            "optimizer": optimizer, "hyper": hyper or {}, "lr": lr,
            "schedule": schedule or {"name": "constant"}, "clip_norm": clip_norm,
            "clip_value": clip_value, "iterations": iterations, "accumulate": accumulate}


CASES = [
    # optimizers (tanh, bce)
    case("sgd"),
    case("sgd_momentum", hyper={"momentum": 0.9}),
    case("sgd_nesterov", hyper={"momentum": 0.9, "nesterov": True}),
    case("sgd_dampening", hyper={"momentum": 0.9, "dampening": 0.3}),
    case("sgd_weight_decay", hyper={"momentum": 0.5, "weight_decay": 0.05}),
    case("rmsprop", optimizer="rmsprop", lr=0.01),
    case("rmsprop_centered", optimizer="rmsprop", lr=0.01, hyper={"centered": True}),
    case("rmsprop_momentum", optimizer="rmsprop", lr=0.01,
         hyper={"momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    case("adagrad_lr_decay", optimizer="adagrad",
         hyper={"lr_decay": 0.05, "initial_accumulator_value": 0.1}),
    case("adam", optimizer="adam", lr=0.01),
    case("adam_weight_decay", optimizer="adam", lr=0.01,
         hyper={"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}),
    case("adamw", optimizer="adamw", lr=0.01),
    case("adamw_weight_decay", optimizer="adamw", lr=0.01, hyper={"weight_decay": 0.2}),
    # schedules, stepped every iteration (cosine up to T_max: past it torch's
    # CosineAnnealingLR rises again, the engine stays at η_min — docs/engine.md)
    case("step_lr", schedule={"name": "step", "step_size": 2, "gamma": 0.5}, iterations=5),
    case("exponential_lr", schedule={"name": "exponential", "gamma": 0.8}, iterations=5),
    case("cosine_lr", schedule={"name": "cosine", "t_max": 4, "eta_min": 0.01}, iterations=5),
    case("step_lr_warmup", schedule={"name": "step", "step_size": 2, "gamma": 0.5,
                                     "warmup": 3, "warmup_start": 0.25}, iterations=5),
    case("exponential_lr_warmup", schedule={"name": "exponential", "gamma": 0.8,
                                            "warmup": 2, "warmup_start": 0.1}, iterations=5),
    case("cosine_lr_warmup", schedule={"name": "cosine", "t_max": 4, "eta_min": 0.0,
                                       "warmup": 3, "warmup_start": 0.2}, iterations=5),
    case("constant_warmup", schedule={"name": "constant", "warmup": 3, "warmup_start": 0.3},
         iterations=5),
    # clipping
    case("clip_norm", clip_norm=0.05, hyper={"momentum": 0.9}),
    case("clip_value", clip_value=0.01, hyper={"momentum": 0.9}),
    case("clip_value_and_norm", clip_value=0.02, clip_norm=0.03),
    # losses
    case("mse", loss="mse", k=2, hyper={"momentum": 0.9}),
    case("cross_entropy", loss="cross_entropy", k=3, hyper={"momentum": 0.9}),
    # activations (mse for a linear output, cross-entropy for a softmax one)
    *(case(f"act_{a}", act=a, loss="mse", k=2) for a in ACTS),
    *(case(f"act_{a}_ce", act=a, loss="cross_entropy", k=3, optimizer="adam", lr=0.05)
      for a in ("gelu", "elu", "leaky_relu", "swish", "softplus")),
    # normalization, training then evaluation
    case("batch_norm", norm="batch", act="relu", loss="mse", k=2, hyper={"momentum": 0.9}),
    # (SGD: the bias before a batch norm gets a zero gradient up to rounding,
    # which Adam would scale up to a step of ≈ lr·1e-9 made of rounding noise)
    case("batch_norm_ce", norm="batch", act="tanh", loss="cross_entropy", k=3,
         hyper={"momentum": 0.9, "nesterov": True}, lr=0.2),
    case("layer_norm", norm="layer", act="gelu", loss="bce", hyper={"momentum": 0.9}),
    # the forgotten zero_grad(): p.grad accumulates (lesson 16), clipped in place
    case("accumulate_sgd", accumulate=True, iterations=4),
    case("accumulate_adam_decay_clip_norm", optimizer="adam", lr=0.01,
         hyper={"weight_decay": 0.1}, clip_norm=0.05, accumulate=True, iterations=4),
    case("accumulate_layer_norm_clip_value", norm="layer", act="relu", loss="mse", k=2,
         hyper={"momentum": 0.9}, clip_value=0.02, accumulate=True, iterations=4),
]


def torch_schedulers(opt: Any, s: dict[str, Any]) -> list[Any]:
    """The schedulers stepped every iteration, in order: the LinearLR warm-up
    first, as ``ChainedScheduler([LinearLR, X])`` (the engine's order; it
    matters for CosineAnnealingLR with eta_min > 0, not for the cases here,
    whose schedulers all multiply the rate)."""
    sch = torch.optim.lr_scheduler
    out: list[Any] = []
    if s.get("warmup"):
        out.append(sch.LinearLR(opt, start_factor=s["warmup_start"], end_factor=1.0,
                                total_iters=s["warmup"]))
    if s["name"] == "step":
        out.append(sch.StepLR(opt, step_size=s["step_size"], gamma=s["gamma"]))
    elif s["name"] == "exponential":
        out.append(sch.ExponentialLR(opt, gamma=s["gamma"]))
    elif s["name"] == "cosine":
        out.append(sch.CosineAnnealingLR(opt, T_max=s["t_max"], eta_min=s["eta_min"]))
    return out


def torch_hyper(name: str, h: dict[str, Any]) -> dict[str, Any]:
    h = dict(h)
    if name in ("adam", "adamw") and ("beta1" in h or "beta2" in h):
        h["betas"] = (h.pop("beta1", 0.9), h.pop("beta2", 0.999))
    return h


def arr(a: Any) -> Any:
    return np.asarray(a, dtype=np.float64).tolist()


def run(c: dict[str, Any], seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    k = c["k"]
    x = rng.normal(size=(B, N_IN))
    if c["loss"] == "bce":
        t = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    elif c["loss"] == "cross_entropy":
        t = np.eye(k)[[0, 1, 2, 1, 0][:B]]
    else:
        t = rng.normal(size=(B, k))
    sizes = [N_IN, *HIDDEN, k]
    params: dict[str, np.ndarray] = {}
    layers: list[Any] = []
    norms: list[Any] = []
    linears: list[Any] = []
    for l in range(1, len(sizes)):
        W = rng.uniform(-1, 1, size=(sizes[l - 1], sizes[l]))
        b = rng.uniform(-0.3, 0.3, size=sizes[l])
        params[f"L{l}.W"], params[f"L{l}.b"] = W, b
        lin = torch.nn.Linear(sizes[l - 1], sizes[l]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W.T))
            lin.bias.copy_(torch.tensor(b))
        layers.append(lin)
        linears.append((l, lin))
        if l < len(sizes) - 1:
            if c["norm"] != "none":
                g = 1.0 + 0.2 * rng.normal(size=sizes[l])
                be = 0.1 * rng.normal(size=sizes[l])
                params[f"L{l}.gamma"], params[f"L{l}.beta"] = g, be
                nm = (torch.nn.BatchNorm1d(sizes[l]) if c["norm"] == "batch"
                      else torch.nn.LayerNorm(sizes[l])).double()
                with torch.no_grad():
                    nm.weight.copy_(torch.tensor(g))
                    nm.bias.copy_(torch.tensor(be))
                layers.append(nm)
                norms.append((l, nm))
            layers.append(ACTS[c["act"]]())
    model = torch.nn.Sequential(*layers)
    named: list[tuple[str, Any]] = []
    for l, lin in linears:
        named += [(f"L{l}.W", lin.weight), (f"L{l}.b", lin.bias)]
    for l, nm in norms:
        named += [(f"L{l}.gamma", nm.weight), (f"L{l}.beta", nm.bias)]
    opt = getattr(torch.optim, TORCH_OPT[c["optimizer"]])(
        [p for _, p in named], lr=c["lr"], **torch_hyper(c["optimizer"], c["hyper"]))
    scheds = torch_schedulers(opt, c["schedule"])
    xt, tt = torch.tensor(x), torch.tensor(t)

    def value(key: str, p: Any) -> Any:
        v = p.detach().numpy()
        return arr(v.T if key.endswith(".W") else v)

    steps = []
    for i in range(c["iterations"]):
        lr = opt.param_groups[0]["lr"]
        if not c["accumulate"]:
            opt.zero_grad()
        out = model(xt)
        if c["loss"] == "bce":
            L = torch.nn.BCEWithLogitsLoss()(out, tt)
        elif c["loss"] == "cross_entropy":
            L = torch.nn.CrossEntropyLoss()(out, tt.argmax(dim=1))
        else:
            L = torch.nn.MSELoss()(out, tt) * (k / 2)   # the engine's ½Σ_k, mean over B
        L.backward()
        step: dict[str, Any] = {"lr": lr, "loss": L.item()}
        if i == 0:
            step["grads"] = {key: (arr(p.grad.numpy().T) if key.endswith(".W")
                                   else arr(p.grad.numpy())) for key, p in named}
        if c["accumulate"]:  # p.grad after backward(): every gradient so far, summed
            step["grad_sum"] = {key: (arr(p.grad.numpy().T) if key.endswith(".W")
                                      else arr(p.grad.numpy())) for key, p in named}
        ps = [p for _, p in named]
        if c["clip_value"] > 0:
            torch.nn.utils.clip_grad_value_(ps, c["clip_value"])
        if c["clip_norm"] > 0:
            step["clip_total_norm"] = float(torch.nn.utils.clip_grad_norm_(ps, c["clip_norm"]))
        opt.step()
        for s in scheds:
            s.step()
        step["params"] = {key: value(key, p) for key, p in named}
        steps.append(step)
    result: dict[str, Any] = {**c, "x": arr(x), "t": arr(t),
                              "params": {kk: arr(v) for kk, v in params.items()},
                              "steps": steps}
    if norms:
        x_eval = rng.normal(size=(3, N_IN))
        model.eval()
        with torch.no_grad():
            result["eval"] = {"x": arr(x_eval), "z": arr(model(torch.tensor(x_eval)).numpy())}
        result["buffers"] = {}
        for l, nm in norms:
            if c["norm"] == "batch":
                result["buffers"][f"L{l}.running_mean"] = arr(nm.running_mean.numpy())
                result["buffers"][f"L{l}.running_var"] = arr(nm.running_var.numpy())
    return result


def main() -> None:
    torch.set_default_dtype(torch.float64)
    cases = [run(c, seed) for seed, c in enumerate(CASES)]
    for r in cases:
        for s in r["steps"]:
            assert math.isfinite(s["loss"]), r["name"]
    OUT.parent.mkdir(exist_ok=True)
    text = json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":"))
    OUT.write_text(text + "\n")
    print(f"{OUT}: {len(cases)} cases, {len(text) / 1024:.0f} KB")  # noqa: T201


if __name__ == "__main__":
    main()
