"""Every gradient path against a central finite difference of the total loss.

The engine's ∂L/∂θ for every parameter entry is compared with
(L(θ + h) − L(θ − h)) / 2h computed in float64 on the same batch (same
dropout masks, same batch statistics). Activations, losses, norms (batch in
training and evaluation mode, layer), dropout, residual connections and the
L1/L2 terms are each switched on in turn.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import activations
from engine.model import LayerSpec, NetSpec, Network
from engine.stepper import RunConfig, Stepper

Array = np.ndarray

H = 1e-6
RTOL = 1e-6
ATOL = 1e-9


def total_loss(net: Network, x: Array, t: Array, train: bool, masks: list[Array | None],
               l1: float = 0.0, l2: float = 0.0) -> float:
    """Data loss + λ₁Σ|W| + (λ₂/2)ΣW², written out independently of the stepper."""
    caches = net.forward(x, train=train, masks=masks)
    y = caches[-1].a
    z = caches[-1].z
    B = len(x)
    if net.spec.loss == "mse":
        data = 0.5 * ((y - t) ** 2).sum() / B
    elif net.spec.loss == "bce":
        data = (np.logaddexp(0, z) - t * z).sum() / B
    else:
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        data = (lse - (t * z).sum(axis=1)).sum() / B
    reg = 0.0
    for l in range(1, net.depth + 1):
        W = net.params[f"L{l}.W"]
        reg += l1 * np.abs(W).sum() + 0.5 * l2 * (W * W).sum()
    return float(data + reg)


def analytic(net: Network, x: Array, t: Array, train: bool, masks: list[Array | None],
             l1: float = 0.0, l2: float = 0.0) -> dict[str, Array]:
    """The engine's gradients through the stepper's own backward pieces."""
    from engine import losses

    caches = net.forward(x, train=train, masks=masks)
    out = caches[-1]
    ls = net.spec.layers[-1]
    dfz = None
    if net.spec.loss == "mse" and ls.activation != "linear":
        dfz = activations.get(ls.activation).df(out.z, out.a, ls.alpha)
    res = losses.compute(net.spec.loss, out.z, out.a, t, dfz, out.sp)
    grads = net.backward(caches, res.delta, train=train)
    for l in range(1, net.depth + 1):
        W = net.params[f"L{l}.W"]
        grads[f"L{l}.W"] = grads[f"L{l}.W"] + l1 * np.sign(W) + l2 * W
    return grads


def check_all(net: Network, x: Array, t: Array, train: bool = True,
              masks: list[Array | None] | None = None, l1: float = 0.0,
              l2: float = 0.0) -> None:
    """Assert analytic ≈ numeric for every entry of every parameter."""
    masks = masks or [None] * net.depth
    buffers = {k: v.copy() for k, v in net.buffers.items()}
    grads = analytic(net, x, t, train, masks, l1, l2)
    assert set(grads) == set(net.params)
    for key, p in net.params.items():
        num = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            w0 = p[idx]
            p[idx] = w0 + H
            up = total_loss(net, x, t, train, masks, l1, l2)
            p[idx] = w0 - H
            down = total_loss(net, x, t, train, masks, l1, l2)
            p[idx] = w0
            num[idx] = (up - down) / (2 * H)
            for k, v in buffers.items():  # batch norm in training updates running stats
                net.buffers[k][...] = v
        np.testing.assert_allclose(grads[key], num, rtol=RTOL, atol=ATOL, err_msg=key)


def make(n_in: int, layers: list[LayerSpec], loss: str, seed: int = 0) -> Network:
    return Network.build(NetSpec(n_in, tuple(layers), loss, "xavier_normal"),
                         np.random.default_rng(seed))


def batch(n_in: int, k: int, loss: str, B: int = 5, seed: int = 1) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.0, (B, n_in))
    if loss == "mse":
        t = rng.normal(0, 1.0, (B, k))
    elif loss == "bce":
        t = (rng.random((B, k)) < 0.5).astype(float)
    else:
        t = np.eye(k)[rng.integers(0, k, B)]
    return x, t


HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "swish", "softplus",
          "linear"]


@pytest.mark.parametrize("act", HIDDEN)
def test_every_hidden_activation(act: str) -> None:
    net = make(3, [LayerSpec(4, act, alpha=0.1), LayerSpec(3, act, alpha=0.1),
                   LayerSpec(2, "linear")], "mse")
    x, t = batch(3, 2, "mse")
    check_all(net, x, t)


@pytest.mark.parametrize("act", HIDDEN)
def test_every_output_activation_under_mse(act: str) -> None:
    net = make(2, [LayerSpec(3, "tanh"), LayerSpec(2, act, alpha=0.2)], "mse")
    x, t = batch(2, 2, "mse")
    check_all(net, x, t)


@pytest.mark.parametrize("loss,k", [("mse", 1), ("bce", 1), ("bce", 3),
                                    ("cross_entropy", 3), ("cross_entropy", 5)])
def test_every_loss(loss: str, k: int) -> None:
    net = make(2, [LayerSpec(4, "tanh"), LayerSpec(k, "linear")], loss)
    x, t = batch(2, k, loss, B=6)
    check_all(net, x, t)


def test_bce_with_soft_targets_and_large_logits() -> None:
    net = make(2, [LayerSpec(3, "tanh"), LayerSpec(1, "linear")], "bce")
    net.params["L2.W"] *= 20.0  # logits of tens: the stable forms must hold
    x, _ = batch(2, 1, "bce")
    t = np.array([[0.2], [0.9], [0.5], [1.0], [0.0]])
    check_all(net, x, t)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_norm_in_training(norm: str) -> None:
    net = make(3, [LayerSpec(4, "tanh", norm=norm), LayerSpec(4, "relu", norm=norm),
                   LayerSpec(2, "linear")], "cross_entropy")
    x, t = batch(3, 2, "cross_entropy", B=6)
    check_all(net, x, t, train=True)


def test_batch_norm_in_evaluation_uses_fixed_running_statistics() -> None:
    net = make(3, [LayerSpec(4, "tanh", norm="batch"), LayerSpec(2, "linear")], "mse")
    net.buffers["L1.running_mean"][...] = [0.1, -0.2, 0.3, 0.0]
    net.buffers["L1.running_var"][...] = [0.5, 2.0, 1.0, 0.7]
    x, t = batch(3, 2, "mse")
    check_all(net, x, t, train=False)


def test_dropout_with_a_fixed_mask() -> None:
    net = make(3, [LayerSpec(5, "tanh", dropout=0.4), LayerSpec(4, "relu", dropout=0.3),
                   LayerSpec(1, "linear")], "bce")
    x, t = batch(3, 1, "bce")
    rng = np.random.default_rng(7)
    masks: list[Array | None] = [(rng.random((5, 5)) < 0.6) / 0.6,
                                 (rng.random((5, 4)) < 0.7) / 0.7, None]
    assert np.any(masks[0] == 0)  # some units really are dropped
    check_all(net, x, t, masks=masks)


def test_residual_connections() -> None:
    net = make(3, [LayerSpec(3, "tanh", residual=True), LayerSpec(3, "swish", residual=True),
                   LayerSpec(2, "linear")], "mse")
    x, t = batch(3, 2, "mse")
    check_all(net, x, t)


def test_everything_together() -> None:
    net = make(4, [LayerSpec(4, "gelu", norm="layer", dropout=0.2, residual=True),
                   LayerSpec(4, "elu", alpha=1.0, norm="batch", residual=True),
                   LayerSpec(3, "linear")], "cross_entropy")
    x, t = batch(4, 3, "cross_entropy", B=6)
    rng = np.random.default_rng(3)
    masks: list[Array | None] = [(rng.random((6, 4)) < 0.8) / 0.8, None, None]
    check_all(net, x, t, masks=masks, l1=0.01, l2=0.05)


@pytest.mark.parametrize("l1,l2", [(0.02, 0.0), (0.0, 0.1), (0.01, 0.03)])
def test_l1_and_l2_terms(l1: float, l2: float) -> None:
    net = make(2, [LayerSpec(3, "tanh"), LayerSpec(1, "linear")], "mse")
    x, t = batch(2, 1, "mse")
    check_all(net, x, t, l1=l1, l2=l2)


def test_the_stepper_backward_record_matches_finite_differences() -> None:
    """The numbers a learner sees in the backward frame are the true gradient
    of the loss the loss frame showed (regularization included)."""
    st = Stepper(RunConfig(dataset="circle", hidden=(4, 3), activation="tanh", l1=0.003,
                           l2=0.02, batch_size=8, seed=5))
    fwd, loss, back, _ = st.step_iteration()
    p = st.last_iteration
    assert p is not None
    params = {k: v.copy() for k, v in p.params.items()}
    net = Network(st.net.spec, params)
    masks: list[Array | None] = [None] * net.depth
    L = total_loss(net, fwd.values["x"], fwd.values["t"], True, masks, 0.003, 0.02)
    assert loss.values["loss.total"] == pytest.approx(L, rel=1e-12)
    for key in params:
        for idx in np.ndindex(params[key].shape):
            w0 = params[key][idx]
            params[key][idx] = w0 + H
            up = total_loss(net, fwd.values["x"], fwd.values["t"], True, masks, 0.003, 0.02)
            params[key][idx] = w0 - H
            down = total_loss(net, fwd.values["x"], fwd.values["t"], True, masks, 0.003, 0.02)
            params[key][idx] = w0
            grad_id = f"{key.split('.')[0]}.d{key.split('.')[1]}"
            assert back.values[grad_id][idx] == pytest.approx((up - down) / (2 * H),
                                                              rel=RTOL, abs=ATOL)
