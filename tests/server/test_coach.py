"""The coach says what a run's numbers show, on real runs: each rule speaks on a run
that has the problem, naming the numbers its words give (checked against the metrics
points the charts draw), and keeps quiet on a healthy run of the same shape. A note
is said once (not at every point the condition holds), a rewound run says it once
more when it gets there again, a branch keeps its own notes, and a class sees the
teacher's."""

from __future__ import annotations

import math
from typing import Any

import pytest

from server.coach import Compiled, Rule
from server.live.coach import Coach
from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import Checkout, Pause, Play, RunSettings, Seek, Set, Step
from server.run.series import Metrics
from server.settings import Settings
from tests.server.conftest import WS, join, share, teacher_and_student

Msg = dict[str, Any]

# the problem runs, and healthy runs of the same shape
DIVERGING = {"dataset": "circle", "hidden": [8, 8], "activation": "relu", "lr": 10.0}
CALM = {**DIVERGING, "init": "he_normal", "lr": 0.1}
DYING = {"dataset": "xor", "hidden": [8, 8], "activation": "relu", "lr": 2.0}
LIVING = {**DYING, "init": "he_normal", "lr": 0.1}
DEEP_SIGMOID = {"dataset": "circle", "hidden": [8] * 7, "activation": "sigmoid",
                "init": "normal", "init_scale": 1.0, "batch_size": 0, "lr": 0.3}
DEEP_TANH = {**DEEP_SIGMOID, "activation": "tanh", "init": "xavier_uniform"}
CRAWLING = {"dataset": "xor", "hidden": [4, 4], "lr": 0.0001}
WALKING = {**CRAWLING, "lr": 0.1}
# the overfitting lesson's run: 30 noisy training samples, a network far too large
MEMORIZING = {"dataset": "spiral", "n_samples": 60, "noise": 0.5, "hidden": [32, 32],
              "activation": "relu", "init": "he_normal", "batch_size": 0, "lr": 0.03,
              "optimizer": {"name": "adam"}}
LEARNING = {**MEMORIZING, "dataset": "circle", "n_samples": 200, "noise": 0.0}


class Run:
    """A session of its own, its messages kept as they come (the outbox drained after
    each command, so nothing is dropped for a slow reader)."""

    def __init__(self, cfg: dict[str, Any], metrics_hz: float = 10.0) -> None:
        self.s = Session(Settings(metrics_hz=metrics_hz), RunSettings(**cfg))
        self.ob = Outbox(100_000)
        self.s.attach(self.ob)
        self.seen: list[Msg] = []
        self.take()

    def take(self) -> None:
        self.seen += [m for m in self.ob.drain() if isinstance(m, dict)]

    def steps(self, n: int) -> Run:
        """Step ``n`` iterations (a metrics point each)."""
        for _ in range(n):
            self.s.handle(Step(type="step", unit="iteration"))
        self.take()
        return self

    def play(self, until: int, speed: float = 100.0) -> Run:
        """Play fast until ``until`` iterations are done (or the run halts), then pause: a
        metrics point every ``speed / metrics_hz`` iterations (a point's cost is set to a
        quiet machine's, so a busy machine's slower points do not space them further:
        Session._metrics_wanted; and an iteration's, so a busy machine's do not cap a
        tick's iterations: which iteration a tick shows, and so where a point falls, is a
        quiet machine's. Under a full test run a capped tick put a point at 13, past the
        spike the coach must see by 12)."""
        s = self.s
        s.handle(Play(type="play", speed=speed))
        while s.playing and s.stepper.iteration < until:
            s._metrics_cost = 2e-4
            s._iter_cost = 1e-4
            s.tick(1 / s.settings.tick_hz)
            self.take()
        s.handle(Pause(type="pause"))
        self.take()
        return self

    def command(self, msg: Any) -> Run:
        self.s.handle(msg)
        self.take()
        return self

    def coach(self) -> Msg:
        """The latest ``coach`` message (every one must be well formed)."""
        msgs = [m for m in self.seen if m["type"] == "coach"]
        assert msgs, "the coach said nothing"
        return msgs[-1]

    def notes(self, rule: str | None = None) -> list[Msg]:
        """The notes of the latest ``coach`` message (of ``rule``); none if it said nothing."""
        if not any(m["type"] == "coach" for m in self.seen):
            return []
        return [n for n in self.coach()["notes"] if rule is None or n["rule"] == rule]

    def quiet(self, rule: str, points: int) -> None:
        """The run was measured at least ``points`` times and ``rule`` said nothing."""
        assert len(self.points(10**9)) >= points
        assert self.notes(rule) == [], self.notes(rule)

    def note(self, rule: str) -> Msg:
        found = self.notes(rule)
        assert len(found) == 1, (rule, self.notes())
        return found[0]

    def points(self, upto: int) -> list[Msg]:
        """The metrics points the page got, up to iteration ``upto``."""
        return [p for m in self.seen if m["type"] == "metrics" and not m.get("compare")
                for p in m["points"] if p["iteration"] <= upto]


