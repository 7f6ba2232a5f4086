"""The coach's rules file (coach/rules.toml) is data a teacher writes: every rule is in
both languages, each written as its language's teacher would; its conditions are safe
expressions over names the coach has; every {placeholder} of its words is one of its
values in both languages; and a mistake is refused when the file is read, saying
where and what. Every rule in the file has runs in tests/server/test_coach.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.expr import parse
from server.coach import PLACEHOLDER, RULES_FILE, RuleFileError, read_rules, rules
from server.run.facts import NAMES
from tests.server import test_coach

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")

#: the rules test_coach.py drives on a run that has the problem and one that does not
TESTED = {
    "divergence": (test_coach.test_a_diverging_run_names_the_layer_whose_gradient_grew_first,
                   test_coach.test_a_calm_run_of_the_same_shape_does_not_diverge),
    "dead-units": (test_coach.test_dead_relu_units_are_named_with_their_layer_and_share,
                   test_coach.test_a_living_relu_network_has_no_dead_note),
    "vanishing-gradients": (
        test_coach.test_eight_sigmoid_layers_vanish_and_eight_tanh_layers_do_not,
        test_coach.test_a_run_that_has_learnt_its_data_is_not_told_its_gradient_vanishes),
    "plateau": (test_coach.test_a_tiny_learning_rate_stalls_and_a_good_one_does_not,),
    "growing-gap": (test_coach.test_a_growing_gap_names_the_best_test_iteration_and_marks_it,),
}

GOOD = '''
[[rules]]
id = "high"
when = "train_loss > 1"
values = { loss = "train_loss" }
title = { ja = "損失が大きい", en = "The loss is high" }
text = { ja = "損失は {loss} です。", en = "The loss is {loss}." }
try = { ja = "学習率を下げましょう。", en = "Lower the learning rate." }
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_rule_is_in_both_languages_each_its_own() -> None:
    found = read_rules(RULES_FILE)
    assert len(found) >= 5
    for r in found:
        for part in (r.title, r.text, r.try_):
            assert JAPANESE.search(part.ja), (r.id, part.ja)
            assert not JAPANESE.search(part.en), (r.id, part.en)
            assert part.ja != part.en


def test_every_expression_is_safe_and_reads_only_the_coachs_names() -> None:
    for c in rules():
        r = c.rule
        for text in (r.when, *r.values.values(), *([r.mark] if r.mark else [])):
            assert parse(text).names <= NAMES, (r.id, text)


def test_every_placeholder_is_a_value_in_both_languages() -> None:
    for r in read_rules(RULES_FILE):
        for lang in ("ja", "en"):
            said = {m for part in (r.title, r.text, r.try_)
                    for m in PLACEHOLDER.findall(part.get(lang))}
            assert said <= set(r.values), (r.id, lang, said - set(r.values))
            assert said, r.id  # (each rule's words give its numbers)


def test_every_rule_is_tested_on_a_run_that_has_the_problem_and_one_that_does_not() -> None:
    assert {c.rule.id for c in rules()} == set(TESTED), \
        "a rule without runs in tests/server/test_coach.py (add one that triggers it and a " \
        "healthy one of the same shape)"


def test_a_good_file_reads(tmp_path: Path) -> None:
    (rule,) = read_rules(write(tmp_path, GOOD))
    assert rule.words("ja").title == "損失が大きい"
    assert rule.words("en").model_dump(by_alias=True) == {
        "title": "The loss is high", "text": "The loss is {loss}.",
        "try": "Lower the learning rate."}
    assert (rule.hold, rule.rearm, rule.window, rule.mark) == (1, 10, 100, None)


@pytest.mark.parametrize(("change", "said"), [
    (("train_loss > 1", "L1.dW[0,0] > 1"), "reads L1.dW"),  # a record id: not a metric
    (("train_loss > 1", "loss_so_far > 1"), "reads loss_so_far"),
    (("train_loss > 1", "__import__('os')"), "may not start with '_'"),
    (("train_loss > 1", "train_loss.real > 1"), "attribute access"),
    (('loss = "train_loss"', 'loss = "exp(train_loss)"'), "calling 'exp' is not allowed"),
    (("損失は {loss} です。", "損失は {value} です。"), "fill {value}"),
    (("The loss is {loss}.", "The loss is {loss} (was {best})."), "fill {best}"),
    (('en = "Lower the learning rate."', 'en = "Lower $\\\\eta$."'), "plain text"),
    (('ja = "学習率を下げましょう。", ', ""), "rules.0.try.ja"),  # one language missing
    (('id = "high"', 'id = "High rule"'), "rules.0.id"),
    (("when =", "hold = 0\nwhen ="), "rules.0.hold"),
    (("when =", "colour = 'red'\nwhen ="), "rules.0.colour"),
])
def test_a_mistake_is_refused_naming_what_and_where(tmp_path: Path, change: tuple[str, str],
                                                    said: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(RuleFileError) as e:
        read_rules(write(tmp_path, GOOD.replace(old, new, 1)))
    assert said in str(e.value) and "rules.toml" in str(e.value)


def test_two_rules_with_one_id_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="rule ids repeat"):
        read_rules(write(tmp_path, GOOD + GOOD))


def test_the_two_languages_fill_the_same_values(tmp_path: Path) -> None:
    text = GOOD.replace('values = { loss = "train_loss" }',
                        'values = { loss = "train_loss", at = "iteration" }')
    text = text.replace("The loss is {loss}.", "The loss is {loss} at iteration {at}.")
    with pytest.raises(RuleFileError, match="fill different values"):
        read_rules(write(tmp_path, text))
