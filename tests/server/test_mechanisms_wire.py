"""The mechanisms the network view draws reach the page: the run says which layers
have a norm, dropout or a residual skip; frames (full and compact) carry the engine's
per-unit marks and optimizer-state norms; the inspector carries the cost of every
gradient. Each number is the engine's own (engine/units.py, engine/gradcost.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.gradcost import gradient_cost
from engine.stepper import Stepper
from server.protocol import RunSettings
from server.run.runconfig import run_config
from tests.server.conftest import WS
from tests.server.test_compact_frames import play_until_whole_iteration

CONFIG: dict[str, Any] = {"dataset": "xor", "hidden": [4, 4], "activation": "relu",
                          "norm": "batch", "dropout": 0.5, "residual": True,
                          "optimizer": {"name": "adam"}, "batch_size": 10, "seed": 5}


def step_iteration(ws: WS) -> dict[str, dict[str, Any]]:
    ws.send({"type": "step", "unit": "iteration"})
    return {f["phase"]: f["values"] for f in (ws.recv_type("frame") for _ in range(4))}


def test_run_frames_and_inspector_carry_the_engines_mechanisms(ws: WS) -> None:
    ws.send({"type": "configure", "config": CONFIG})
    run = ws.recv_type("run")
    net = run["net"]
    # layer 1 is 2 → 4 wide, so only layer 2 can add its input back
    assert net["residual"] == [False, True, False]
    assert net["norm"] == ["batch", "batch", "none"] and net["dropout"] == [0.5, 0.5, 0.0]
    frames = step_iteration(ws)
    st = Stepper(run_config(RunSettings.model_validate(CONFIG)))
    want = {r.phase: r.values for r in st.step_iteration()}
    fwd, upd = frames["forward"], frames["update"]
    for l in (1, 2):
        for key in ("mu", "sigma", "dropped", "dead"):
            np.testing.assert_array_equal(fwd[f"L{l}.{key}"], want["forward"][f"L{l}.{key}"])
        mask = np.array(fwd[f"L{l}.mask"])
        np.testing.assert_array_equal(fwd[f"L{l}.dropped"], (mask == 0).mean(axis=0))
    for key in ("L1.exp_avg_norm", "L1.exp_avg_sq_norm", "L3.exp_avg_sq_norm"):
        assert upd[key] == want["update"][key]
    ws.send({"type": "inspect", "id": "L2.W", "index": [0, 1]})
    cost = ws.recv_type("inspect")["cost"]
    assert cost == gradient_cost(st.net.spec, 10)
    # 2-4-4-1 with γ, β on both hidden layers: P = (8 + 4 + 8) + (16 + 4 + 8) + (4 + 1),
    # F = 10·(2·4 + 4·4 + 4·1)
    assert cost["params"] == 53 and cost["forward_total"] == 280
    assert cost["numeric_total"] == 2 * 53 * 280 and cost["backward_total"] == 560


def test_compact_frames_keep_the_marks_and_state_norms(ws: WS) -> None:
    ws.send({"type": "configure", "config": CONFIG})
    ws.recv_type("run")
    frames = play_until_whole_iteration(ws, speed=30)
    fwd, upd = frames["forward"], frames["update"]
    assert fwd["compact"] and upd["compact"]
    for l in (1, 2):
        for key in ("mu", "sigma", "dropped", "dead"):
            assert len(fwd["values"][f"L{l}.{key}"]) == 4
        assert f"L{l}.mask" not in fwd["values"]
    assert {"L1.exp_avg_norm", "L2.exp_avg_sq_norm"} <= set(upd["values"])
    assert not any(k.endswith(".exp_avg") for k in upd["values"])  # the buffers stay home
