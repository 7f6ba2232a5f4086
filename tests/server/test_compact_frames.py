"""Fast play sends compact frames (batch means, see server/run/compact.py) that agree with
the engine's full records; slow play and stepping still send every value."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from engine.stepper import Stepper
from server.protocol import RunSettings
from server.run.runconfig import run_config
from tests.server.conftest import WS

PHASES = ("forward", "loss", "backward", "update")


def play_until_whole_iteration(ws: WS, speed: float, min_iteration: int = 3) -> dict[str, Any]:
    """Play at ``speed``; return the four frames of one iteration ≥ ``min_iteration``
    (all received), then pause."""
    ws.send({"type": "play", "speed": speed})
    got: dict[int, dict[str, Any]] = {}
    found: dict[str, Any] | None = None
    while found is None:
        f = ws.recv_type("frame", timeout=10)
        got.setdefault(f["iteration"], {})[f["phase"]] = f
        if f["iteration"] >= min_iteration and len(got[f["iteration"]]) == 4:
            found = got[f["iteration"]]
    ws.send({"type": "pause"})
    ws.recv_type("state", where=lambda m: m["playing"] is False)
    return found


def engine_records(config: dict[str, Any], iteration: int) -> dict[str, dict[str, Any]]:
    """The full phase records of ``iteration`` from a fresh in-process stepper."""
    st = Stepper(run_config(RunSettings.model_validate(config)))
    st.train(iteration)
    return {r.phase: r.values for r in st.step_iteration()}


@pytest.mark.parametrize("inspector", [False, True], ids=["plain", "inspector-open"])
def test_fast_play_sends_batch_means_equal_to_the_engines_full_arrays(
    ws: WS, inspector: bool
) -> None:
    """With the inspector open too: it keeps explaining the iteration from the server's
    full records while the page gets compact frames."""
    ws.send({"type": "hello"})
    run = ws.recv_type("run")
    if inspector:
        ws.send({"type": "inspect", "id": "L1.W", "index": [0, 0]})
        ws.recv_type("inspect")
    sizes = run["net"]["sizes"]
    depth = len(sizes) - 1
    frames = play_until_whole_iteration(ws, speed=30)
    it = frames["forward"]["iteration"]
    full = engine_records(run["config"], it)
    batch = len(full["forward"]["batch"])
    assert batch > 1  # so a mean differs from any one sample
    for phase in PHASES:
        f = frames[phase]
        assert f["compact"] is True
        v = f["values"]
        # what the page never reads in fast play is not sent
        assert not {"x", "loss.per_sample", "L1.W.prev", "L1.da"} & set(v)
        assert not any(isinstance(x, list) and len(x) == batch and isinstance(x[0], list)
                       for x in v.values()), f"{phase}: a per-sample (B, n) array was sent"
        for key, value in v.items():
            if key.endswith(".mean"):
                ref = np.asarray(full[phase][key[:-5]]).mean(axis=0)
                np.testing.assert_allclose(value, ref, rtol=1e-12, atol=1e-15,
                                           err_msg=f"{phase} {key}")
            elif key != "batch":
                np.testing.assert_allclose(value, full[phase][key], rtol=1e-12, atol=1e-15,
                                           err_msg=f"{phase} {key}")
    fw, ls, bw, up = (frames[p]["values"] for p in PHASES)
    assert fw["batch"] == full["forward"]["batch"].tolist()
    for l in range(depth + 1):  # every layer's node means, input layer included
        assert len(fw[f"L{l}.a.mean"]) == sizes[l]
    for l in range(1, depth + 1):
        assert len(fw[f"L{l}.z.mean"]) == sizes[l]
        assert len(bw[f"L{l}.delta.mean"]) == sizes[l]
        assert np.shape(bw[f"L{l}.dW"]) == (sizes[l - 1], sizes[l])
        assert np.shape(up[f"L{l}.W"]) == (sizes[l - 1], sizes[l])
        assert f"L{l}.W.step" in up and f"L{l}.b" in up
    assert {"loss.total", "loss.data", "y.mean", "t.mean"} <= set(ls)
    assert "lr" in up
    # and the whole iteration is several times smaller on the wire
    compact_size = sum(len(json.dumps(frames[p]["values"])) for p in PHASES)
    full_size = sum(len(json.dumps({k: np.asarray(x).tolist() for k, x in full[p].items()}))
                    for p in PHASES)
    assert compact_size * 2.5 < full_size
    if inspector:  # and the inspector still explains the iteration shown
        ins = ws.recv_type("inspect", where=lambda m: m.get("id") == "L1.W")
        assert ins["iteration"] >= it


def test_slow_play_and_stepping_send_full_frames(ws: WS) -> None:
    ws.send({"type": "hello"})
    run = ws.recv_type("run")
    frames = play_until_whole_iteration(ws, speed=4, min_iteration=0)
    it = frames["forward"]["iteration"]
    full = engine_records(run["config"], it)
    for phase in PHASES:
        f = frames[phase]
        assert f["compact"] is False
        assert set(f["values"]) == set(full[phase]), phase
    np.testing.assert_allclose(frames["forward"]["values"]["L1.a"], full["forward"]["L1.a"],
                               rtol=1e-12)
    assert "L1.W.prev" in frames["update"]["values"]
    # a step after the pause: its frame is the last before the step's state (a frame of
    # the play may still be on its way before it)
    ws.send({"type": "step", "unit": "phase"})
    before_state: list[dict[str, Any]] = []
    while (m := ws.recv())["type"] != "state":
        if m["type"] == "frame":
            before_state.append(m)
    step = before_state[-1]
    assert step["compact"] is False
    assert set(step["values"]) == set(engine_records(run["config"],
                                                     step["iteration"])[step["phase"]])


def test_frames_are_packed_only_when_every_value_is_numbers() -> None:
    """An iteration's frames go packed only if the page would read the very values the
    JSON holds: numbers (ints among them) yes; a truth value, a null or a word, no (JSON).
    Packed straight from the records, they hold the numbers compact_iteration gives."""
    import numpy as np

    from server.run.compact import compact_iteration, pack_records

    def records(extra: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
        base = {"batch": np.array([3, 1]), "L1.a": np.array([[0.75, -0.5], [0.25, 0.0]]),
                "loss.data": 0.75, "L1.W": np.array([[1.0, 2.0], [3.0, 4.5]]), "lr": 2}
        return [(phase, {**base, **extra}) for phase in ("forward", "loss", "backward", "update")]

    packed = pack_records(7, records({}), np.array([3, 1]))
    assert packed is not None
    item = packed.item
    assert [m["phase"] for m in item] == ["forward", "loss", "backward", "update"]
    v = item[2]["values"]
    assert v["batch"].tolist() == [3, 1] and v["loss.data"] == 0.75 and v["lr"] == 2
    assert v["L1.W"].tolist() == [[1.0, 2.0], [3.0, 4.5]] and list(v["L1.a.mean"]) == [0.5, -0.25]
    assert packed.numbers == sum(c.numbers for c in compact_iteration(records({})))
    for m, c in zip(item, compact_iteration(records({})), strict=True):
        assert list(m["values"]) == list(c)  # (the same ids, in the same order)
    for odd in ({"L1.dead": True}, {"L1.dead": np.True_}, {"L1.saturated": [1.0, None]},
                {"L1.mu": "tanh"}, {"L1.dropped": [True, False]},
                {"L1.a": np.array([0.5, 1.0])}, {"L1.z": np.ones((3, 2))}):  # (not (B, n))
        assert pack_records(7, records(odd), np.array([3, 1])) is None, odd
