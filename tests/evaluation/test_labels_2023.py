"""The 2023 label map: what each case gets for extra-meatal, intra-meatal, whole VS and cochlea.

Hand-checkable: 1 mm isotropic voxels, boxes of known size, one-voxel shifts.
"""

from __future__ import annotations

import numpy as np
import pytest

from crossmoda.core.labels import LABELS_2023
from crossmoda.core.metrics_spec import ASSD_CAP_MM
from crossmoda.evaluation.case import CaseConfig, evaluate_arrays

CONFIG = CaseConfig(label_map=LABELS_2023, metrics=("Dice", "ASSD"))
SPACING = (1.0, 1.0, 1.0)


def _koos1() -> np.ndarray:
    """A Koos I case: the tumour all intra-meatal (label 2, 2x2x4 = 16 voxels), a cochlea (3)."""
    ref = np.zeros((10, 10, 16), np.uint8)
    ref[4:6, 4:6, 8:12] = 2
    ref[4:6, 4:6, 14] = 3
    return ref


def test_columns_of_the_2023_map() -> None:
    assert CONFIG.columns() == ["VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD", "ExtraMeatalVS_Dice",
                                "ExtraMeatalVS_ASSD", "IntraMeatalVS_Dice", "IntraMeatalVS_ASSD"]


def test_koos1_extra_meatal_absent_in_both_is_not_a_failure() -> None:
    ref = _koos1()
    v = evaluate_arrays(ref.copy(), ref, SPACING, CONFIG)
    assert v["ExtraMeatalVS_Dice"] == 1.0 and v["ExtraMeatalVS_ASSD"] == 0.0  # both empty
    assert v["IntraMeatalVS_Dice"] == 1.0 and v["VS_Dice"] == 1.0 and v["Cochlea_Dice"] == 1.0


def test_koos1_split_predicted_wrongly() -> None:
    ref = _koos1()
    pred = ref.copy()
    pred[4:6, 4:6, 8] = 1  # the tumour's medial quarter called extra-meatal
    v = evaluate_arrays(pred, ref, SPACING, CONFIG)
    assert v["VS_Dice"] == 1.0 and v["VS_ASSD"] == 0.0  # the whole tumour is right
    assert v["ExtraMeatalVS_Dice"] == 0.0 and v["ExtraMeatalVS_ASSD"] == ASSD_CAP_MM  # reference empty
    assert v["IntraMeatalVS_Dice"] == pytest.approx(2 * 12 / (12 + 16))


def test_extra_meatal_missed_and_whole_tumour_labelled_intra() -> None:
    ref = np.zeros((10, 10, 16), np.uint8)
    ref[4:6, 4:6, 2:8] = 1  # 24 voxels extra-meatal
    ref[4:6, 4:6, 8:12] = 2  # 16 voxels intra-meatal
    ref[4:6, 4:6, 14] = 3
    pred = ref.copy()
    pred[pred == 1] = 2
    v = evaluate_arrays(pred, ref, SPACING, CONFIG)
    assert v["VS_Dice"] == 1.0
    assert v["ExtraMeatalVS_Dice"] == 0.0 and v["ExtraMeatalVS_ASSD"] == ASSD_CAP_MM  # prediction empty
    assert v["IntraMeatalVS_Dice"] == pytest.approx(2 * 16 / (40 + 16))


def test_post_operative_case_without_tumour() -> None:
    ref = np.zeros((10, 10, 16), np.uint8)
    ref[4:6, 4:6, 14] = 3
    v = evaluate_arrays(ref.copy(), ref, SPACING, CONFIG)
    assert all(v[f"{s}_Dice"] == 1.0 and v[f"{s}_ASSD"] == 0.0
               for s in ("VS", "ExtraMeatalVS", "IntraMeatalVS", "Cochlea"))