def first_tenfold(points: list[Msg]) -> int:
    """The layer (1-based) whose ‖∂L/∂W‖ first rose above ten times its lowest before
    (ties: the larger rise), 0 if none did: the coach's ``grew_first``, counted here."""
    low: list[float] = []
    for p in points:
        g = p["gnorm"]
        rises = [(g[l] / low[l], l + 1) for l in range(len(low))
                 if math.isfinite(low[l]) and g[l] > 10 * low[l]]
        if rises:
            return max(rises)[1]
        low = [min(lo, x) if x > 0 else lo for lo, x in zip(low or [math.inf] * len(g), g,
                                                              strict=True)]
    return 0


def assert_words_filled(msg: Msg) -> None:
    """Every note's words exist in both languages and every {placeholder} has a value."""
    for n in msg["notes"]:
        for lang in ("ja", "en"):
            w = msg["words"][n["rule"]][lang]
            for part in ("title", "text", "try"):
                text = w[part]
                for name in n["values"]:
                    text = text.replace("{" + name + "}", "x")
                assert "{" not in text, (n["rule"], lang, part, text)
                assert n["values"] and all(v is not None for v in n["values"].values())


# ---- each rule: a run that has the problem, and one that does not ----------------------

def test_a_diverging_run_names_the_layer_whose_gradient_grew_first() -> None:
    r = Run(DIVERGING).steps(8)
    note = r.note("divergence")
    it = note["iteration"]
    points = r.points(it)
    losses = [p["train_loss"] for p in points]
    start = points[0]["batch_loss"]  # the loss before the first update
    best = min([*losses[:-1], start])
    # the first point whose loss is over ten times the lowest (or the first) before it
    assert it == next(p["iteration"] for k, p in enumerate(points) if k >= 1
                      and p["train_loss"] > 10 * min(*losses[:k + 1], start)) == 3
    assert note["values"]["loss"] == pytest.approx(losses[-1])
    assert note["values"]["best"] == pytest.approx(min(best, losses[-1]))
    assert note["values"]["layer"] == first_tenfold(points) == 2
    assert note["mark"] is None
    assert_words_filled(r.coach())
    # said once: the loss stays far above its lowest for a while, no second note
    assert len(r.notes("divergence")) == 1


def test_a_run_that_stops_on_a_non_finite_value_is_diverging() -> None:
    # so fast that it overflows between two metrics points: the halt itself is the sign
    r = Run({"dataset": "xor", "hidden": [2], "batch_size": 2, "n_samples": 8, "lr": 100.0,
             "loss": "mse", "init_scale": 50.0, "activation": "relu"}, metrics_hz=1.0)
    r.play(100)
    halt = next(m for m in r.seen if m["type"] == "error" and m["code"] == "nonfinite")
    note = r.note("divergence")
    assert note["iteration"] == halt["iteration"] == r.s.stepper.iteration
    assert note["values"]["loss"] == math.inf
    # no gradient grew tenfold before it (one point, at most): the layer where it broke
    where = halt["where"]
    assert note["values"]["layer"] == (int(where[1]) if where.startswith("L") else 2)


def test_a_calm_run_of_the_same_shape_does_not_diverge() -> None:
    Run(CALM).steps(60).quiet("divergence", 60)


def test_a_spike_between_two_points_of_a_fast_play_is_seen() -> None:
    """At the page's default speed (100 it/s) a metrics point comes every 10 iterations and
    the blow-up at iterations 3-5 falls between two: the highest batch loss since the last
    point is what the rule sees. A calm run played as fast gets no note (a batch's loss
    ten times the first is no ordinary noise)."""
    r = Run(DIVERGING).play(60, speed=100.0)
    points = r.points(10**9)
    assert points[1]["iteration"] - points[0]["iteration"] >= 5  # spaced out
    note = r.note("divergence")
    assert note["iteration"] <= 12
    assert note["values"]["loss"] > 10 * note["values"]["best"]
    assert note["values"]["loss"] > max(p["train_loss"] for p in r.points(note["iteration"]))
    Run(CALM).play(300, speed=100.0).quiet("divergence", 25)


