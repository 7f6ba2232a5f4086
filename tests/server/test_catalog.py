"""The server takes every choice from the engine's catalog: it validates settings
against it (names, each optimizer's own hyper-parameters, ranges; the error names
the field and the catalog's range), sends it to the page at ``GET /api/catalog``,
and an optimizer added to the catalog is accepted and offered with no other change."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from engine import catalog
from engine.catalog import OptimizerEntry, Param, StateBuffer
from server.live.connection import describe
from server.protocol import Changes, OptimizerModel, RunSettings, ScheduleModel, client_adapter
from tests.server.conftest import WS, make_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def refusal(model: Any, data: dict[str, Any]) -> tuple[str, str, str | None]:
    """``(code, message, field)`` of the error a learner would get for ``data`` (run
    settings, an optimizer or a schedule) sent in ``configure``; ``field`` within it."""
    config = data if model is RunSettings else \
        {"optimizer" if model is OptimizerModel else "schedule": data}
    with pytest.raises(ValidationError) as e:
        client_adapter.validate_python({"type": "configure", "config": config})
    code, message, field = describe(e.value)
    inner = "config" if model is RunSettings else \
        "config.optimizer" if model is OptimizerModel else "config.schedule"
    assert field is not None and (field == inner or field.startswith(inner + "."))
    return code, message, field.removeprefix(inner).removeprefix(".")


def all_optimizer_params() -> dict[str, Param]:
    return {p.name: p for name in reversed(catalog.names("optimizers"))
            for p in catalog.optimizer(name).params}


# ---- GET /api/catalog ------------------------------------------------------------------


def test_the_page_gets_the_engines_catalog_and_may_keep_it_until_it_changes(
        client: TestClient) -> None:
    r = client.get("/api/catalog")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == json.loads(json.dumps(catalog.as_json()))
    assert r.headers["cache-control"] == "no-cache"  # kept, but asked for again on each load
    again = client.get("/api/catalog", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    stale = client.get("/api/catalog", headers={"If-None-Match": '"an-older-catalog"'})
    assert stale.status_code == 200 and stale.json() == r.json()


def abridged(ex: Any, real: Any, path: str = "") -> list[str]:
    """Where ``ex`` says something ``real`` does not: ``ex`` may leave entries out of a
    list of named entries, nothing else."""
    if isinstance(ex, dict) and isinstance(real, dict):
        return [f"{path}.{k}: not in the catalog" for k in ex if k not in real] + \
            [p for k in ex if k in real for p in abridged(ex[k], real[k], f"{path}.{k}")]
    if isinstance(ex, list) and ex and all(isinstance(e, dict) and "name" in e for e in ex):
        byname = {e["name"]: e for e in real}
        return [p for e in ex for p in (abridged(e, byname[e["name"]], f"{path}.{e['name']}")
                                        if e["name"] in byname else [f"{path}: no {e['name']}"])]
    return [] if ex == real else [f"{path}: {ex!r} in the doc, {real!r} in the catalog"]


def test_protocol_md_documents_the_catalog_as_it_is() -> None:
    section = DOC.split("## The catalog", 1)[1].split("\n## ", 1)[0]
    assert "GET /api/catalog" in section
    example = json.loads(re.findall(r"```json\n(.*?)```", section, flags=re.S)[0])
    real = json.loads(json.dumps(catalog.as_json()))
    assert set(example) == set(real)
    assert abridged(example, real) == []


# ---- the settings are the catalog's ------------------------------------------------------


def test_run_settings_are_the_catalogs_settings_with_its_defaults() -> None:
    assert set(RunSettings.model_fields) == {p.name for p in catalog.SETTINGS} | {"points", "table"}
    dumped = RunSettings().model_dump(mode="json")
    for p in catalog.SETTINGS:
        want = p.default
        got = dumped[p.name]["name"] if isinstance(dumped[p.name], dict) else dumped[p.name]
        assert got == (list(want) if isinstance(want, tuple) else want), p.name
    assert set(Changes.model_fields) == catalog.live_settings()


@pytest.mark.parametrize("setting", [p for p in catalog.SETTINGS if p.choices is not None],
                         ids=lambda p: p.name)
def test_every_choice_of_the_catalog_is_accepted_and_no_other(setting: Param) -> None:
    names = (catalog.names(setting.choices) if isinstance(setting.choices, str)
             else setting.choices)
    for name in names:
        value = [name] if setting.type == "list" else name
        if setting.name in ("optimizer", "schedule"):
            value = {"name": name}
        RunSettings.model_validate({setting.name: value})
    bogus = "no_such_choice"
    if setting.type == "list":
        code, message, field = refusal(RunSettings, {setting.name: [names[0], bogus]})
        assert field == f"{setting.name}.1"
    elif setting.name in ("optimizer", "schedule"):
        code, message, field = refusal(RunSettings, {setting.name: {"name": bogus}})
        assert field == f"{setting.name}.name"
    else:
        code, message, field = refusal(RunSettings, {setting.name: bogus})
        assert field == setting.name
    assert code == "invalid" and repr(bogus) in message and repr(names[-1]) in message


@pytest.mark.parametrize("name", catalog.names("optimizers"))
def test_each_optimizer_takes_exactly_its_own_hyper_parameters(name: str) -> None:
    own = {p.name for p in catalog.optimizer(name).params}
    for pname, p in all_optimizer_params().items():
        data = {"name": name, pname: p.default}
        if pname in own:
            assert OptimizerModel.model_validate(data).params() == ((pname, p.default),)
        else:
            code, message, field = refusal(OptimizerModel, data)
            assert (code, field) == ("invalid", pname)
            assert f"{name} takes no {pname}" in message
    assert refusal(OptimizerModel, {"name": name, "no_such": 1})[0] == "unknown_field"


def test_an_optimizer_given_anothers_hyper_parameter_gets_an_error_naming_it(ws: WS) -> None:
    ws.hello()
    ws.send({"type": "configure", "config": {"optimizer": {"name": "adam", "momentum": 0.9}}})
    err = ws.error()
    assert err["code"] == "invalid" and err["field"] == "config.optimizer.momentum"
    assert "adam takes no momentum" in err["message"]
    ws.send({"type": "set", "optimizer": {"name": "sgd", "nesterov": True}})
    err = ws.error()
    assert err["field"] == "optimizer" and "Nesterov" in err["message"]
    ws.works()


def bounds(p: Param) -> list[tuple[float, bool]]:
    """Values at and past each end of ``p``'s range, and whether each is allowed."""
    out = []
    if p.min is not None:
        out += [(p.min, p.min_inclusive), (p.min - 1, False)]
    if p.max is not None:
        out += [(p.max, p.max_inclusive), (p.max + 1, False)]
    return out


