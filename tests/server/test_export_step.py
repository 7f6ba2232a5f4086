"""Check it yourself: an iteration of a run as a NumPy script that says whether its own
numbers agree with the engine's (issue 16, slice 1).

The scripts are run in-process (``exec`` in a fresh namespace, stdout captured: a
subprocess per configuration would take seconds more); one runs in a real
subprocess, as a learner would run it, and one comes from the download route."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import catalog, realdata
from engine.config import RunConfig
from engine.owndata import parse_csv
from engine.schedules import Schedule
from engine.stepper import Stepper
from server.run.export_script import numpy_script
from server.run.export_torch import TORCH_ACT, TORCH_OPT, torch_script
from server.run.script_formulas import ACTIVATION_CODE
from server.run.stepcapture import Capture, capture_step
from tests.server.conftest import WS, make_app

#: a learner's own CSV: two measurements and three classes
OWN_CSV = "height,weight,animal\n" + "".join(
    f"{1 + i * 0.37:.2f},{(i * 7) % 11 + 0.5},{('cat', 'dog', 'bird')[i % 3]}\n"
    for i in range(30))
#: a few points drawn by hand (the custom dataset)
POINTS = tuple((float(i % 5) - 2, float(i // 5) - 2, i % 2) for i in range(20))

#: (name, settings, iterations trained before the captured one): together every
#: activation, loss, optimizer (and its switches), schedule (with and without warm-up),
#: clipping, L1/L2, norm, dropout, residual and accumulate_grads setting of the catalog,
#: every real dataset and a learner's own CSV (standardized and not), engineered
#: features and hand-drawn points with the full batch
CASES: list[tuple[str, RunConfig, int]] = [
    ("defaults", RunConfig(), 3),
    ("first-iteration-adam", RunConfig(optimizer="adam"), 0),
    ("relu-batchnorm-dropout-residual-adam-l1-l2-clipnorm-cosine-warmup",
     RunConfig(hidden=(4, 4), activation="relu", norm="batch", dropout=0.3, residual=True,
               optimizer="adam", l1=0.01, l2=0.02, clip_norm=0.5,
               schedule=Schedule("cosine", warmup=5, eta_min=0.01, t_max=50)), 7),
    ("leaky-layernorm-rmsprop-centered-momentum-clipvalue-accumulate",
     RunConfig(hidden=(5, 5), activation="leaky_relu", alpha=0.2, norm="layer",
               residual=True, optimizer="rmsprop",
               optimizer_params=(("momentum", 0.5), ("centered", True)),
               clip_value=0.01, accumulate_grads=True), 6),
    ("elu-adagrad-step-warmup",
     RunConfig(hidden=(4,), activation="elu", optimizer="adagrad",
               optimizer_params=(("lr_decay", 0.01), ("initial_accumulator_value", 0.1)),
               schedule=Schedule("step", step_size=2, gamma=0.5, warmup=3)), 5),
    ("gelu-adamw-exponential-mse-sigmoid-out",
     RunConfig(dataset="sine", hidden=(6,), activation="gelu", loss="mse",
               output_activation="sigmoid", optimizer="adamw",
               schedule=Schedule("exponential", gamma=0.9)), 4),
    ("swish-sgd-nesterov-weight-decay",
     RunConfig(hidden=(4, 3), activation="swish", optimizer="sgd",
               optimizer_params=(("momentum", 0.9), ("nesterov", True),
                                 ("weight_decay", 0.01))), 5),
    ("softplus-cross-entropy-rmsprop-dropout",
     RunConfig(dataset="blobs3", hidden=(6,), activation="softplus", dropout=0.5,
               optimizer="rmsprop"), 4),
    ("linear-bce-sgd-momentum-dampening-cosine",
     RunConfig(hidden=(3,), activation="linear", loss="bce", optimizer="sgd",
               optimizer_params=(("momentum", 0.5), ("dampening", 0.3)),
               schedule=Schedule("cosine", t_max=20)), 8),
    ("sigmoid-mse-linear-out-regression",
     RunConfig(dataset="plane", hidden=(4,), activation="sigmoid", loss="mse",
               output_activation="linear"), 2),
    ("tanh-mse-tanh-out-constant-warmup-l2",
     RunConfig(dataset="sine", hidden=(5,), activation="tanh", loss="mse",
               output_activation="tanh", l2=0.05, schedule=Schedule("constant", warmup=4)), 2),
    ("batchnorm-batch-of-one-running-statistics",
     RunConfig(hidden=(4,), activation="relu", norm="batch", batch_size=1), 5),
    ("batchnorm-dropout-accumulate-adam-cosine-warmup-eta0",
     RunConfig(dataset="spiral3", hidden=(6, 6), activation="tanh", norm="batch",
               dropout=0.2, optimizer="adam", accumulate_grads=True, clip_norm=1.0,
               clip_value=0.5, schedule=Schedule("cosine", warmup=3, t_max=10)), 12),
    ("per-layer-activations-layernorm-adagrad-l1",
     RunConfig(hidden=(4, 4), layer_activations=("elu", "gelu"), norm="layer", l1=0.01,
               optimizer="adagrad"), 3),
    ("iris-relu-adam-exponential-warmup",
     RunConfig(dataset="iris", hidden=(5,), activation="relu", optimizer="adam",
               schedule=Schedule("exponential", gamma=0.8, warmup=3, warmup_start=0.3)), 6),
    ("wine-not-standardized-elu-alpha-dropout-residual-layernorm",
     RunConfig(dataset="wine", hidden=(4, 4), activation="elu", alpha=0.5, dropout=0.3,
               residual=True, norm="layer", standardize=False, lr=0.001), 5),
    ("breast-cancer-gelu-batchnorm-rmsprop-weight-decay",
     RunConfig(dataset="breast_cancer", hidden=(4,), activation="gelu", norm="batch",
               optimizer="rmsprop", optimizer_params=(("weight_decay", 0.1), ("alpha", 0.9))),
     2),
    ("diabetes-regression-softplus-adagrad-weight-decay-cosine-past-t-max",
     RunConfig(dataset="diabetes", hidden=(6,), activation="softplus", lr=0.01,
               optimizer="adagrad", optimizer_params=(("weight_decay", 0.1),),
               schedule=Schedule("cosine", t_max=3, eta_min=0.001)), 6),
    ("digits-dropout-adam-weight-decay",
     RunConfig(dataset="digits", hidden=(8,), dropout=0.2, optimizer="adam",
               optimizer_params=(("weight_decay", 0.1), ("beta1", 0.8))), 2),
    ("own-csv-three-classes-sgd-dampening-weight-decay",
     RunConfig(dataset="own", table=parse_csv(OWN_CSV, 1000, 10), hidden=(4,),
               optimizer="sgd", optimizer_params=(("momentum", 0.9), ("dampening", 0.5),
                                                  ("weight_decay", 0.05))), 3),
    ("own-csv-not-standardized-adamw-no-decay",
     RunConfig(dataset="own", table=parse_csv(OWN_CSV, 1000, 10), standardize=False,
               hidden=(3,), optimizer="adamw", optimizer_params=(("weight_decay", 0.0),)), 3),
    ("drawn-points-every-feature-full-batch-step",
     RunConfig(dataset="custom", points=POINTS, batch_size=0, hidden=(3,),
               features=("x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"),
               schedule=Schedule("step", step_size=2, gamma=0.3)), 5),
]


def test_every_choice_of_the_catalog_has_its_code_in_the_scripts() -> None:
    """A choice added to engine/catalog.py fails here until the scripts can write it out
    (and CASES must then cover it)."""
    assert set(ACTIVATION_CODE) == set(catalog.names("activations"))
    assert set(catalog.names("activations")) <= set(TORCH_ACT)
    assert set(TORCH_OPT) == set(catalog.names("optimizers"))
    covered = {s: set() for s in ("activations", "losses", "optimizers", "schedules", "norms")}
    for _, c, _ in CASES:
        covered["activations"] |= {*(c.layer_activations or (c.activation,)), c.output_activation}
        covered["losses"].add(c.resolved_loss(Stepper(c).data.task))
        covered["optimizers"].add(c.optimizer)
        covered["schedules"].add(c.schedule.name)
        covered["norms"].add(c.norm)
    for section, names in covered.items():
        assert set(catalog.names(section)) <= names, section
    real = {e.name for e in catalog.DATASETS if e.real}
    used = [c for _, c, _ in CASES if c.dataset in real]
    assert real <= {c.dataset for c in used}   # every real dataset, own CSV included
    assert {c.standardize for c in used} == {True, False}
    assert set(catalog.names("features")) <= {f for _, c, _ in CASES for f in c.features}
    assert {"custom", "own"} <= {c.dataset for _, c, _ in CASES}
    assert any(c.batch_size == 0 for _, c, _ in CASES)   # the full batch
    assert {catalog.entry("datasets", c.dataset).task for _, c, _ in CASES} == set(
        catalog.TASKS)


def captured(config: RunConfig, before: int) -> Capture:
    st = Stepper(config)
    st.train(before)
    return capture_step(st)


def run_script(source: str) -> str:
    """The script's output, run in a fresh namespace of its own."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "step.py", "exec"), {"__name__": "__main__"})
    return out.getvalue()