def test_dead_relu_units_are_named_with_their_layer_and_share() -> None:
    r = Run(DYING).play(200)
    note = r.note("dead-units")
    points = r.points(note["iteration"])
    dead = points[-1]["dead"]
    layer = note["values"]["layer"]
    assert dead[layer - 1] == max(d for d in dead if d is not None) >= 0.5
    assert note["values"]["share"] == pytest.approx(100 * dead[layer - 1])
    # three points in a row (hold = 3) with half a layer or more dead, and not before
    held = [max(d for d in p["dead"] if d is not None) >= 0.5 for p in points]
    assert held[-3:] == [True] * 3 and held[:-3][-2:] != [True, True]
    assert_words_filled(r.coach())


def test_a_living_relu_network_has_no_dead_note() -> None:
    Run(LIVING).play(200).quiet("dead-units", 10)


def test_eight_sigmoid_layers_vanish_and_eight_tanh_layers_do_not() -> None:
    r = Run(DEEP_SIGMOID).steps(3)
    note = r.note("vanishing-gradients")
    assert note["iteration"] == 2  # two points in a row (hold = 2)
    g = r.points(2)[-1]["gnorm"]
    assert g[0] < 0.001 * g[-1]
    assert note["values"] == {"ratio": pytest.approx(g[-1] / g[0]), "first": pytest.approx(g[0]),
                              "last": pytest.approx(g[-1]), "n": 8}
    assert_words_filled(r.coach())
    Run(DEEP_TANH).steps(20).quiet("vanishing-gradients", 20)


def test_a_tanh_network_told_its_gradient_vanishes_is_not_told_only_of_the_sigmoid() -> None:
    """Eight tanh layers of tiny weights (normal, scale 0.05) vanish through Wᵀ, with f′
    near 1. The note said "(sigmoid's f′ is at most 0.25)" as its one reason, for any
    network; it now gives the sigmoid's, tanh's and the weights' part."""
    r = Run({**DEEP_SIGMOID, "activation": "tanh", "init": "normal",
             "init_scale": 0.05}).steps(6)
    note = r.note("vanishing-gradients")
    g = r.points(note["iteration"])[-1]["gnorm"]
    assert g[0] < 0.001 * g[-1]
    words = r.coach()["words"]["vanishing-gradients"]
    assert "tanh" in words["en"]["text"] and "small weights" in words["en"]["text"]
    assert "tanh" in words["ja"]["text"] and "重みが小さ" in words["ja"]["text"]


def test_a_run_that_has_learnt_its_data_is_not_told_its_gradient_vanishes() -> None:
    # XOR learnt at a rate of 3: the loss near 0, every gradient small, the first layer's
    # (saturated tanh units) smallest of all; nothing is wrong, and no advice is due
    r = Run({"dataset": "xor", "hidden": [4, 4], "activation": "tanh", "lr": 3.0}).play(500)
    last = r.points(10**9)[-1]
    assert last["train_acc"] == 1.0 and last["train_loss"] < 0.01
    r.quiet("vanishing-gradients", 20)


def test_a_tiny_learning_rate_stalls_and_a_good_one_does_not() -> None:
    r = Run(CRAWLING).play(400)
    note = r.note("plateau")
    it = note["iteration"]
    points = r.points(it)
    before = [p for p in points if p["iteration"] <= it - 100][-1]
    assert note["values"]["loss"] == pytest.approx(points[-1]["train_loss"])
    assert note["values"]["before"] == pytest.approx(before["train_loss"])
    # at the third point in a row where it moved less than 1 % over 100 iterations
    def stalled(k: int) -> bool:
        now = points[k]
        past = [p for p in points if p["iteration"] <= now["iteration"] - 100]
        return bool(past) and abs(past[-1]["train_loss"] - now["train_loss"]) \
            < 0.01 * past[-1]["train_loss"]
    assert [stalled(k) for k in range(len(points))][-4:] == [False, True, True, True]
    assert_words_filled(r.coach())
    # the loss stalls at every point after it, yet the coach said it once
    assert len(r.notes("plateau")) == 1
    Run(WALKING).play(400).quiet("plateau", 20)


def test_a_growing_gap_names_the_best_test_iteration_and_marks_it() -> None:
    r = Run(MEMORIZING).play(300)
    note = r.note("growing-gap")
    points = r.points(note["iteration"])
    best = min(points, key=lambda p: p["test_loss"])  # the charts' "best test" mark
    assert note["values"]["at"] == note["mark"] == best["iteration"]
    assert note["values"]["best"] == pytest.approx(best["test_loss"])
    now = points[-1]
    assert note["values"]["test"] == pytest.approx(now["test_loss"])
    assert note["values"]["train"] == pytest.approx(now["train_loss"])
    assert now["train_loss"] < now["test_loss"] and now["test_loss"] > 1.25 * best["test_loss"]
    assert_words_filled(r.coach())
    Run(LEARNING).play(300).quiet("growing-gap", 15)


