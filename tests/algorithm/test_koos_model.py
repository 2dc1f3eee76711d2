"""Ordinal classifier sanity, JSON round trips, and end-to-end grading of toy heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.algorithm.koos.features import FEATURE_NAMES, GEOMETRY_FEATURES
from crossmoda.algorithm.koos.model import (
    KoosModel,
    fit_koos,
    load_koos_model,
    predict_koos,
    save_koos_model,
)
from crossmoda.algorithm.koos.ordinal import OrdinalLogistic


def _separable(rng: np.random.Generator, n_per: int) -> tuple[np.ndarray, np.ndarray]:
    """One informative feature (grade + noise in +-0.3), one pure-noise feature."""
    y = np.repeat([1, 2, 3, 4], n_per)
    x = np.column_stack([y + rng.uniform(-0.3, 0.3, len(y)), rng.normal(0, 1, len(y))])
    return x, y


def test_ordinal_classifier_separates_separable_data() -> None:
    rng = np.random.default_rng(0)
    x, y = _separable(rng, 15)
    clf = OrdinalLogistic(C=100.0).fit(x, y)
    xt, yt = _separable(rng, 10)
    np.testing.assert_array_equal(clf.predict(xt), yt)
    proba = clf.predict_proba(xt)
    assert proba.shape == (40, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert (proba >= 0).all()
    # The most probable class is the true one, and cumulative probabilities are monotone.
    np.testing.assert_array_equal(np.argmax(proba, axis=1) + 1, yt)
    assert (np.diff(clf.cumulative(xt), axis=1) <= 1e-12).all()
    # The informative weight increases the odds of every "y > k"; the grade grows with x.
    assert all(row[0] > 0 for row in clf.coef)
    assert list(clf.predict([[0.0, 0.0], [9.0, 0.0]])) == [1, 4]


def test_ordinal_prediction_is_the_median() -> None:
    clf = OrdinalLogistic(classes=[1, 2, 3, 4], mean=[0.0], scale=[1.0],
                          coef=[[0.0], [0.0], [0.0]], intercept=[np.log(0.7 / 0.3), 0.0, np.log(0.2 / 0.8)])
    # P(y>1)=0.7, P(y>2)=0.5, P(y>3)=0.2 -> probabilities 0.3, 0.2, 0.3, 0.2; median is grade 2.
    np.testing.assert_allclose(clf.predict_proba([[0.0]])[0], [0.3, 0.2, 0.3, 0.2], atol=1e-12)
    assert clf.predict([[0.0]])[0] == 2


def test_ordinal_json_round_trip_and_validation() -> None:
    rng = np.random.default_rng(1)
    x, y = _separable(rng, 8)
    clf = OrdinalLogistic(C=0.5).fit(x, y)
    again = OrdinalLogistic.from_dict(json.loads(json.dumps(clf.to_dict())))
    np.testing.assert_array_equal(again.predict_proba(x), clf.predict_proba(x))
    bad = clf.to_dict() | {"coef": clf.coef[:2]}
    with pytest.raises(ValueError):
        OrdinalLogistic.from_dict(bad)
    with pytest.raises(ValueError):
        OrdinalLogistic.from_dict(clf.to_dict() | {"type": "pickle"})
    with pytest.raises(ValueError):
        OrdinalLogistic().fit(x, y + 10)


def test_threshold_without_both_sides_gets_a_constant_model() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf = OrdinalLogistic().fit(x, [1, 1, 2, 2])  # no grade 3 or 4: P(y>2), P(y>3) ~ 0
    assert clf.coef[1] == [0.0] and clf.intercept[1] == -10.0
    assert set(clf.predict(x).tolist()) <= {1, 2}


def _rows(rng: np.random.Generator, n: int) -> tuple[list[dict[str, float]], list[int]]:
    rows, grades = [], []
    for g in np.repeat([1, 2, 3, 4], n):
        row = dict.fromkeys(FEATURE_NAMES, 0.0)
        row["vs_volume_mm3"] = float(10 ** (1 + 0.6 * g + rng.uniform(-0.2, 0.2)))
        row["vs_brainstem_gap_mm"] = float(max(0.0, 8 - 3 * g + rng.uniform(-0.5, 0.5)))
        row["brainstem_indentation_mm"] = float(max(0.0, g - 3 + rng.uniform(-0.3, 0.3)))
        rows.append(row)
        grades.append(int(g))
    return rows, grades


def test_koos_model_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows, grades = _rows(rng, 6)
    model = fit_koos(rows, grades, feature_names=GEOMETRY_FEATURES, C=10.0, info={"source": "test"})
    path = save_koos_model(model, tmp_path / "koos_model.json", config={"C": 10.0})
    data = json.loads(path.read_text())
    assert data["format"] == "crossmoda-koos/1" and data["provenance"]["tool"] == "crossmoda-koos"
    loaded = load_koos_model(path)
    g1, p1 = model.predict_rows(rows)
    g2, p2 = loaded.predict_rows(rows)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(p1, p2)
    assert loaded.info["source"] == "test" and loaded.info["n_train"] == 24
    np.testing.assert_array_equal(g1, grades)
    with pytest.raises(ValueError):
        KoosModel.from_dict(data | {"feature_names": ["not_a_feature"]})
    with pytest.raises(ValueError):
        KoosModel.from_dict(data | {"format": "pickle"})


def test_fit_koos_rejects_bad_input() -> None:
    rows, grades = _rows(np.random.default_rng(3), 2)
    with pytest.raises(ValueError):
        fit_koos(rows, grades[:-1])
    with pytest.raises(ValueError):
        fit_koos(rows[:2], [1, 1])
    with pytest.raises(ValueError):
        fit_koos(rows[:2], [0, 5])


def _toy_case(grade: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Toy head at 1 mm (see test_koos_features._head) with a tumour of the given grade.

    Cochleas at x = 20, 80, brainstem box x 40..60 (the grade IV one dented by the ball).
    I: rod in the canal lateral of the porus (x = 69 at fraction 0.18); II: ball in the angle
    3+ mm from the brainstem; III: ball touching it; IV: ball pushed 4 mm into it.
    """
    zi, yi, xi = np.indices((30, 40, 100))
    labels = np.zeros((30, 40, 100), dtype=np.uint8)
    aux = np.zeros_like(labels)
    aux[(zi >= 3) & (zi < 27) & (yi >= 10) & (yi < 30) & (xi >= 40) & (xi <= 60)] = 1
    rod_start = {1: 71 - int(size), 2: 66, 3: 64, 4: 62}[grade]
    labels[((zi - 15) ** 2 + (yi - 20) ** 2 <= 4) & (xi >= rod_start) & (xi <= 76)] = 1
    if grade > 1:
        radius = 3.5 + size
        centre = {2: 64 + radius + 1, 3: 61 + radius, 4: 57 + radius}[grade]
        ball = (zi - 15) ** 2 + (yi - 20) ** 2 + (xi - centre) ** 2 <= radius**2
        labels[ball] = 1
        aux[ball] = 0
    for cx in (20, 80):
        labels[(zi - 15) ** 2 + (yi - 26) ** 2 + (xi - cx) ** 2 <= 4] = 2
    return labels, aux


