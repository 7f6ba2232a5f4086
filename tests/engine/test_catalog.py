"""The catalog says what the engine does: every choice in it works, its defaults
are the ones used, its state names are the ones the update records carry, and
its ranges are enforced with a message naming the parameter and its range."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from engine import activations, catalog, losses, optim
from engine.config import RunConfig
from engine.data import DATASETS, FEATURES, make_dataset
from engine.init import INITIALIZERS, init_weights
from engine.model import NORMS
from engine.optim import Optimizer
from engine.schedules import SCHEDULES, Schedule
from engine.stepper import PHASES, Stepper

OPTIMIZERS = catalog.names("optimizers")

#: torch.optim's defaults, transcribed from its documentation (betas split as beta1, beta2)
TORCH_DEFAULTS: dict[str, dict[str, float | bool]] = {
    "sgd": {"momentum": 0, "dampening": 0, "nesterov": False, "weight_decay": 0},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0, "momentum": 0,
                "centered": False},
    "adagrad": {"lr_decay": 0, "weight_decay": 0, "initial_accumulator_value": 0,
                "eps": 1e-10},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
}

#: hyper-parameters that switch every optional state buffer on
ALL_ON: dict[str, dict[str, float | bool]] = {
    "sgd": {"momentum": 0.9},
    "rmsprop": {"momentum": 0.5, "centered": True},
    "adagrad": {},
    "adam": {},
    "adamw": {},
}


def _record_state(name: str, hyper: dict[str, float | bool]) -> set[str]:
    """The state names in the update records of a few iterations."""
    st = Stepper(RunConfig(dataset="xor", hidden=(3,), optimizer=name,
                           optimizer_params=tuple(hyper.items()), batch_size=8))
    found: set[str] = set()
    for _ in range(3):
        upd = st.step_iteration()[-1].values
        found |= {k.split(".", 2)[2] for k in upd
                  if k.count(".") == 2 and k.split(".")[2] not in ("prev", "step")}
    return found


def test_the_engine_takes_its_lists_from_the_catalog() -> None:
    assert optim.OPTIMIZERS == OPTIMIZERS == tuple(optim.DEFAULTS)
    assert catalog.names("schedules") == SCHEDULES
    assert catalog.names("initializers") == INITIALIZERS
    assert catalog.names("losses") == losses.LOSSES
    assert catalog.names("norms") == NORMS
    assert tuple(DATASETS) == catalog.names("datasets")
    assert tuple(FEATURES) == catalog.names("features")
    assert set(activations.ACTIVATIONS) == {*catalog.names("activations"), "silu"}
    assert PHASES == catalog.PHASES


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_has_torchs_defaults_and_uses_them(name: str) -> None:
    entry = catalog.optimizer(name)
    assert entry.defaults() == TORCH_DEFAULTS[name]
    assert dict(Optimizer(name).hyper) == TORCH_DEFAULTS[name]
    # leaving a hyper-parameter out or giving torch's default is the same run
    given = Stepper(RunConfig(optimizer=name, optimizer_params=tuple(entry.defaults().items())))
    left = Stepper(RunConfig(optimizer=name))
    given.train(5)
    left.train(5)
    for k, w in left.net.params.items():
        assert w.tobytes() == given.net.params[k].tobytes()


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("on", [False, True], ids=["defaults", "all-state"])
def test_state_names_are_the_ones_update_records_carry(name: str, on: bool) -> None:
    hyper = ALL_ON[name] if on else {}
    full = catalog.check_optimizer(name, hyper)
    want = set(catalog.optimizer(name).state_names(full))
    assert _record_state(name, hyper) == want
    if on:   # every buffer the catalog names shows up in some record
        assert want == {s.name for s in catalog.optimizer(name).state}


def test_rmsprops_running_average_of_squared_gradients_is_square_avg() -> None:
    names = {s.name: s for s in catalog.optimizer("rmsprop").state}
    assert names["square_avg"].when is None and names["square_avg"].symbol == "v"
    st = Optimizer("rmsprop")
    g = np.array([3.0, -4.0])
    st.step({"p": np.zeros(2)}, {"p": g}, 0.1)
    np.testing.assert_allclose(st.state["p"]["square_avg"], (1 - 0.99) * g * g)


def _inside(p: catalog.Param) -> list[float]:
    """Values the range allows, its ends included where they are."""
    lo = p.min if p.min is not None else -1.0
    hi = p.max if p.max is not None else lo + 10
    vals = [lo + (hi - lo) / 3]
    if p.min is not None and p.min_inclusive:
        vals.append(p.min)
    if p.max is not None and p.max_inclusive:
        vals.append(p.max)
    return vals


def _outside(p: catalog.Param) -> list[float]:
    vals = []
    if p.min is not None:
        vals.append(p.min - 0.5)
        if not p.min_inclusive:
            vals.append(p.min)
    if p.max is not None:
        vals.append(p.max + 0.5)
        if not p.max_inclusive:
            vals.append(p.max)
    return vals


OPT_PARAMS = [(o.name, p) for o in catalog.OPTIMIZERS for p in o.params]


@pytest.mark.parametrize("name,p", OPT_PARAMS, ids=[f"{o}.{p.name}" for o, p in OPT_PARAMS])
def test_optimizer_ranges_are_enforced_naming_the_parameter(name: str,
                                                            p: catalog.Param) -> None:
    if p.type == "bool":
        extra = {"momentum": 0.5} if p.name == "nesterov" else {}
        assert catalog.check_optimizer(name, {p.name: not p.default, **extra})[p.name] is \
            (not p.default)
        with pytest.raises(ValueError, match=f"{p.name} of {name} must be true or false"):
            catalog.check_optimizer(name, {p.name: 1.0})
        return
    for v in _inside(p):
        extra = {"momentum": 0.5} if name == "sgd" and p.name == "dampening" else {}
        assert catalog.check_optimizer(name, {p.name: v, **extra})[p.name] == v
        Optimizer(name, {p.name: v})
    for v in _outside(p):
        with pytest.raises(ValueError, match=rf"^{p.name} of {name} = .* out of range: "
                                             rf".*{p.name}") as err:
            catalog.check_optimizer(name, {p.name: v})
        assert p.range_text() in str(err.value)
        with pytest.raises(ValueError, match=p.name):
            Optimizer(name, {p.name: v})
    for bad in (True, math.nan, math.inf, "0.5"):
        with pytest.raises(ValueError, match=p.name):
            catalog.check_optimizer(name, {p.name: bad})


def test_optimizer_messages_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"momentum of sgd = 1.0 is out of range: "
                                         r"0 ≤ momentum < 1"):
        catalog.check_optimizer("sgd", {"momentum": 1.0})
    with pytest.raises(ValueError, match=r"eps of adam = 0.0 is out of range: 0 < eps ≤ 1"):
        catalog.check_optimizer("adam", {"eps": 0.0})
    with pytest.raises(ValueError, match=r"lr_decay of adagrad = -1.0 .*lr_decay ≥ 0"):
        catalog.check_optimizer("adagrad", {"lr_decay": -1.0})
    with pytest.raises(ValueError, match="adam takes no"):
        catalog.check_optimizer("adam", {"momentum": 0.9})
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        catalog.check_optimizer("lbfgs", {})
    with pytest.raises(ValueError, match="Nesterov"):
        catalog.check_optimizer("sgd", {"nesterov": True})


@pytest.mark.parametrize("name", catalog.names("activations"))
def test_every_activation_runs_with_its_alpha_default(name: str) -> None:
    e = catalog.entry("activations", name)
    act = activations.get(name)
    assert act.formula == e.formula
    assert act.default_alpha == (e.alpha or 0.0)
    assert activations.resolve_alpha(name, None) == (e.alpha or 0.0)
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    a = act.f(z, act.default_alpha)
    d = act.df(z, a, act.default_alpha)
    assert a.shape == d.shape == z.shape and np.isfinite(a).all() and np.isfinite(d).all()
    # f′ is f's slope (away from the kink at 0)
    h = 1e-6
    zz = np.array([[-1.3, 0.7]])
    num = (act.f(zz + h, act.default_alpha) - act.f(zz - h, act.default_alpha)) / (2 * h)
    np.testing.assert_allclose(act.df(zz, act.f(zz, act.default_alpha), act.default_alpha),
                               num, rtol=1e-6, atol=1e-9)
    assert (e.alpha is not None) == (name in ("leaky_relu", "elu"))


@pytest.mark.parametrize("name", catalog.names("losses"))
def test_every_loss_trains_with_the_output_it_implies(name: str) -> None:
    e = catalog.entry("losses", name)
    data = "blobs3" if name == "cross_entropy" else ("xor" if name == "bce" else "plane")
    st = Stepper(RunConfig(dataset=data, loss=name, hidden=(3,)))
    assert st.net.spec.output_activation() == (e.output or "linear")
    assert np.isfinite(st.train(3).loss).all()
    assert RunConfig(loss="auto").resolved_loss(catalog.entry("datasets", data).task) == \
        catalog.AUTO_LOSS[catalog.entry("datasets", data).task]


@pytest.mark.parametrize("name", catalog.names("initializers"))
def test_every_initializer_draws_and_reads_init_scale_only_if_it_says_so(name: str) -> None:
    e = catalog.entry("initializers", name)
    a = init_weights(name, 3, 2, np.random.default_rng(0), scale=0.25)
    b = init_weights(name, 3, 2, np.random.default_rng(0), scale=0.75)
    assert a.shape == (3, 2)
    assert (not np.array_equal(a, b)) == ("init_scale" in e.uses) or name == "zeros"


@pytest.mark.parametrize("name", catalog.names("norms"))
def test_every_norm_builds_and_trains(name: str) -> None:
    st = Stepper(RunConfig(norm=name, hidden=(3, 3)))
    assert all(ls.norm == name for ls in st.net.spec.layers[:-1])
    assert np.isfinite(st.train(3).loss).all()


@pytest.mark.parametrize("d", [d for d in catalog.DATASETS if d.name != "own"],
                         ids=lambda d: d.name)  # own: a learner's table (test_owndata.py)
def test_every_dataset_has_its_task_classes_and_default_features(d: Any) -> None:
    points = [(0.0, 1.0, 0), (1.0, 0.0, 1), (2.0, 2.0, 1)] if d.name == "custom" else None
    ds = make_dataset(d.name, np.random.default_rng(0), 40, 0.1, 0.25, d.default_features,
                      points)
    assert ds.task == d.task in catalog.TASKS
    assert ds.n_classes == d.classes
    # a real table's inputs are its own columns, named as scikit-learn names them
    assert ds.features == d.default_features if not d.real else len(ds.features) == d.dims
    assert ds.n_out == (d.classes if d.task == "multiclass" else 1)
    assert ds.p_train.shape[1] == d.dims


@pytest.mark.parametrize("f", catalog.FEATURES, ids=lambda f: f.name)
def test_every_feature_is_a_column_of_the_inputs(f: Any) -> None:
    ds = make_dataset("xor", np.random.default_rng(1), 20, 0.0, 0.0, ("x1", f.name))
    assert ds.features == ("x1", f.name)
    np.testing.assert_array_equal(ds.x_train[:, 1], FEATURES[f.name](ds.p_train))
    # one raw dimension: the input is x₁ alone
    assert make_dataset("sine", np.random.default_rng(1), 20, 0.0, 0.0,
                        (f.name,)).features == ("x1",)


def test_schedules_take_their_defaults_and_ranges_from_the_catalog() -> None:
    s = Schedule()
    for p in catalog.SCHEDULE_PARAMS:
        assert getattr(s, p.name) == p.default
    assert s.name == catalog.setting("schedule").default
    for e in catalog.SCHEDULES:
        sched = Schedule(e.name, warmup=3)
        assert sched.lr(0.1, 0) > 0
        assert set(e.uses) <= {p.name for p in catalog.SCHEDULE_PARAMS}
    with pytest.raises(ValueError, match=r"gamma of step = 1.5 is out of range: 0 < gamma ≤ 1"):
        Schedule("step", gamma=1.5)
    with pytest.raises(ValueError, match=r"step_size of step = 0 .* 1 ≤ step_size"):
        Schedule("step", step_size=0)
    with pytest.raises(ValueError, match="t_max of cosine must be a whole number"):
        catalog.check_schedule("cosine", {"t_max": 2.5})
    with pytest.raises(ValueError, match="a schedule takes no"):
        catalog.check_schedule("cosine", {"T_max": 5})


def test_run_config_defaults_are_the_catalogs() -> None:
    cfg = RunConfig()
    for p in catalog.SETTINGS:
        if p.name in ("optimizer", "schedule"):
            got = getattr(cfg, p.name) if p.name == "optimizer" else cfg.schedule.name
        else:
            got = getattr(cfg, p.name)
        assert got == p.default, p.name
        if p.choices is not None and p.type == "str":
            choices = p.choices if isinstance(p.choices, tuple) else catalog.names(p.choices)
            assert p.default in choices


def test_live_settings_are_the_ones_a_run_may_change() -> None:
    st = Stepper(RunConfig())
    values = {"lr": 0.1, "clip_norm": 1.0, "clip_value": 0.5, "l1": 0.01, "l2": 0.01,
              "batch_size": 4, "optimizer": "adam", "schedule": Schedule("step")}
    assert set(values) == catalog.live_settings()
    for k, v in values.items():
        st.set_hyper(**{k: v})
    with pytest.raises(ValueError, match="mid-run"):
        st.set_hyper(hidden=(3,))


def test_as_json_is_plain_json_with_every_section() -> None:
    data = catalog.as_json()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    for section in ("optimizers", "activations", "losses", "initializers", "schedules",
                    "datasets", "features", "norms"):
        got = [e["name"] for e in data[section]]
        assert got == list(catalog.names(section)) and len(set(got)) == len(got)
    assert data["phases"] == list(PHASES)
    sgd = data["optimizers"][0]
    assert sgd["name"] == "sgd" and sgd["torch"] == "SGD"
    assert sgd["params"][0] == {"name": "momentum", "type": "float", "default": 0.0,
                                "min": 0, "min_inclusive": True, "max": 1,
                                "max_inclusive": False, "step": 0.05}
    assert sgd["state"] == [{"name": "momentum_buffer", "symbol": "b",
                             "meaning": "velocity: running sum of gradients",
                             "when": "momentum"}]
    adagrad = {p["name"]: p for p in data["optimizers"][2]["params"]}
    assert "max" not in adagrad["lr_decay"]   # unbounded: no infinity on the wire
    settings = {p["name"]: p for p in data["settings"]}
    assert settings["lr"]["presets"][0] == 0.0001 and settings["lr"]["live"] is True
    assert settings["alpha"]["nullable"] is True and settings["alpha"]["default"] is None
    assert settings["loss"]["choices"] == ["auto", "mse", "bce", "cross_entropy"]
    assert settings["dataset"]["choices"] == "datasets"
    assert {d["name"]: d["features"] for d in data["datasets"]}["sine"] == ["x1"]
    elu = next(a for a in data["activations"] if a["name"] == "elu")
    assert elu["alpha"] == 1.0
