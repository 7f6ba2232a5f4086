"""A run's settings on the wire, checked against the engine's catalog.

:class:`RunSettings` (what defines a run, sent in ``configure`` and kept in run
files), :class:`Changes` (what ``set`` may change mid-run), and the nested
:class:`OptimizerModel` and :class:`ScheduleModel` (``{name, ...params}``) are
Pydantic models whose choices and ranges are ``engine/catalog.py``'s, looked up
when a message is validated: no list of optimizers, activations or datasets is
written here, and one added to the catalog is accepted with no change here. An
error names the field (``config.hidden.0``, ``config.optimizer.momentum``) and
says, in the catalog's words, what is wrong ("adam takes no momentum; it takes
beta1, beta2, eps, weight_decay", "momentum of sgd = 1.0 is out of range:
0 ≤ momentum < 1"). :mod:`server.protocol` puts them in its messages.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from engine import catalog
from engine.catalog import Param

Finite = Annotated[float, Field(allow_inf_nan=False)]
_S = catalog.setting
_str, _int, _float, _bool = (catalog.str_default, catalog.int_default, catalog.float_default,
                             catalog.bool_default)


def _tuple(name: str) -> tuple[Any, ...]:
    v = _S(name).default
    assert isinstance(v, tuple)
    return v


class WireModel(BaseModel):
    """A client message or a part of one: frozen; unknown fields and non-finite
    numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def _check(p: Param, value: Any, owner: str = "") -> Any:
    """``value`` if the catalog allows it for ``p`` (one of its choices, or within its
    range: :meth:`Param.check`); ``ValueError`` naming ``p``, the value and the choices
    or the range otherwise."""
    if p.type in ("str", "list") and p.choices is not None:
        if isinstance(p.choices, str):
            catalog.entry(p.choices, value)  # "unknown dataset 'mnist'; choose one of […]"
        elif value not in p.choices:
            raise ValueError(f"unknown {p.name} {value!r}; choose one of {list(p.choices)}")
        return value
    try:
        return replace(p, type="int").check(value, owner) if p.type == "list" \
            else p.check(value, owner)
    except OverflowError:  # a whole number too large for a float
        raise ValueError(f"{p.name} is far out of range: {p.range_text()}") from None


def _invalid(loc: str | int, value: Any, e: ValueError) -> InitErrorDetails:
    return InitErrorDetails(type="value_error", loc=(loc,), input=value, ctx={"error": e})


def _raise(title: str, errors: list[InitErrorDetails]) -> None:
    """Raise ``errors`` (each at its own field) as one validation error; pydantic puts
    them under the field being validated, so the learner reads ``config.hidden.0``."""
    if errors:
        raise ValidationError.from_exception_data(title, errors)


class _Settings(WireModel):
    """Fields named after the catalog's run settings (``catalog.SETTINGS``) are checked
    against it: a choice among its names, a number within its range, a list item by
    item (the error names the item). Other fields (``points``, ``type``) and the nested
    optimizer and schedule, which check themselves, are left alone."""

    @field_validator("*", mode="after")
    @classmethod
    def _by_the_catalog(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, BaseModel) or info.field_name is None:
            return value
        try:
            p = catalog.setting(info.field_name)
        except KeyError:
            return value
        if p.type != "list":
            return _check(p, value)
        errors: list[InitErrorDetails] = []
        for i, item in enumerate(value):
            try:
                _check(p, item)
            except ValueError as e:
                errors.append(_invalid(i, item, e))
        _raise(cls.__name__, errors)
        return value


def _params_schema(schema: dict[str, Any], cls: type[_Named]) -> None:
    """JSON-schema properties for the catalog's parameters, for tools (the fuzz test);
    validation is the catalog's own."""
    kinds = {"float": "number", "int": "integer", "bool": "boolean"}
    schema["properties"] = {**schema.get("properties", {}), **{
        p.name: {"type": [kinds[p.type], "null"]} for p in cls.every_param().values()}}


class _Named(WireModel):
    """A choice with parameters, ``{name, ...params}`` on the wire. The parameters are
    the catalog's for that name, each of its type and in its range; null is unset.
    An error names the parameter (``config.optimizer.momentum``) and, from the
    catalog, what is wrong: "adam takes no momentum; it takes beta1, beta2, eps,
    weight_decay", "momentum of sgd = 1.0 is out of range: 0 ≤ momentum < 1"."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_params_schema)
    #: the run setting naming the choice, and the catalog section of its names
    setting: ClassVar[str]
    section: ClassVar[str]
    name: str

    @classmethod
    def every_param(cls) -> dict[str, Param]:
        """Every parameter a choice of this kind may take, by name."""
        raise NotImplementedError

    @classmethod
    def own_param(cls, name: str, key: str) -> Param:
        """Parameter ``key`` of choice ``name``; ValueError if it takes none."""
        return cls.every_param()[key]

    @classmethod
    def complete(cls, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters to keep, once the rules between them hold."""
        return params

    @model_validator(mode="before")
    @classmethod
    def _its_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("name", _str(_S(cls.setting)))
        if not isinstance(name, str) or name not in catalog.names(cls.section):
            return data  # the name's own check says what is wrong with it
        every, params, errors = cls.every_param(), {}, []
        for key, value in data.items():
            if key == "name" or value is None:
                continue
            if key not in every:
                errors.append(InitErrorDetails(type="extra_forbidden", loc=(key,), input=value))
                continue
            try:
                params[key] = _check(cls.own_param(name, key), value, name)
            except ValueError as e:
                errors.append(_invalid(key, value, e))
        _raise(cls.__name__, errors)
        return {"name": name, **cls.complete(name, params)}

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        _check(_S(cls.setting), name)
        return name