def test_predict_koos_end_to_end_on_toy_heads() -> None:
    from crossmoda.algorithm.koos.anatomy import structures_from_arrays
    from crossmoda.algorithm.koos.features import compute_features

    rows, grades = [], []
    for g in (1, 2, 3, 4):
        for size in (0.0, 1.0, 2.0):
            feats, _ = compute_features(structures_from_arrays(*_toy_case(g, size)), (1.0, 1.0, 1.0))
            rows.append(feats)
            grades.append(g)
    model = fit_koos(rows, grades, C=10.0)
    for g in (1, 2, 3, 4):
        labels, aux = _toy_case(g, 1.5)
        pred = predict_koos(labels, aux, None, (1.0, 1.0, 1.0), model)
        assert pred.grade == g
        assert sum(pred.probabilities) == pytest.approx(1.0)
        assert max(pred.probabilities) == pred.probabilities[g - 1]
        # The combined 5-class map gives the same answer.
        combined = labels.copy()
        combined[aux == 1] = 3
        assert predict_koos(combined, None, None, (1.0, 1.0, 1.0), model).grade == g


def _write_toy_dataset(root: Path) -> None:
    """A phantom-shaped data set of toy heads: 12 source and 4 validation cases, 1 mm grid."""
    from crossmoda.core.io import Geometry, write_image
    from crossmoda.core.koos import write_koos_csv

    geo = Geometry(size=(100, 40, 30), spacing=(1.0, 1.0, 1.0), origin=(-50.0, 0.0, 0.0),
                   direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    infos = ["crossmoda_name,center,group,koos"]
    val: dict[str, int | None] = {}
    n = 0
    for split, sizes in (("source_training", (0.0, 1.0, 2.0)), ("validation", (1.5,))):
        for g in (1, 2, 3, 4):
            for size in sizes:
                n += 1
                case = f"crossmoda2022_ldn_{n}"
                labels, aux = _toy_case(g, size)
                image = np.where(labels == 1, 0.3, 1.0).astype(np.float32)
                image[aux == 1] = 0.5
                if split == "source_training":
                    write_image(labels, root / split / f"{case}_Label.nii.gz", geo)
                    write_image(aux, root / split / f"{case}_Aux.nii.gz", geo)
                    write_image(image, root / "paired_truth" / f"{case}_hrT2.nii.gz", geo)
                    infos.append(f"{case},London,T,{g}")
                    # The phantom's meta: porus at index x = 68 (fraction 0.2 of the 60 mm between
                    # the cochleas, medial of x = 80), y 26, z 15; the canal axis points laterally.
                    meta = {"porus_lps": [68.0 - 50.0, 26.0, 15.0], "canal_axis_lps": [1.0, 0.0, 0.0]}
                    (root / "meta").mkdir(exist_ok=True)
                    (root / "meta" / f"{case}.json").write_text(json.dumps(meta))
                else:
                    write_image(labels, root / "validation_labels" / f"{case}_Label.nii.gz", geo)
                    write_image(aux, root / "paired_truth" / f"{case}_Aux.nii.gz", geo)
                    write_image(image, root / "validation" / f"{case}_hrT2.nii.gz", geo)
                    val[case] = g
    (root / "infos_source_training.csv").write_text("\n".join(infos) + "\n")
    write_koos_csv(root / "validation_labels" / "koos.csv", val)


def test_cli_train_and_predict_on_a_toy_dataset(tmp_path: Path) -> None:
    import csv

    from crossmoda.algorithm.koos.cli import main

    data, run = tmp_path / "data", tmp_path / "run"
    _write_toy_dataset(data)
    assert main(["train", str(run), "--data", str(data), "--folds", "3", "--C", "10"]) == 0
    summary = json.loads((run / "koos" / "koos_summary.json").read_text())
    assert summary["n_train"] == 12 and summary["training_source"] == "ground-truth"
    assert summary["validation"]["n_cases"] == 4
    assert summary["validation"]["MA_MAE"] == 0.0
    assert summary["cross_validation"]["n_cases"] == 12
    assert summary["porus_calibration"]["porus_fraction"] == pytest.approx(0.2)
    assert summary["porus_estimator_train"]["porus_error_max_mm"] == pytest.approx(0.0, abs=1e-9)
    assert summary["porus_estimator_train"]["axis_angle_max_deg"] == pytest.approx(0.0, abs=1e-6)
    model = json.loads((run / "koos" / "koos_model.json").read_text())
    assert model["frame"]["porus_fraction"] == pytest.approx(0.2)
    with (run / "koos" / "features_validation.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["predicted"]) for r in rows] == [int(r["grade"]) for r in rows]
    assert all(abs(sum(float(r[f"p{k}"]) for k in (1, 2, 3, 4)) - 1.0) < 1e-3 for r in rows)
    # Grade the validation labels again through `predict`, with the saved model.
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(run / "koos" / "koos_model.json"),
                 "--labels", str(data / "validation_labels"), "--aux", str(data / "paired_truth"),
                 "--images", str(data / "validation"), "--output", str(out)]) == 0
    with out.open() as fh:
        again = list(csv.DictReader(fh))
    assert [r["predicted"] for r in again] == [r["predicted"] for r in rows]
    # A missing data folder is a clean error (exit status 2), not a traceback.
    assert main(["train", str(run), "--data", str(tmp_path / "nowhere")]) == 2