def test_a_loss_swinging_after_a_blow_up_is_not_called_overfitting() -> None:
    """lr 10 on ReLU at 20 it/s: the loss blows up, then swings about (most of its ReLU
    units dead); a falling swing with the test loss above its best is no memorising."""
    r = Run(DIVERGING).play(250, speed=20.0)
    assert r.note("divergence")["iteration"] == 3
    swings = [p["train_loss"] for p in r.points(10**9)[20:]]
    assert max(swings) > 2 * min(swings)  # it does swing
    r.quiet("growing-gap", 20)


def test_the_default_run_gets_no_note() -> None:
    r = Run({}).play(300)
    assert len(r.points(300)) >= 15 and r.notes() == []


# ---- moving in time -----------------------------------------------------------------------

def test_a_rewound_run_hides_later_notes_and_says_them_once_again() -> None:
    r = Run(MEMORIZING).play(300)
    said = r.note("growing-gap")["iteration"]
    r.command(Seek(type="seek", iteration=said - 20))
    assert r.notes("growing-gap") == []  # the page hides it: the run is shown before it
    r.play(300)
    again = r.note("growing-gap")  # the same note, said once more (not twice)
    # (when: the rule holds three points in a row again, counted from the rewind)
    assert said - 20 < again["iteration"] <= 300
    r.command(Seek(type="seek", iteration=said - 20)).command(Seek(type="seek", iteration=300))
    assert len(r.notes("growing-gap")) == 1  # back at the end: the note is there again


def test_a_branch_keeps_the_notes_before_its_fork_and_its_parent_keeps_its_own() -> None:
    r = Run(MEMORIZING).play(300)
    said = r.note("growing-gap")
    r.command(Seek(type="seek", iteration=said["iteration"] - 20))
    mark = len(r.seen)
    r.command(Set(type="set", l2=0.05))  # a new branch from there
    assert [m["type"] for m in r.seen[mark:]].count("run") == 1  # (it clears the page's notes)
    assert r.notes("growing-gap") == []
    r.play(300)  # the branch's own future: L2 keeps the gap from growing as far
    r.command(Checkout(type="checkout", branch=0))  # back where it was left: before the note
    assert r.notes("growing-gap") == []
    r.command(Seek(type="seek", iteration=300))
    assert r.note("growing-gap") == said


# ---- a class -------------------------------------------------------------------------------

def test_a_class_sees_the_teachers_notes_with_the_words_in_both_languages() -> None:
    with teacher_and_student() as (client, t, st):
        t.send({"type": "configure", "config": DIVERGING})
        t.recv_type("run")
        code = share(t)
        join(st, code)
        for _ in range(4):
            t.send({"type": "step", "unit": "iteration"})
        t.handled()
        mine = [m for m in t.seen if m["type"] == "coach"][-1]
        assert mine["notes"][0]["rule"] == "divergence"
        theirs = st.recv_type("coach", where=lambda m: m["notes"] == mine["notes"])
        assert set(theirs["words"]["divergence"]) == {"ja", "en"}
        # a student joining later gets them with the run
        with client.websocket_connect("/ws") as raw:
            late = WS(raw)
            join(late, code)
            assert late.recv_type("coach")["notes"] == mine["notes"]


# ---- the hysteresis, on made-up points -------------------------------------------------------

class _Branch:
    def __init__(self) -> None:
        self.id = 0
        self.metrics = Metrics()


class _History:
    def __init__(self) -> None:
        self.active = _Branch()


class _Port:
    def __init__(self) -> None:
        self.history = _History()
        self.sent: list[Msg] = []

    def put(self, msg: Msg, **kw: Any) -> None:
        self.sent.append(msg)


def test_a_rule_speaks_after_hold_points_and_again_only_after_rearm_points() -> None:
    rule = Rule.model_validate({
        "id": "high", "when": "train_loss > 1", "hold": 2, "rearm": 3,
        "values": {"loss": "train_loss"},
        "title": {"ja": "高い", "en": "High"}, "text": {"ja": "{loss} です", "en": "It is {loss}"},
        "try": {"ja": "下げる", "en": "Lower it"}})
    port = _Port()
    coach = Coach(port, (Compiled(rule),))  # type: ignore[arg-type]
    losses = [2, 0, 2, 2, 2, 0, 2, 0, 0, 0, 2, 2]
    #          ^hold broken ^speaks  ^calm 1, ^calm broken ^^^ rearmed ^^ speaks again
    for it, loss in enumerate(losses, start=1):
        coach.after_metrics({"iteration": it, "train_loss": float(loss)})
    said = [n["iteration"] for n in port.sent[-1]["notes"]]
    assert said == [4, 12]
    assert port.sent[-1]["notes"][0]["values"] == {"loss": 2}
