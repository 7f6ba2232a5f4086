"""A learner's own CSV: read with or without a header, its target as classes or values,
and every bad file refused with what is wrong and where (the file's row and column)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import RunConfig
from engine.data import table_dataset
from engine.owndata import CsvError, parse_csv
from engine.stepper import Stepper


def test_a_header_names_the_columns_and_text_labels_are_classes() -> None:
    t = parse_csv("height,weight,animal\n1.0,2,cat\n3,4.5,dog\n5,6,cat\n7,8,bird\n", 100, 10)
    assert t.columns == ("height", "weight") and t.target == "animal"
    assert t.labels == ("bird", "cat", "dog") and t.task == "multiclass"
    assert t.y.tolist() == [1, 2, 1, 0]
    assert t.x.tolist() == [[1, 2], [3, 4.5], [5, 6], [7, 8]]


def test_numbers_only_semicolons_and_whole_number_targets() -> None:
    t = parse_csv("\ufeff1;2;0\n3;4;1\n\n5;6;1\n", 100, 10)
    assert t.columns == ("x1", "x2") and t.target == "target"
    assert t.labels == ("0", "1") and t.task == "binary" and t.y.tolist() == [0, 1, 1]
    reg = parse_csv("x,y\n" + "".join(f"{i},{i * 0.5 + 0.25}\n" for i in range(12)), 100, 10)
    assert reg.task == "regression" and reg.labels is None and reg.y[1] == 0.75


@pytest.mark.parametrize(("text", "code", "row", "column"), [
    ("", "empty", None, None),
    ("a,b,c\n", "empty", None, None),
    ("a\n1\n2\n", "too_few_columns", 1, None),
    ("a,b,c\n1,2,0\n", "too_few_rows", None, None),
    ("a,b,c\n1,2,0\n3,4\n", "ragged", 3, None),
    ("a,b,c\n1,2,0\n3,,1\n", "missing", 3, 2),
    ("a,b,c\n1,2,0\n3,four,1\n", "not_a_number", 3, 2),
    ("a,b,c\n1,2,0\n3,inf,1\n", "not_finite", 3, 2),
    ("a,b,c\n1,2,yes\n3,4,yes\n", "one_class", 2, 3),
])
def test_a_bad_file_says_what_and_where(text: str, code: str, row: int | None,
                                        column: int | None) -> None:
    with pytest.raises(CsvError) as e:
        parse_csv(text, 100, 10)
    assert (e.value.code, e.value.row, e.value.column) == (code, row, column)


def test_a_huge_file_is_refused_at_the_first_row_past_the_limit() -> None:
    text = "a,b\n" + "1,0\n2,1\n" * 60
    with pytest.raises(CsvError) as e:
        parse_csv(text, 100, 10)
    assert e.value.code == "too_many_rows" and e.value.row == 102
    assert e.value.counts == {"found": 120, "limit": 100}
    with pytest.raises(CsvError) as wide:
        parse_csv(",".join(f"c{j}" for j in range(12)) + "\n" + ",".join("1" * 12), 100, 10)
    assert wide.value.code == "too_many_columns" and wide.value.counts["found"] == 11


def test_own_data_is_split_by_the_seed_standardised_and_learnable() -> None:
    rng = np.random.default_rng(5)
    pts = rng.normal(size=(80, 3)) * [1, 10, 100]
    labels = np.where(pts[:, 0] + pts[:, 1] / 10 > 0, "yes", "no")
    text = "a,b,c,ok\n" + "".join(f"{p[0]},{p[1]},{p[2]},{lab}\n"
                                  for p, lab in zip(pts, labels, strict=True))
    table = parse_csv(text, 1000, 10)
    d = table_dataset(table, np.random.default_rng(1), 0.25)
    again = table_dataset(table, np.random.default_rng(1), 0.25)
    assert np.array_equal(d.x_train, again.x_train) and len(d.x_test) == 20
    assert np.allclose(d.x_train.std(axis=0), 1) and d.real and d.task == "binary"
    st = Stepper(RunConfig(hidden=(4,), optimizer="adam", lr=0.05, batch_size=16), data=d)
    st.train(150)
    assert st.evaluate(d.x_test, d.t_test)[1] >= 0.9
