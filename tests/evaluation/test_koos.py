"""Koos metrics against imbalanced-learn and scikit-learn, and the missing-prediction policy."""

from __future__ import annotations

import numpy as np
import pytest
from imblearn.metrics import macro_averaged_mean_absolute_error
from sklearn.metrics import f1_score

from crossmoda.evaluation.koos import confusion_matrix, koos_metrics, ma_mae, macro_f1, worst_grade


@pytest.mark.parametrize("seed", range(8))
def test_ma_mae_equals_imblearn_where_it_works(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(1, 5, size=30)
    p = np.clip(y + rng.integers(-1, 2, size=30), 1, 4)
    p[~np.isin(p, y)] = y[0]  # every predicted grade occurs in the reference
    assert ma_mae(y, p) == pytest.approx(macro_averaged_mean_absolute_error(y, p), rel=1e-12)
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0), rel=1e-12)


def test_ma_mae_where_imblearn_fails() -> None:
    y, p = [1, 1, 2, 2], [1, 3, 2, 2]  # grade 3 predicted, never in the reference
    with pytest.raises(ValueError):
        macro_averaged_mean_absolute_error(y, p)
    # class 1: (0 + 2) / 2 = 1; class 2: 0 -> mean 0.5
    assert ma_mae(y, p) == 0.5
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))


def test_confusion_matrix_rows_are_reference() -> None:
    cm = confusion_matrix([1, 1, 4], [2, 1, 4])
    assert cm == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]


def test_policy_postop_excluded_missing_worst_extra_listed() -> None:
    reference = {"crossmoda2022_ldn_1": 1, "crossmoda2022_ldn_2": None, "crossmoda2022_etz_3": 3,
                 "crossmoda2022_etz_4": 4}
    prediction = {"crossmoda2022_ldn_1": 1, "crossmoda2022_ldn_2": 2, "crossmoda2022_etz_4": 4,
                  "crossmoda2022_etz_9": 2}
    r = koos_metrics(reference, prediction)
    assert r.excluded == ["crossmoda2022_ldn_2"]
    assert r.missing == ["crossmoda2022_etz_3"]
    assert r.extra == ["crossmoda2022_etz_9"]
    assert r.metrics["n_cases"] == 3
    # etz_3 scored as grade 1 (|1 - 3| = 2): per-class errors 0, 2, 0 -> MA-MAE 2/3
    assert r.metrics["MA_MAE"] == pytest.approx(2 / 3)
    assert r.metrics["accuracy"] == pytest.approx(2 / 3)
    assert r.per_case["crossmoda2022_etz_3"] == {"reference": 3, "prediction": None}


def test_worst_grade() -> None:
    assert [worst_grade(g) for g in (1, 2, 3, 4)] == [4, 4, 1, 1]


def test_no_scorable_case_gives_no_metrics() -> None:
    assert koos_metrics({"crossmoda2022_ldn_1": None}, {}).metrics == {}
