"""Every choice the page may offer, declared once, as data.

Optimizers (each hyper-parameter with its torch default, type and range, and
the state buffers it keeps, named as they appear in update records),
activations, losses, initializers, schedules (with their parameters),
datasets, input features, norms and the run's other settings with their
ranges. The engine's modules take their names, defaults and ranges from here
(:mod:`engine.optim`, :mod:`engine.activations`, :mod:`engine.losses`,
:mod:`engine.init`, :mod:`engine.schedules`, :mod:`engine.data`,
:mod:`engine.model`, :mod:`engine.config`) and only bind code to each name;
``tests/engine/test_catalog.py`` checks that every entry is implemented and
that what the code does (defaults used, state kept) is what is declared.
The server validates settings against it and sends :func:`as_json` to the
page, which builds its controls, address-bar state, timeline and inspector
from it.

Ranges are the ones the wire protocol enforces; a :class:`Param` says whether
each end is included (``0 ≤ momentum < 1``). ``step`` is the page's increment
for a number field (None: any).

Nothing here imports another engine module: every module may import this one.
It runs to about 580 lines because it is the one list: every choice with its
formula, default and range is spelled out here, and the few types and checks
that give the entries a meaning sit beside them so that one file answers
"what may the page offer, and what does each choice take".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

#: the phases of one iteration, in order (the stepper's and the page's)
PHASES = ("forward", "loss", "backward", "update")

#: what a dataset asks of the network: one 0/1 output, one-hot classes, or values
TASKS = ("binary", "multiclass", "regression")

Value = float | int | bool | str | tuple[Any, ...] | None


@dataclass(frozen=True)
class Param:
    """One setting or hyper-parameter: its type, default and allowed range.

    ``type`` is ``float``, ``int``, ``bool``, ``str`` (one of ``choices``: a
    catalog section's name such as ``"activations"``, or the values
    themselves) or ``list`` (a tuple of ``choices``' names; without choices,
    of whole numbers each within ``min``/``max``, as ``hidden``'s widths).
    ``min``/``max`` (None: unbounded) with ``min_inclusive``/``max_inclusive``;
    ``nullable``: None is allowed (it then means "each one's own default").
    ``when``: the name of the parameter that must be non-zero (or true) for
    this one to matter. ``torch``: torch's own name where it differs.
    ``live``: a run's setting that may change mid-run (``Stepper.set_hyper``).
    ``lesson_only``: a run setting that exists to show a mistake (a lesson turns it on
    in its preset); the page's settings form leaves it out unless the run has it on,
    and then marks it. The server accepts it from anywhere (a link or a run file must
    replay the run it names).
    """

    name: str
    type: str
    default: Value
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    step: float | None = None
    when: str | None = None
    torch: str | None = None
    choices: str | tuple[str, ...] | None = None
    nullable: bool = False
    live: bool = False
    presets: tuple[float, ...] = ()
    lesson_only: bool = False

    def range_text(self) -> str:
        """The range as a learner reads it: ``0 ≤ momentum < 1``, ``eps > 0``."""
        lo = "" if self.min is None else f"{_num(self.min)} {'≤' if self.min_inclusive else '<'} "
        hi = "" if self.max is None else f" {'≤' if self.max_inclusive else '<'} {_num(self.max)}"
        if self.min is not None and self.max is None:
            return f"{self.name} {'≥' if self.min_inclusive else '>'} {_num(self.min)}"
        return f"{lo}{self.name}{hi}"

    def check(self, value: Any, owner: str = "") -> float | int | bool:
        """``value`` as this parameter's type if it is allowed, else ``ValueError``
        naming ``owner`` (an optimizer, a schedule), the parameter and its range.
        Numbers only (``float``, ``int``, ``bool``); bools are not numbers here."""
        who = f"{self.name} of {owner}" if owner else self.name
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{who} must be true or false, not {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{who} must be a number, not {value!r}")
        if self.type == "int":
            if not float(value).is_integer():
                raise ValueError(f"{who} must be a whole number, not {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{who} must be a finite number, not {value!r}")
        lo_bad = self.min is not None and (
            value < self.min or (value == self.min and not self.min_inclusive))
        hi_bad = self.max is not None and (
            value > self.max or (value == self.max and not self.max_inclusive))
        if lo_bad or hi_bad:
            raise ValueError(f"{who} = {value!r} is out of range: {self.range_text()}")
        return value



def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)


@dataclass(frozen=True)
class StateBuffer:
    """One optimizer state array per parameter, shown in the update record as
    ``L1.W.<name>``: ``symbol`` as the update rule writes it, what it holds,
    and ``when`` (a hyper-parameter that must be non-zero or true) it exists."""

    name: str
    symbol: str
    meaning: str
    when: str | None = None


@dataclass(frozen=True)
class OptimizerEntry:
    """An optimizer: ``torch`` its torch.optim class, ``params`` its
    hyper-parameters in torch's order (the learning rate is the run's), ``state``
    its buffers, ``rule`` the update as the engine writes it (g is the gradient
    after weight decay, t the 1-based step)."""

    name: str
    torch: str
    params: tuple[Param, ...]
    state: tuple[StateBuffer, ...]
    rule: str

    def param(self, name: str) -> Param:
        """The hyper-parameter ``name``; ``ValueError`` naming the ones it takes."""
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"{self.name} takes no {name}; it takes "
                         f"{', '.join(p.name for p in self.params)}")

    def defaults(self) -> dict[str, float | bool]:
        """torch's defaults, by name."""
        return {p.name: _number(p.default) for p in self.params}

    def state_names(self, hyper: Mapping[str, float | bool]) -> tuple[str, ...]:
        """The buffers kept under the full hyper-parameters ``hyper``, in order."""
        return tuple(s.name for s in self.state if s.when is None or hyper[s.when])


