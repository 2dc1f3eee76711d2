"""Koos grading metrics: MA-MAE, macro F1, accuracy and the 4x4 confusion matrix.

Policy:

* Reference grade ``None`` (post-operative) -> the case is excluded from every Koos metric.
* Prediction missing for a scored reference case -> it counts as the grade farthest from the
  truth (:func:`worst_grade`: 1 -> 4, 2 -> 4, 3 -> 1, 4 -> 1) and the case is listed.
* Predictions for cases without a reference grade are listed as extra and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crossmoda.core.cases import parse_case
from crossmoda.core.koos import GRADES

__all__ = ["KoosResult", "worst_grade", "ma_mae", "macro_f1", "confusion_matrix", "koos_metrics"]


def worst_grade(reference: int) -> int:
    """The grade farthest from ``reference`` (ties go to the higher grade)."""
    return max(GRADES, key=lambda g: (abs(g - reference), g))


def ma_mae(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Macro-averaged mean absolute error over the classes present in ``reference``.

    Equals imbalanced-learn's ``macro_averaged_mean_absolute_error`` whenever every predicted
    class also occurs in the reference (where that function works) and stays defined otherwise.

    Raises:
        ValueError: on empty input or length mismatch.
    """
    y, p = np.asarray(reference, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equally long non-empty grade lists, got {y.shape} and {p.shape}")
    per_class = [float(np.mean(np.abs(p[y == c] - c))) for c in np.unique(y)]
    return float(np.mean(per_class))


def confusion_matrix(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> list[list[int]]:
    """4x4 counts, rows = reference grade 1-4, columns = predicted grade 1-4."""
    cm = np.zeros((len(GRADES), len(GRADES)), dtype=np.int64)
    for y, p in zip(np.asarray(reference).tolist(), np.asarray(prediction).tolist(), strict=True):
        cm[GRADES.index(int(y)), GRADES.index(int(p))] += 1
    return [[int(v) for v in row] for row in cm]


def macro_f1(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Macro F1 over the grades in either list (scikit-learn's default labels, zero_division=0)."""
    y, p = np.asarray(reference), np.asarray(prediction)
    scores = []
    for c in np.union1d(y, p):
        tp = int(np.sum((y == c) & (p == c)))
        denom = int(np.sum(y == c)) + int(np.sum(p == c))
        scores.append(0.0 if denom == 0 else 2.0 * tp / denom)
    return float(np.mean(scores))


@dataclass
class KoosResult:
    """Koos evaluation.

    Attributes:
        metrics: ``{"MA_MAE", "macro_F1", "accuracy", "confusion_matrix", "n_cases"}`` or ``{}``
            when no case could be scored.
        per_case: case -> ``{"reference": grade | None, "prediction": grade | None}``.
        missing: Scored reference cases without a prediction (counted as :func:`worst_grade`).
        extra: Predicted cases without a reference entry.
        excluded: Post-operative reference cases (not scored).
    """

    metrics: dict[str, object] = field(default_factory=dict)
    per_case: dict[str, dict[str, int | None]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def koos_metrics(reference: Mapping[str, int | None], prediction: Mapping[str, int | None]) -> KoosResult:
    """Score Koos predictions against reference grades (case -> grade; ``None`` = post-operative
    in the reference, missing in the prediction). See the module policy."""
    result = KoosResult()
    y_true: list[int] = []
    y_pred: list[int] = []
    for case in sorted(reference, key=parse_case):
        ref, pred = reference[case], prediction.get(case)
        result.per_case[case] = {"reference": ref, "prediction": pred}
        if ref is None:
            result.excluded.append(case)
            continue
        if pred is None:
            result.missing.append(case)
            pred = worst_grade(ref)
        y_true.append(ref)
        y_pred.append(pred)
    result.extra = sorted((c for c in prediction if c not in reference), key=parse_case)
    if y_true:
        result.metrics = {
            "MA_MAE": ma_mae(y_true, y_pred),
            "macro_F1": macro_f1(y_true, y_pred),
            "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
            "confusion_matrix": confusion_matrix(y_true, y_pred),
            "n_cases": len(y_true),
        }
    return result