class OptimizerModel(_Named):
    """An optimizer and the torch.optim hyper-parameters set: exactly the ones it takes
    (``catalog.OPTIMIZERS``); unset ones take torch's defaults and are not kept."""

    setting, section = "optimizer", "optimizers"
    name: str = _str(_S("optimizer"))

    @classmethod
    def every_param(cls) -> dict[str, Param]:
        out: dict[str, Param] = {}
        for name in catalog.names("optimizers"):
            for p in catalog.optimizer(name).params:
                out.setdefault(p.name, p)
        return out

    @classmethod
    def own_param(cls, name: str, key: str) -> Param:
        return catalog.optimizer(name).param(key)

    @classmethod
    def complete(cls, name: str, params: dict[str, Any]) -> dict[str, Any]:
        catalog.check_optimizer(name, params)  # the rules between them (Nesterov's)
        return params

    def params(self) -> tuple[tuple[str, float | bool], ...]:
        """The set hyper-parameters as (name, value) pairs for the engine."""
        return tuple((self.model_extra or {}).items())


class ScheduleModel(_Named):
    """A learning-rate schedule with every parameter of ``catalog.SCHEDULE_PARAMS``
    (those not given take their defaults; a schedule ignores those it does not use)."""

    setting, section = "schedule", "schedules"
    name: str = _str(_S("schedule"))

    @classmethod
    def every_param(cls) -> dict[str, Param]:
        return {p.name: p for p in catalog.SCHEDULE_PARAMS}

    @classmethod
    def complete(cls, name: str, params: dict[str, Any]) -> dict[str, Any]:
        return catalog.check_schedule(name, params)


def _phase(name: str) -> str:
    if name not in catalog.PHASES:
        raise ValueError(f"unknown phase {name!r}; choose one of {list(catalog.PHASES)}")
    return name


#: one of the phases of an iteration (``catalog.PHASES``)
PhaseName = Annotated[str, AfterValidator(_phase)]


Name = Annotated[str, Field(max_length=64)]


class OwnTable(WireModel):
    """A learner's own table (the ``own`` dataset), as :func:`engine.owndata.parse_csv`
    read it: feature ``columns`` and their rows ``x``, the ``target`` column's name and
    ``y`` (class indices into ``labels``, or values when ``labels`` is null)."""

    columns: tuple[Name, ...] = Field(min_length=1)
    x: tuple[tuple[Finite, ...], ...] = Field(min_length=2)
    target: Name
    y: tuple[Finite, ...]
    labels: tuple[Name, ...] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> OwnTable:
        if len(self.y) != len(self.x) or any(len(r) != len(self.columns) for r in self.x):
            raise ValueError("table: every row needs one value per column and a target")
        if self.labels is not None:
            k = len(self.labels)
            if k < 2 or any(not float(v).is_integer() or not 0 <= v < k for v in self.y):
                raise ValueError(f"table: class targets are indices into its {k} labels")
        return self


class RunSettings(_Settings):
    """Everything that defines a run (mirrors engine.config.RunConfig): the catalog's
    run settings (``catalog.SETTINGS``: defaults, choices and ranges) plus the custom
    ``points`` and the own dataset's ``table``."""

    dataset: str = _str(_S("dataset"))
    n_samples: int = _int(_S("n_samples"))
    noise: Finite = _float(_S("noise"))
    test_fraction: Finite = _float(_S("test_fraction"))
    features: tuple[str, ...] = _tuple("features")
    standardize: bool = _bool(_S("standardize"))
    points: tuple[tuple[Finite, Finite, Literal[0, 1]], ...] = ()
    # the own dataset's table (a learner's CSV; sent by the server, kept in run files)
    table: OwnTable | None = None
    hidden: tuple[int, ...] = _tuple("hidden")
    activation: str = _str(_S("activation"))
    layer_activations: tuple[str, ...] = _tuple("layer_activations")
    # Leaky ReLU slope / ELU α; None: each activation's own default (the catalog's alpha)
    alpha: Finite | None = None
    output_activation: str = _str(_S("output_activation"))
    loss: str = _str(_S("loss"))
    init: str = _str(_S("init"))
    init_scale: Finite = _float(_S("init_scale"))
    norm: str = _str(_S("norm"))
    dropout: Finite = _float(_S("dropout"))
    residual: bool = _bool(_S("residual"))
    optimizer: OptimizerModel = OptimizerModel()
    lr: Finite = _float(_S("lr"))
    schedule: ScheduleModel = ScheduleModel()
    clip_norm: Finite = _float(_S("clip_norm"))
    clip_value: Finite = _float(_S("clip_value"))
    l1: Finite = _float(_S("l1"))
    l2: Finite = _float(_S("l2"))
    # the forgotten zero_grad() (lesson-only in the catalog: the page's form hides it
    # while off; accepted from anywhere, so a link or a run file replays its run)
    accumulate_grads: bool = _bool(_S("accumulate_grads"))
    batch_size: int = _int(_S("batch_size"))
    seed: int = _int(_S("seed"))


class Changes(_Settings):
    """Settings that may change mid-run (``catalog.live_settings()``; unset fields stay
    as they are)."""

    lr: Finite | None = None
    optimizer: OptimizerModel | None = None
    schedule: ScheduleModel | None = None
    clip_norm: Finite | None = None
    clip_value: Finite | None = None
    l1: Finite | None = None
    l2: Finite | None = None
    batch_size: int | None = None
