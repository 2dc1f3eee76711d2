"""The edge-case policy table: empty masks give stated, finite values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmoda.core.metrics_spec import ASSD_CAP_MM, METRICS
from crossmoda.evaluation.metrics import (
    DEFAULT_POLICY,
    SEGMENTATION_METRICS,
    EdgeCase,
    EdgeCasePolicy,
    edge_case,
    structure_metrics,
)

SPACING = (1.5, 0.5, 0.5)
EMPTY = np.zeros((6, 8, 8), bool)
BLOB = EMPTY.copy()
BLOB[2:4, 3:6, 2:5] = True


def test_policy_table_covers_every_metric_and_case() -> None:
    for case in (EdgeCase.PRED_EMPTY, EdgeCase.REF_EMPTY, EdgeCase.BOTH_EMPTY):
        assert set(DEFAULT_POLICY.table[case]) == set(SEGMENTATION_METRICS)
    assert set(SEGMENTATION_METRICS) <= set(METRICS)


@pytest.mark.parametrize(
    ("pred", "ref", "dice", "distance"),
    [
        (EMPTY, BLOB, 0.0, ASSD_CAP_MM),  # prediction empty: Dice 0, ASSD 350 mm (crossMoDA)
        (BLOB, EMPTY, 0.0, ASSD_CAP_MM),  # reference empty, prediction not: a false positive
        (EMPTY, EMPTY, 1.0, 0.0),  # both empty: absence correctly predicted
    ],
)
def test_edge_cases(pred: np.ndarray, ref: np.ndarray, dice: float, distance: float) -> None:
    m = structure_metrics(pred, ref, SPACING)
    assert m["Dice"] == dice
    for name in ("ASSD", "ASSDPooled", "ASSDSurfel", "HD95"):
        assert m[name] == distance
    assert all(math.isfinite(v) for v in m.values())


def test_cap_is_configurable_and_clips_computed_distances() -> None:
    policy = EdgeCasePolicy(distance_cap_mm=2.0)
    assert structure_metrics(EMPTY, BLOB, SPACING, ("ASSD",), policy) == {"ASSD": 2.0}
    far = np.zeros((40, 4, 4), bool)
    near = far.copy()
    far[39, 1, 1] = True
    near[0, 1, 1] = True  # 39 * 1.5 mm apart
    capped = structure_metrics(near, far, (1.5, 1.0, 1.0), ("ASSD", "HD95"), policy)
    assert capped == {"ASSD": 2.0, "HD95": 2.0}
    assert structure_metrics(near, far, (1.5, 1.0, 1.0), ("ASSD",))["ASSD"] == pytest.approx(39 * 1.5)


def test_edge_case_names_and_bad_cap() -> None:
    assert edge_case(False, False) is None
    assert edge_case(True, True) == EdgeCase.BOTH_EMPTY
    with pytest.raises(ValueError):
        EdgeCasePolicy(distance_cap_mm=float("inf"))
    with pytest.raises(ValueError, match="unknown metrics"):
        structure_metrics(BLOB, BLOB, SPACING, ("Jaccard",))