@pytest.mark.parametrize(("name", "config", "before"), CASES, ids=[c[0] for c in CASES])
def test_the_numpy_script_of_an_iteration_agrees_with_the_engine(
        name: str, config: RunConfig, before: int) -> None:
    cap = captured(config, before)
    source = numpy_script(cap)
    lines = run_script(source).splitlines()
    assert lines[-1] == "agrees", lines[-1]
    assert any(line.startswith("loss = ") for line in lines)
    assert "new L1.W =" in lines and "dL/dL1.W =" in lines
    # only NumPy: no other import, nothing of the engine's
    assert re.findall(r"^\s*(?:import|from) (\S+)", source, re.M) == ["numpy"]


def test_a_tampered_number_makes_the_script_say_it_differs() -> None:
    source = numpy_script(captured(CASES[2][1], 7))
    loss = re.search(r"^    'loss': (\S+),$", source, re.M)
    assert loss is not None
    tampered = source.replace(loss.group(0), f"    'loss': {float(loss.group(1)) * (1 + 1e-7)!r},")
    last = run_script(tampered).splitlines()[-1]
    assert last.startswith("differs: loss (largest difference")
    w = re.search(r"^    'new L2.W': np.array\(\[\n        \[(-?[0-9.e-]+)", source, re.M)
    assert w is not None
    tampered = source.replace(w.group(0), w.group(0)[:-len(w.group(1))] + repr(
        float(w.group(1)) + 1e-6))
    assert run_script(tampered).splitlines()[-1].startswith("differs: new L2.W")


