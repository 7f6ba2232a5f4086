"""``GET /api/activation``: the page's activation view draws the engine's f and f′
(never its own), with the flat ends of the curve; bad requests get 422 naming what
was wrong, and a browser may keep a curve until it changes."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from engine import activations


def test_a_curve_is_the_engines_f_and_f_prime_with_its_flat_ends(client: TestClient) -> None:
    r = client.get("/api/activation", params={"name": "tanh", "lo": -8, "hi": 8, "n": 161})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    c = r.json()
    assert c == activations.curve("tanh", None, -8.0, 8.0, 161)
    assert len(c["z"]) == len(c["f"]) == len(c["df"]) >= 161
    assert np.array_equal(np.tanh(np.asarray(c["z"])), np.asarray(c["f"]))
    assert [x["kind"] for x in c["regions"]] == ["saturated", "saturated"]
    # ReLU: dead for z ≤ 0, an unbounded end sent as null
    relu = client.get("/api/activation", params={"name": "relu"}).json()
    assert relu["regions"] == [{"kind": "dead", "lo": None, "hi": 0.0}]


def test_alpha_is_the_runs_slope_where_the_activation_takes_one(client: TestClient) -> None:
    leaky = client.get("/api/activation", params={"name": "leaky_relu", "lo": -1, "hi": 1,
                                                  "n": 3}).json()
    assert leaky["alpha"] == 0.01 and leaky["df"] == [0.01, 0.01, 1.0]
    steep = client.get("/api/activation", params={"name": "leaky_relu", "alpha": 0.2,
                                                  "lo": -1, "hi": 1, "n": 3}).json()
    assert steep["alpha"] == 0.2 and steep["f"] == [-0.2, 0.0, 1.0]
    # an activation without α ignores one
    tanh = client.get("/api/activation", params={"name": "tanh", "alpha": 0.2}).json()
    assert tanh["alpha"] == 0.0


def test_bad_requests_say_what_was_wrong(client: TestClient) -> None:
    def refused(**params: object) -> str:
        r = client.get("/api/activation", params=params)
        assert r.status_code == 422, params
        return str(r.json()["detail"])

    assert "choose one of sigmoid, tanh, relu" in refused(name="softmax")
    assert "0 ≤ alpha ≤ 10" in refused(name="elu", alpha=20)
    assert "lo must be below hi" in refused(name="tanh", lo=2, hi=1)
    assert "2001" in refused(name="tanh", n=10**6)
    assert "10000" in refused(name="tanh", lo=-1e9)
    refused(name="tanh", lo="nan")
    refused(name="elu", alpha="nan")


def test_a_browser_keeps_a_curve_until_it_changes(client: TestClient) -> None:
    r = client.get("/api/activation", params={"name": "gelu"})
    assert r.headers["cache-control"] == "no-cache"
    again = client.get("/api/activation", params={"name": "gelu"},
                       headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