@dataclass(frozen=True)
class Entry:
    """A named choice with its formula (activations, losses, initializers,
    schedules, norms). ``alpha``: the activation's default α if it takes one
    (Leaky ReLU slope, ELU scale; torch's defaults), else None. ``output``: the
    output activation a loss implies (None: the chosen one). ``uses``: the
    settings or parameters it reads (an initializer's ``init_scale``, a
    schedule's parameters). ``torch``: the torch counterpart."""

    name: str
    formula: str
    alpha: float | None = None
    output: str | None = None
    uses: tuple[str, ...] = ()
    torch: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset: its ``task`` (one of :data:`TASKS`), ``classes`` (1 for
    regression), ``dims`` of a raw point: 2, or 1, where the input is x₁ alone
    whatever features are asked for. ``real``: a real, tabular dataset shipped
    inside scikit-learn (:mod:`engine.realdata`): its ``dims`` columns are the
    network's inputs as they are (the engineered features do not apply; the
    ``standardize`` setting does), every row is used and ``noise`` is ignored.
    ``image``: (rows, columns) when the inputs are the pixels of a picture, row by row
    (the page draws the input layer, and each first-layer unit's weights, as one).
    ``hidden``: the hidden layers that suit its many inputs (digits' 64: one layer of 32
    reaches about 93 % on the test split after 666 SGD iterations where the default
    4 + 4 reaches 74 %); the page applies them when the dataset is picked from the
    menu over the default network, and only suggests them over a network someone
    chose (a link's, a lesson's, the learner's)."""

    name: str
    task: str
    classes: int
    dims: int
    real: bool = False
    image: tuple[int, int] | None = None
    hidden: tuple[int, ...] = ()

    @property
    def default_features(self) -> tuple[str, ...]:
        """The inputs it starts with: x₁, x₂ (x₁ alone for one dimension)."""
        return ("x1", "x2")[:self.dims]

    def json_extra(self) -> dict[str, Any]:
        """What :func:`as_json` adds to the fields: the default features."""
        return {"features": list(self.default_features)}


@dataclass(frozen=True)
class FeatureEntry:
    """An input feature of a raw point ``(x₁, x₂)`` and how it is written."""

    name: str
    text: str


def _p(name: str, default: float | None, lo: float | None, hi: float | None, lo_in: bool = True,
       hi_in: bool = True, step: float | None = None, **kw: Any) -> Param:
    """A float parameter."""
    return Param(name, "float", default, lo, hi, lo_in, hi_in, step, **kw)


def _flag(name: str, default: bool = False, **kw: Any) -> Param:
    return Param(name, "bool", default, **kw)


_WEIGHT_DECAY = _p("weight_decay", 0.0, 0, 1, step=0.001)
_EPS = _p("eps", 1e-8, 0, 1, lo_in=False)
_BETAS = (_p("beta1", 0.9, 0, 1, hi_in=False, step=0.01, torch="betas[0]"),
          _p("beta2", 0.999, 0, 1, hi_in=False, step=0.001, torch="betas[1]"))
_ADAM_STATE = (StateBuffer("exp_avg", "m", "running mean of the gradient"),
               StateBuffer("exp_avg_sq", "v", "running mean of the squared gradient"))
_ADAM_RULE = ("m = β₁ m + (1 − β₁) g; v = β₂ v + (1 − β₂) g²; "
              "p ← p − (η/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε)")

OPTIMIZERS: tuple[OptimizerEntry, ...] = (
    OptimizerEntry(
        "sgd", "SGD",
        (_p("momentum", 0.0, 0, 1, hi_in=False, step=0.05),
         _p("dampening", 0.0, 0, 1, step=0.05, when="momentum"),
         _flag("nesterov", when="momentum"),
         _WEIGHT_DECAY),
        (StateBuffer("momentum_buffer", "b", "velocity: running sum of gradients",
                     when="momentum"),),
        "b = μ b + (1 − τ) g (b = g at first); g ← g + μ b (Nesterov) or b; p ← p − η g"),
    OptimizerEntry(
        "rmsprop", "RMSprop",
        (_p("alpha", 0.99, 0, 1, lo_in=False, hi_in=False, step=0.01),
         _EPS, _WEIGHT_DECAY,
         _p("momentum", 0.0, 0, 1, hi_in=False, step=0.05),
         _flag("centered")),
        (StateBuffer("square_avg", "v", "running mean of the squared gradient"),
         StateBuffer("grad_avg", "ḡ", "running mean of the gradient", when="centered"),
         StateBuffer("momentum_buffer", "b", "velocity of the scaled step", when="momentum")),
        "v = α v + (1 − α) g²; [ḡ = α ḡ + (1 − α) g; v̂ = v − ḡ²]; d = √v̂ + ε; "
        "with momentum b = μ b + g/d, p ← p − η b; else p ← p − η g/d"),
    OptimizerEntry(
        "adagrad", "Adagrad",
        (_p("lr_decay", 0.0, 0, None),
         _WEIGHT_DECAY,
         _p("initial_accumulator_value", 0.0, 0, None),
         _p("eps", 1e-10, 0, 1, lo_in=False)),
        (StateBuffer("sum", "s", "sum of squared gradients"),),
        "s = s + g²; p ← p − η/(1 + (t − 1)·decay) · g/(√s + ε)"),
    OptimizerEntry("adam", "Adam", (*_BETAS, _EPS, _WEIGHT_DECAY), _ADAM_STATE, _ADAM_RULE),
    OptimizerEntry("adamw", "AdamW", (*_BETAS, _EPS, _p("weight_decay", 0.01, 0, 1, step=0.001)),
                   _ADAM_STATE, "p ← p (1 − η λ), then Adam with g the plain gradient: "
                   + _ADAM_RULE),
)

ACTIVATIONS: tuple[Entry, ...] = (
    Entry("sigmoid", "σ(z) = 1/(1+e^(−z))", torch="Sigmoid"),
    Entry("tanh", "tanh(z)", torch="Tanh"),
    Entry("relu", "max(0, z)", torch="ReLU"),
    Entry("leaky_relu", "z if z>0 else αz", alpha=0.01, torch="LeakyReLU"),
    Entry("elu", "z if z>0 else α(e^z − 1)", alpha=1.0, torch="ELU"),
    Entry("gelu", "½z(1 + tanh(√(2/π)(z + 0.044715z³)))", torch='GELU(approximate="tanh")'),
    Entry("swish", "z·σ(z)", torch="SiLU"),
    Entry("softplus", "log(1 + e^z)", torch="Softplus"),
    Entry("linear", "z", torch="Identity"),
)

LOSSES: tuple[Entry, ...] = (
    Entry("mse", "ℓ = ½ Σ_k (y_k − t_k)²", torch="MSELoss × K/2"),
    Entry("bce", "ℓ = Σ_k softplus(z_k) − t_k z_k", output="sigmoid",
          torch="BCEWithLogitsLoss"),
    Entry("cross_entropy", "ℓ = logsumexp(z) − Σ_k t_k z_k", output="softmax",
          torch="CrossEntropyLoss"),
)
#: the loss a task gets when the setting is ``auto``
AUTO_LOSS = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}

INITIALIZERS: tuple[Entry, ...] = (
    Entry("zeros", "W = 0", torch="zeros_"),
    Entry("constant", "W = s", uses=("init_scale",), torch="constant_"),
    Entry("uniform", "U(−s, s)", uses=("init_scale",), torch="uniform_"),
    Entry("normal", "N(0, s²)", uses=("init_scale",), torch="normal_"),
    Entry("xavier_uniform", "U(±√(6/(fan_in+fan_out)))", torch="xavier_uniform_"),
    Entry("xavier_normal", "N(0, 2/(fan_in+fan_out))", torch="xavier_normal_"),
    Entry("he_uniform", "U(±√(6/fan_in))", torch="kaiming_uniform_"),
    Entry("he_normal", "N(0, 2/fan_in)", torch="kaiming_normal_"),
    Entry("lecun_uniform", "U(±√(3/fan_in))"),
    Entry("lecun_normal", "N(0, 1/fan_in)"),
)

#: every schedule's parameters (ranges as the wire protocol's); the warm-up's
#: apply to all of them (``warmup_start`` once ``warmup`` > 0)
SCHEDULE_PARAMS: tuple[Param, ...] = (
    Param("step_size", "int", 100, 1, 1_000_000),
    _p("gamma", 0.5, 0, 1, lo_in=False, step=0.01),
    Param("t_max", "int", 1000, 1, 10_000_000, torch="T_max"),
    _p("eta_min", 0.0, 0, None),
    Param("warmup", "int", 0, 0, 1_000_000, torch="LinearLR total_iters"),
    _p("warmup_start", 0.1, 0, 1, step=0.05, when="warmup", torch="LinearLR start_factor"),
)
_WARMUP = ("warmup", "warmup_start")

SCHEDULES: tuple[Entry, ...] = (
    Entry("constant", "η₀", uses=_WARMUP),
    Entry("step", "η₀ · γ^⌊t / step_size⌋", uses=("step_size", "gamma", *_WARMUP),
          torch="StepLR"),
    Entry("exponential", "η₀ · γᵗ", uses=("gamma", *_WARMUP), torch="ExponentialLR"),
    Entry("cosine", "η_min + (η₀ − η_min)(1 + cos(π t/T))/2, η_min after T",
          uses=("t_max", "eta_min", *_WARMUP), torch="CosineAnnealingLR"),
)

DATASETS: tuple[DatasetEntry, ...] = (
    DatasetEntry("xor", "binary", 2, 2),
    DatasetEntry("circle", "binary", 2, 2),
    DatasetEntry("gauss", "binary", 2, 2),
    DatasetEntry("spiral", "binary", 2, 2),
    DatasetEntry("moons", "binary", 2, 2),
    DatasetEntry("blobs3", "multiclass", 3, 2),
    DatasetEntry("blobs4", "multiclass", 4, 2),
    DatasetEntry("blobs5", "multiclass", 5, 2),
    DatasetEntry("spiral3", "multiclass", 3, 2),
    DatasetEntry("spiral4", "multiclass", 4, 2),
    DatasetEntry("spiral5", "multiclass", 5, 2),
    DatasetEntry("sine", "regression", 1, 1),
    DatasetEntry("plane", "regression", 1, 2),
    DatasetEntry("single", "regression", 1, 1),
    DatasetEntry("custom", "binary", 2, 2),
    # a learner's own CSV (engine.owndata): its task, classes and columns are the table's
    DatasetEntry("own", "binary", 2, 2, real=True),
    # real data (scikit-learn's bundled copies): 150, 178, 569, 442 and 1797 rows
    DatasetEntry("iris", "multiclass", 3, 4, real=True),
    DatasetEntry("wine", "multiclass", 3, 13, real=True),
    DatasetEntry("breast_cancer", "binary", 2, 30, real=True),
    DatasetEntry("diabetes", "regression", 1, 10, real=True),
    DatasetEntry("digits", "multiclass", 10, 64, real=True, image=(8, 8), hidden=(32,)),
)

FEATURES: tuple[FeatureEntry, ...] = (
    FeatureEntry("x1", "x₁"),
    FeatureEntry("x2", "x₂"),
    FeatureEntry("x1^2", "x₁²"),
    FeatureEntry("x2^2", "x₂²"),
    FeatureEntry("x1x2", "x₁x₂"),
    FeatureEntry("sin_x1", "sin x₁"),
    FeatureEntry("sin_x2", "sin x₂"),
)

NORMS: tuple[Entry, ...] = (
    Entry("none", "zn = z"),
    Entry("batch", "zn = γ (z − μ_batch)/√(σ²_batch + ε) + β", torch="BatchNorm1d"),
    Entry("layer", "zn = γ (z − μ_layer)/√(σ²_layer + ε) + β", torch="LayerNorm"),
)

#: a run's settings (``engine.config.RunConfig``, the wire's ``RunSettings``):
#: defaults and the ranges the wire protocol enforces; ``optimizer`` and
#: ``schedule`` take their parameters from the sections above
SETTINGS: tuple[Param, ...] = (
    Param("dataset", "str", "xor", choices="datasets"),
    Param("n_samples", "int", 200, 4, None),
    _p("noise", 0.0, 0, 5, step=0.05),
    _p("test_fraction", 0.5, 0, 1, hi_in=False, step=0.05),
    Param("features", "list", ("x1", "x2"), choices="features"),
    # real data: each column to mean 0, sd 1 over the training split (and a regression
    # target too); the toy datasets are used as drawn
    _flag("standardize", True),
    Param("hidden", "list", (4, 4), 1, None),
    Param("activation", "str", "tanh", choices="activations"),
    Param("layer_activations", "list", (), choices="activations"),
    _p("alpha", None, 0, 10, step=0.01, nullable=True),
    Param("output_activation", "str", "linear", choices="activations"),
    Param("loss", "str", "auto", choices=("auto", *(e.name for e in LOSSES))),
    Param("init", "str", "xavier_uniform", choices="initializers"),
    _p("init_scale", 0.5, 0, 100, step=0.1),
    Param("norm", "str", "none", choices="norms"),
    _p("dropout", 0.0, 0, 1, hi_in=False, step=0.05),
    _flag("residual"),
    Param("optimizer", "str", "sgd", choices="optimizers", live=True),
    _p("lr", 0.03, 0, 100, live=True,
       presets=(0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)),
    Param("schedule", "str", "constant", choices="schedules", live=True),
    _p("clip_norm", 0.0, 0, None, step=0.1, live=True),
    _p("clip_value", 0.0, 0, None, step=0.1, live=True),
    _p("l1", 0.0, 0, 10, step=0.0001, live=True),
    _p("l2", 0.0, 0, 10, step=0.0001, live=True),
    # the forgotten optimizer.zero_grad() (lesson zero-grad): the optimizer gets the
    # sum of every gradient since the run started (ACCUMULATED, engine.optim.received)
    _flag("accumulate_grads", lesson_only=True),
    Param("batch_size", "int", 10, 0, None, live=True),
    Param("seed", "int", 1, 0, 2**32 - 1),
)

#: what ``accumulate_grads`` adds to the update record, per parameter (``L1.W.grad_sum``)
#: and per layer (``L1.grad_sum_norm``): ``p.grad`` as PyTorch holds it when
#: ``optimizer.zero_grad()`` is never called
ACCUMULATED = StateBuffer("grad_sum", "Σg",
                          "p.grad never reset: each iteration's gradient added to what "
                          "it held", when="accumulate_grads")

_SECTIONS: dict[str, tuple[Any, ...]] = {
    "optimizers": OPTIMIZERS, "activations": ACTIVATIONS, "losses": LOSSES,
    "initializers": INITIALIZERS, "schedules": SCHEDULES, "datasets": DATASETS,
    "features": FEATURES, "norms": NORMS,
}


_SINGULAR = {"optimizers": "optimizer", "activations": "activation", "losses": "loss",
             "initializers": "initializer", "schedules": "schedule", "datasets": "dataset",
             "features": "feature", "norms": "norm"}


def names(section: str) -> tuple[str, ...]:
    """The names in a section (``"optimizers"``, ``"activations"``, ``"losses"``,
    ``"initializers"``, ``"schedules"``, ``"datasets"``, ``"features"``,
    ``"norms"``), in the order the page offers them."""
    return tuple(e.name for e in _SECTIONS[section])


def entry(section: str, name: str) -> Any:
    """One entry of a section; ``ValueError`` naming the choices."""
    for e in _SECTIONS[section]:
        if e.name == name:
            return e
    raise ValueError(f"unknown {_SINGULAR[section]} {name!r}; "
                     f"choose one of {list(names(section))}")


def optimizer(name: str) -> OptimizerEntry:
    """The optimizer ``name``; ``ValueError`` naming the choices."""
    e: OptimizerEntry = entry("optimizers", name)
    return e


def setting(name: str) -> Param:
    """The run setting ``name`` (see :data:`SETTINGS`)."""
    return _param(SETTINGS, name)


def schedule_param(name: str) -> Param:
    """The schedule parameter ``name`` (see :data:`SCHEDULE_PARAMS`)."""
    return _param(SCHEDULE_PARAMS, name)


def _param(params: tuple[Param, ...], name: str) -> Param:
    for p in params:
        if p.name == name:
            return p
    raise KeyError(name)


def int_default(p: Param) -> int:
    """``p``'s default, a whole number (for typed dataclass defaults)."""
    v = p.default
    assert isinstance(v, int) and not isinstance(v, bool), p
    return v


def float_default(p: Param) -> float:
    """``p``'s default, a number."""
    v = p.default
    assert isinstance(v, int | float) and not isinstance(v, bool), p
    return float(v)


def bool_default(p: Param) -> bool:
    """``p``'s default, true or false."""
    v = p.default
    assert isinstance(v, bool), p
    return v


def str_default(p: Param) -> str:
    """``p``'s default, a name."""
    v = p.default
    assert isinstance(v, str), p
    return v


def _number(v: Value) -> float | bool:
    assert isinstance(v, int | float)
    return v if isinstance(v, bool) else float(v)


def check_optimizer(name: str, params: Mapping[str, Any]) -> dict[str, float | bool]:
    """The optimizer's full hyper-parameters: ``params`` checked against the
    catalog (each known to ``name``, of its type, within its range) over
    torch's defaults. Raises ``ValueError`` naming the optimizer, the
    parameter and its range (``momentum of sgd = 1.0 is out of range:
    0 ≤ momentum < 1``), or the rule broken (Nesterov needs a momentum and no
    dampening, as torch says)."""
    opt = optimizer(name)
    unknown = sorted(set(params) - {p.name for p in opt.params})
    if unknown:
        raise ValueError(f"{name} takes no {unknown}; it takes "
                         f"{sorted(p.name for p in opt.params)}")
    full = opt.defaults()
    for key, value in params.items():
        full[key] = opt.param(key).check(value, name)
    if name == "sgd" and full["nesterov"] and (
            float(full["momentum"]) <= 0 or float(full["dampening"]) != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    return full


def check_schedule(name: str, params: Mapping[str, Any]) -> dict[str, float | int]:
    """A schedule's full parameters: ``params`` checked against
    :data:`SCHEDULE_PARAMS` (type and range) over their defaults. Every
    schedule carries all of them (the ones it does not use are ignored).
    Raises ``ValueError`` naming the schedule, the parameter and its range."""
    entry("schedules", name)
    full: dict[str, float | int] = {}
    for p in SCHEDULE_PARAMS:
        v = p.check(params[p.name], name) if p.name in params else p.default
        assert isinstance(v, int | float) and not isinstance(v, bool)
        full[p.name] = v
    unknown = sorted(set(params) - set(full))
    if unknown:
        raise ValueError(f"a schedule takes no {unknown}; it takes {sorted(full)}")
    return full


def live_settings() -> frozenset[str]:
    """The settings a run may change mid-run (the rest need a new run)."""
    return frozenset(p.name for p in SETTINGS if p.live)


def as_json() -> dict[str, Any]:
    """The whole catalog as JSON-friendly data (lists in the page's order, no
    infinities: an unbounded end is left out), for the server to send.

    Keys: ``phases``, ``tasks``, ``optimizers`` (name, torch, params, state,
    rule), ``activations`` / ``losses`` / ``initializers`` / ``schedules`` /
    ``norms`` (name, formula, and alpha, output, uses, torch where set),
    ``schedule_params``, ``datasets`` (name, task, classes, dims, features; real,
    image, hidden where set),
    ``features`` (name, text), ``auto_loss``, ``settings`` and ``accumulated`` (what
    ``accumulate_grads`` adds to the update record: name, symbol, meaning, when)."""
    out: dict[str, Any] = {"phases": list(PHASES), "tasks": list(TASKS)}
    for section, entries in _SECTIONS.items():
        out[section] = _json(entries)
    out["schedule_params"] = _json(SCHEDULE_PARAMS)
    out["auto_loss"] = dict(AUTO_LOSS)
    out["settings"] = _json(SETTINGS)
    out["accumulated"] = _json(ACCUMULATED)
    return out


def _json(obj: Any) -> Any:
    """A catalog entry (or a tuple of them) as JSON-friendly data: its fields,
    tuples as lists, leaving out those unset (None, false, empty; never
    ``default``) and an end's ``*_inclusive`` flag when that end is open."""
    if isinstance(obj, tuple):
        return [_json(v) for v in obj]
    if not is_dataclass(obj):
        return obj
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.name.endswith("_inclusive"):
            if getattr(obj, f.name[:3]) is None:
                continue
        elif f.name != "default" and (v is None or v is False or v == ()):
            continue
        out[f.name] = _json(v)
    extra = getattr(obj, "json_extra", None)
    return {**out, **extra()} if extra is not None else out