def wrap(kind: str, p: Param, value: float) -> tuple[Any, dict[str, Any], str]:
    """(model, data, field) putting ``value`` into setting or parameter ``p``."""
    if kind == "setting":
        return RunSettings, {p.name: [int(value)] if p.type == "list" else value}, \
            f"{p.name}.0" if p.type == "list" else p.name
    if kind == "schedule":
        return ScheduleModel, {"name": "cosine", p.name: value}, p.name
    owner = next(n for n in catalog.names("optimizers")
                 if p in catalog.optimizer(n).params)
    return OptimizerModel, {"name": owner, p.name: value}, p.name


RANGED = [("setting", p) for p in catalog.SETTINGS if p.type in ("int", "float", "list")
          and p.choices is None] + \
         [("schedule", p) for p in catalog.SCHEDULE_PARAMS] + \
         [("optimizer", p) for p in all_optimizer_params().values() if p.type != "bool"]


@pytest.mark.parametrize(("kind", "p"), RANGED, ids=[f"{k}.{p.name}" for k, p in RANGED])
def test_ranges_are_the_catalogs_and_the_error_says_the_range(kind: str, p: Param) -> None:
    assert bounds(p), f"{p.name} has no range"
    for value, allowed in bounds(p):
        model, data, field = wrap(kind, p, value)
        if allowed:
            model.model_validate(data)
        else:
            code, message, where = refusal(model, data)
            assert (code, where) == ("invalid", field), (p.name, value)
            assert p.range_text() in message, message


def test_unset_hyper_parameters_are_left_out_and_old_files_nulls_still_load() -> None:
    assert RunSettings().model_dump()["optimizer"] == {"name": "sgd"}
    # run files saved before one catalog wrote every hyper-parameter, null when unset
    old = {"name": "adam", **{k: None for k in all_optimizer_params()}, "beta1": 0.8}
    model = OptimizerModel.model_validate(old)
    assert model.model_dump() == {"name": "adam", "beta1": 0.8}
    assert model.params() == (("beta1", 0.8),)
    assert ScheduleModel.model_validate({"name": "step", "gamma": None}).model_dump() == {
        "name": "step", **{p.name: p.default for p in catalog.SCHEDULE_PARAMS}}


# ---- adding an optimizer ---------------------------------------------------------------

LION = OptimizerEntry(
    "lion", "Lion",
    (Param("lion_beta", "float", 0.9, 0, 1, max_inclusive=False, step=0.01),
     Param("weight_decay", "float", 0.0, 0, 1)),
    (StateBuffer("exp_avg", "m", "running mean of the gradient"),),
    "c = β m + (1 − β) g; p ← p − η sign(c); m = β m + (1 − β) g")


@pytest.fixture
def with_lion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog with one more optimizer, as engine/catalog.py would declare it."""
    optimizers = (*catalog.OPTIMIZERS, LION)
    monkeypatch.setattr(catalog, "OPTIMIZERS", optimizers)
    monkeypatch.setitem(catalog._SECTIONS, "optimizers", optimizers)


@pytest.mark.usefixtures("with_lion")
def test_an_optimizer_added_to_the_catalog_is_accepted_and_offered_with_no_other_change(
) -> None:
    cfg = RunSettings.model_validate({"optimizer": {"name": "lion", "lion_beta": 0.5}})
    assert cfg.optimizer.params() == (("lion_beta", 0.5),)
    assert cfg.model_dump(mode="json")["optimizer"] == {"name": "lion", "lion_beta": 0.5}
    msg = client_adapter.validate_python({"type": "set", "optimizer": {"name": "lion"}})
    assert msg.optimizer.name == "lion"
    _, message, field = refusal(RunSettings, {"optimizer": {"name": "lion", "momentum": 0.9}})
    assert field == "optimizer.momentum" and "lion takes no momentum" in message
    _, message, field = refusal(RunSettings, {"optimizer": {"name": "lion", "lion_beta": 1}})
    assert field == "optimizer.lion_beta" and "0 ≤ lion_beta < 1" in message
    schema = client_adapter.json_schema()["$defs"]["OptimizerModel"]["properties"]
    assert "lion_beta" in schema  # what tools (and the fuzz test) see
    with TestClient(make_app()) as client:
        offered = client.get("/api/catalog").json()["optimizers"]
    lion = next(o for o in offered if o["name"] == "lion")
    assert [p["name"] for p in lion["params"]] == ["lion_beta", "weight_decay"]