def test_the_script_runs_on_its_own_with_python(tmp_path: Path) -> None:
    path = tmp_path / "step.py"
    path.write_text(numpy_script(captured(CASES[3][1], 6)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "agrees"


def test_a_japanese_learners_scripts_explain_in_japanese_and_still_agree() -> None:
    """``step-<i>-ja.py`` and ``step-<i>-torch-ja.py``: each part's title and explanation
    and the file's docstring in Japanese (the notebook's words), every line within 79
    columns (a wide character two); the code and its numbers as the English file's."""
    from server.run.script_text import columns

    cap = captured(CASES[3][1], 6)
    for make in (numpy_script, torch_script):
        ja, en = make(cap, "ja"), make(cap, "en")
        assert re.search("[ぁ-んァ-ン一-龥]", ja.split("\n")[0]), ja.split("\n")[0]
        titles = re.findall(r"^# ---- (.+?) -+$", ja, re.M)
        assert titles and all(re.search("[ぁ-んァ-ン一-龥]", t) for t in titles), titles
        assert all(columns(line) <= 79 for line in ja.splitlines()
                   if re.search("[ぁ-んァ-ン一-龥]", line)), max(ja.splitlines(), key=columns)
        code = [line for line in ja.splitlines() if not line.startswith("#")
                and not re.search("[ぁ-んァ-ン一-龥、。：（）]", line)]
        assert set(code) <= set(en.splitlines())
        assert not re.search("^(?:# |- |  )?[、。）：]", ja, re.M)  # (no line starts so)
    assert run_script(numpy_script(cap, "ja")).splitlines()[-1] == "agrees"
    # what the PyTorch file does otherwise than the obvious call, listed in Japanese
    from server.run.export_torch import differences

    head = torch_script(cap, "ja").split('"""')[1].replace("\n  ", "")
    notes = differences(cap)
    assert notes and all(d["ja"][:12] in head for d in notes), head


@pytest.mark.parametrize("at", range(60, 80))
def test_japanese_lines_break_between_words_never_inside_a_formula(at: int) -> None:
    """Wherever the line's end falls, a formula (``∂L/∂z``, ``a_prevᵀ``, ``λ₂/2``) stays
    whole, no line starts with a comma, a stop or a closing bracket, and every line
    keeps within 79 columns."""
    from server.run.script_text import columns, wrapped

    formulas = ["∂L/∂z", "a_prevᵀ", "λ₂/2"]
    text = "あ" * (at // 2) + "（式 " + " と ".join(formulas) + "）。続きの文です、" * 3
    out = wrapped(text, "ja", "# ", "# ")
    lines = out.splitlines()
    assert all(columns(line) <= 79 for line in lines), lines
    assert not any(re.match("# [、。）：]", line) for line in lines), lines
    assert all(f in out for f in formulas), lines
    assert "".join(line[2:] for line in lines).replace(" ", "") == text.replace(" ", "")


def test_a_session_downloads_the_iteration_it_shows_and_only_its_own() -> None:
    """The route builds the script of an iteration of the session's run (a change of
    learning rate mid-run included) without moving the session; its numbers are the
    ones the page was sent."""
    config = {"dataset": "xor", "hidden": [4, 3], "activation": "tanh", "batch_size": 8,
              "lr": 0.1, "seed": 11, "optimizer": {"name": "adam"}}
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.configure(config)
        frames = {}
        for i in range(4 * 5):
            if i == 8:
                ws.send({"type": "set", "lr": 0.03})
            f = ws.step_frame()
            frames[(f["iteration"], f["phase"])] = f
            ws.recv_type("state")
        got = client.post("/runs/step-3.py", data={"session": sid})
        torch_file = client.post("/runs/step-3-torch.py", data={"session": sid})
        ja = client.post("/runs/step-3-ja.py", data={"session": sid})
        torch_ja = client.post("/runs/step-3-torch-ja.py", data={"session": sid})
        later = client.post("/runs/step-99.py", data={"session": sid})
        other = client.post("/runs/step-3.py", data={"session": "not-a-session"})
        ws.send({"type": "step", "unit": "phase"})
        assert ws.step_frame()["iteration"] == 5  # the session did not move
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/x-python")
    assert 'filename="backprop-lab-step-4.py"' in got.headers["content-disposition"]
    assert run_script(got.text).splitlines()[-1] == "agrees"
    shown = re.search(r"^    'loss': (\S+),$", got.text, re.M)
    assert shown is not None
    assert float(shown.group(1)) == frames[(3, "loss")]["values"]["loss.data"]
    assert re.search(r"^BASE_LR = 0.03$", got.text, re.M)
    # the PyTorch script of the same iteration (run by `make parity`: tests/parity)
    assert 'filename="backprop-lab-step-4-torch.py"' in torch_file.headers[
        "content-disposition"]
    assert "import torch" in torch_file.text and shown.group(0) in torch_file.text
    # the same two explained in Japanese, for a page in Japanese
    assert 'filename="backprop-lab-step-4-ja.py"' in ja.headers["content-disposition"]
    assert 'filename="backprop-lab-step-4-torch-ja.py"' in torch_ja.headers[
        "content-disposition"]
    assert "反復 4" in ja.text and shown.group(0) in ja.text
    assert "反復 4" in torch_ja.text and "import torch" in torch_ja.text
    assert later.status_code == 422 and "not in the run" in later.text
    assert other.status_code == 404


def test_l1_l2_changed_between_the_loss_and_the_backward_phase_still_agree() -> None:
    """A learner stepping phase by phase changes L2 and L1 after the loss phase: the page's
    loss kept the old penalty, its gradients got the new one; both downloads redo that."""
    config = {"dataset": "xor", "hidden": [4], "activation": "tanh", "batch_size": 8,
              "seed": 3, "l2": 0.01}
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.configure(config)
        ws.step_frame()
        loss = ws.step_frame()
        assert loss["phase"] == "loss"
        ws.send({"type": "set", "l2": 0.5, "l1": 0.02})
        ws.handled()
        ws.step_frame()
        ws.step_frame()
        got = client.post("/runs/step-0.py", data={"session": sid})
        torch_file = client.post("/runs/step-0-torch.py", data={"session": sid})
    assert got.status_code == 200, got.text
    assert "L1_AT_LOSS, L2_AT_LOSS = 0.0, 0.01" in got.text
    assert re.search(r"^L2 = 0.5 ", got.text, re.M)
    shown = re.search(r"^    'regularization': (\S+),$", got.text, re.M)
    assert shown is not None and float(shown.group(1)) == loss["values"]["loss.reg"]
    assert run_script(got.text).splitlines()[-1] == "agrees"
    assert "reg_shown_torch = penalty_torch(L1_AT_LOSS, L2_AT_LOSS)" in torch_file.text


def test_the_pytorch_script_lists_what_differs_on_purpose_for_its_configuration() -> None:
    """Its docstring names each difference the run brings, and only those (the script
    runs under make parity; what it says is checked here)."""
    def head(config: RunConfig, before: int = 2) -> str:
        source = torch_script(captured(config, before))
        return " ".join(source[:source.index('"""', 3)].split())

    plain = head(RunConfig())
    assert "on purpose" not in plain
    many = head(RunConfig(dataset="blobs3", loss="bce", activation="softplus"))
    assert "summed over the outputs of a sample" in many and "`F.softplus` returns z" in many
    mse = head(RunConfig(dataset="sine", loss="mse", activation="gelu", l1=0.01,
                         accumulate_grads=True, schedule=Schedule("cosine", t_max=5)))
    for words in ("`F.mse_loss` would average", "tanh form", "not the optimizer's "
                  "`weight_decay`", "`optimizer.zero_grad()` is forgotten", "once per iteration",
                  "past T_max"):
        assert words in mse, words
    bn = head(RunConfig(norm="batch", dropout=0.2, batch_size=1), 4)
    for words in ("rounding noise", "the page's mask", "running statistics"):
        assert words in bn, words


def learned_drawing_files() -> dict[str, str]:
    """The NumPy and PyTorch files of an iteration a learner ran on a drawing of theirs
    ("learn this as a 3": a batch of one row, through batch norm, with Adam)."""
    X, y, _ = realdata.table("digits")
    three = [float(v) for v in X[int(np.flatnonzero(y == 3)[4])]]
    config = {"dataset": "digits", "hidden": [8], "batch_size": 8, "seed": 1, "norm": "batch",
              "optimizer": {"name": "adam"}}
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.configure(config)
        for _ in range(2):
            ws.send({"type": "step", "unit": "iteration"})
            ws.recv_type("state")
        ws.send({"type": "learn", "label": 3, "pixels": three})
        ws.handled()
        ws.send({"type": "pause"})
        while ws.step_frame()["phase"] != "update":
            pass
        files = {k: client.post(f"/runs/step-2{k}", data={"session": sid})
                 for k in (".py", "-torch.py")}
    assert all(f.status_code == 200 for f in files.values())
    return {k: f.text for k, f in files.items()}


def test_an_iteration_learned_from_a_drawing_downloads_and_agrees() -> None:
    files = learned_drawing_files()
    source = files[".py"]
    t = re.search(r"^t = np.array\(\[\n    (\[.*\]),\n\]\)$", source, re.M)
    assert t is not None and t.group(1) == "[0.0, 0.0, 0.0, 1.0" + ", 0.0" * 6 + "]"
    assert run_script(source).splitlines()[-1] == "agrees"
    assert "a batch of one goes through batch norm with the running statistics" in " ".join(
        files["-torch.py"].split())
