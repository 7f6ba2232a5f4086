"""Health metrics on the ``metrics`` stream: per-layer gradient norms that show vanishing
gradients, from the engine's numbers."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import RunSettings, client_adapter
from server.settings import Settings


def metrics_after(cfg: RunSettings, iterations: int) -> tuple[list[dict[str, Any]], dict]:
    s = Session(Settings(), cfg)
    ob = Outbox(4096)
    s.attach(ob)
    points: list[dict[str, Any]] = []
    backward: dict = {}
    for _ in range(iterations):
        s.handle(client_adapter.validate_python({"type": "step", "unit": "iteration"}))
        while len(ob):
            m = asyncio.run(ob.get())
            if m["type"] == "metrics":
                points += m["points"]
            elif m["type"] == "frame" and m["phase"] == "backward":
                backward = m["values"]
    return points, backward


def test_each_point_carries_per_layer_gradient_and_update_sizes() -> None:
    points, backward = metrics_after(RunSettings(dataset="xor", hidden=(4, 3)), 3)
    assert [p["iteration"] for p in points] == [1, 2, 3]
    last = points[-1]
    assert len(last["gnorm"]) == len(last["wnorm"]) == len(last["update_ratio"]) == 3
    assert last["gnorm"] == [backward[f"L{l}.gnorm"] for l in (1, 2, 3)]
    assert all(r > 0 for r in last["update_ratio"])
    assert last["dead"] == [None, None, None]  # tanh: no dead units, saturation instead
    assert all(0 <= v <= 1 for v in last["saturated"][:2])


def test_eight_sigmoid_layers_vanish_where_relu_with_he_does_not() -> None:
    deep = dict(dataset="spiral", batch_size=20, seed=3)
    sig, _ = metrics_after(RunSettings(hidden=(8,) * 8, activation="sigmoid",
                                       init="xavier_uniform", **deep), 5)
    relu, _ = metrics_after(RunSettings(hidden=(8,) * 8, activation="relu", init="he_normal",
                                        init_scale=1.0, **deep), 5)
    g_sig = np.array(sig[-1]["gnorm"])
    g_relu = np.array(relu[-1]["gnorm"])
    # sigmoid: the first layer's gradient is orders of magnitude below the last's
    assert g_sig[0] / g_sig[-1] < 1e-3
    assert g_relu[0] / g_relu[-1] > 100 * g_sig[0] / g_sig[-1]