def test_case_features_report_the_porus_in_world_mm(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from crossmoda.algorithm.koos.tables import case_features, prediction_cases
    from crossmoda.core.io import Geometry, write_image

    # An oblique-free but flipped, shifted, anisotropic grid: x and y axes reversed.
    geo = Geometry(size=(100, 40, 30), spacing=(0.5, 0.8, 1.2), origin=(12.0, -7.0, 3.0),
                   direction=(-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    labels, aux = _toy_case(2, 1.0)
    write_image(labels, tmp_path / "crossmoda2022_etz_3_Label.nii.gz", geo)
    write_image(aux, tmp_path / "crossmoda2022_etz_3_Aux.nii.gz", geo)
    [case] = prediction_cases(tmp_path, None, {"crossmoda2022_etz_3": 2})
    assert case.aux is not None and case.grade == 2
    row = case_features(case)
    # Cochlea centroids at index x = 20 and 80 (y 26, z 15); porus 0.17 of the 30 mm
    # inter-cochlear distance (60 voxels of 0.5 mm) medial of x = 80: index x = 80 - 0.17 * 60.
    ref = sitk.Image(100, 40, 30, sitk.sitkUInt8)
    geo.apply(ref)
    expected = ref.TransformContinuousIndexToPhysicalPoint((80 - 0.17 * 60, 26.0, 15.0))
    np.testing.assert_allclose(row.porus_world, expected, atol=1e-9)
    np.testing.assert_allclose(row.axis_world, [1.0, 0.0, 0.0], atol=1e-12)  # medial = -x index = +x world
    assert row.frame_method == "two-cochleas"


def test_auto_feature_set_is_chosen_by_training_cross_validation() -> None:
    from crossmoda.algorithm.koos.features import IMAGE_FEATURES
    from crossmoda.algorithm.koos.tables import CaseFeatures
    from crossmoda.algorithm.koos.train import KoosTrainConfig, select_feature_set

    rng = np.random.default_rng(5)
    rows = []
    for i, grade in enumerate(np.repeat([1, 2, 3, 4], 10)):
        # every geometric feature tracks the grade; the VS volume (in both sets) and the image
        # features are pure noise, so the image-only set cannot grade and geometry wins
        feats = {n: float(grade + rng.uniform(-0.3, 0.3)) for n in GEOMETRY_FEATURES}
        feats["vs_volume_mm3"] = float(rng.uniform(0.0, 5.0))
        feats |= {n: float(rng.normal(0.0, 1.0)) for n in IMAGE_FEATURES}
        rows.append(CaseFeatures(f"crossmoda2022_etz_{i}", int(grade), feats,
                                 (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), "test"))
    scores = select_feature_set(rows, KoosTrainConfig(data=Path("."), output=Path("."), C=1.0, folds=5))
    assert list(scores) == ["geometry", "geometry+image", "image"]
    assert scores["geometry"] <= 0.1  # separable: (almost) no out-of-fold error
    assert scores["image"] > 0.5  # noise: about a grade off on average
    assert min(scores, key=lambda k: scores[k]) in {"geometry", "geometry+image"}
