"""Fit the Koos grader on a run's source cases and check it: ``crossmoda-train koos RUN``.

Training matches inference when the features come from the segmenter's predictions on the
pseudo-hrT2 of the source cases (``labels``/``images`` of :class:`KoosTrainConfig`); without
them the ground-truth ``_Label`` + ``_Aux`` maps are used and a warning says so.
Outputs in ``output`` (``RUN/koos`` by default):

* ``koos_model.json``: the model (plain JSON, :func:`crossmoda.algorithm.koos.model.save_koos_model`);
* ``features_train.csv``: per-case features with cross-validated predictions and probabilities;
* ``features_validation.csv``: the same for the validation split (when it has labels);
* ``koos_summary.json``: resolved config, porus calibration, CV and validation metrics, provenance.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossmoda.algorithm.koos.anatomy import FrameConfig, estimate_frame, structures_from_arrays
from crossmoda.algorithm.koos.model import FEATURE_SETS, KoosModel, fit_koos, save_koos_model
from crossmoda.algorithm.koos.tables import (
    CaseFeatures,
    KoosCase,
    feature_rows,
    phantom_cases,
    prediction_cases,
    write_feature_csv,
)
from crossmoda.core.io import Geometry, read_array
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.provenance import provenance, write_json_atomic
from crossmoda.evaluation.koos import koos_metrics, ma_mae

__all__ = [
    "KoosTrainConfig",
    "read_meta_porus",
    "calibrate_frame",
    "cross_validate",
    "select_feature_set",
    "porus_errors",
    "predict_cases",
    "evaluate_rows",
    "train_koos",
]

logger = logging.getLogger(__name__)


@dataclass
class KoosTrainConfig:
    """Resolved configuration of ``crossmoda-train koos`` (written into the summary).

    Attributes:
        data: Data set root (``source_training/``, ``infos_source_training.csv``, ...).
        output: Output folder.
        labels: Segmenter predictions for the source cases (combined map, ``<case>_Label``), or
            ``None`` for the ground-truth ``_Label`` + ``_Aux``.
        images: Pseudo-hrT2 of the source cases (``<case>_hrT2``), or ``None`` (the phantom's true
            hrT2 on the ceT1 grid in ``paired_truth/`` when present).
        validation_labels: Segmenter predictions on the validation hrT2, or ``None`` (ground truth).
        feature_set: A key of :data:`FEATURE_SETS`, or ``auto``: the set with the lowest
            cross-validated MA-MAE on the training cases (ties: the first in
            :data:`FEATURE_SETS`; needs ``folds`` > 1).
        C: Inverse L2 strength of the logistic regressions.
        folds: Cross-validation folds for the reported training predictions (0: none).
        seed: Seed of the fold assignment.
        workers: Processes for feature extraction.
        calibrate_porus: Refit :attr:`FrameConfig.porus_fraction` from ``meta/<case>.json``
            porus positions when the data set has them (phantom).
    """

    data: Path
    output: Path
    labels: Path | None = None
    images: Path | None = None
    validation_labels: Path | None = None
    feature_set: str = "auto"
    C: float = 1.0
    folds: int = 5
    seed: int = 0
    workers: int = 1
    calibrate_porus: bool = True
    frame: FrameConfig = field(default_factory=FrameConfig)


def read_meta_porus(path: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Porus point and canal axis (world mm, LPS) from a phantom ``meta/<case>.json``, if any.

    Reads ``porus_lps`` and ``canal_axis_lps`` (``crossmoda-phantom``; the axis points laterally,
    porus to fundus); also accepts ``porus_world_mm``/``porus_mm``/``porus`` and
    ``canal_axis_world``/``canal_axis``/``axis``, at the top level or under ``tumour``/``canal``.
    """
    p = Path(path)
    if not p.is_file():
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    nested = ("tumour", "tumor", "canal", "geometry")
    scopes = [data, *(data[k] for k in nested if isinstance(data.get(k), dict))]
    porus = axis = None
    for scope in scopes:
        for key in ("porus_lps", "porus_world_mm", "porus_mm", "porus", "porus_world"):
            if porus is None and key in scope:
                porus = np.asarray(scope[key], dtype=np.float64)
        for key in ("canal_axis_lps", "canal_axis_world", "canal_axis", "axis", "canal_axis_mm"):
            if axis is None and key in scope:
                axis = np.asarray(scope[key], dtype=np.float64)
    if porus is None or porus.shape != (3,):
        return None
    if axis is None or axis.shape != (3,):
        axis = np.full(3, np.nan)
    return porus, axis


def _frame_world(case: KoosCase, frame: FrameConfig) -> tuple[Geometry, Any]:
    labels, geometry = read_array(case.labels)
    aux = read_array(case.aux)[0] if case.aux is not None else None
    return geometry, estimate_frame(structures_from_arrays(labels, aux), geometry.spacing_mm, frame)


def calibrate_frame(
    cases: Sequence[KoosCase], meta_dir: Path, base: FrameConfig, limit: int = 40,
) -> tuple[FrameConfig, dict[str, Any]]:
    """Median porus fraction over cases with a known porus; report of estimator errors (mm).

    With the known porus ``P``, ipsilateral cochlea ``C``, medial axis ``u`` and inter-cochlear
    distance ``d`` of the estimated frame: fraction = ``(P - C) . u / d``.
    """
    fractions: list[float] = []
    for case in cases[:limit]:
        meta = read_meta_porus(meta_dir / f"{case.case}.json")
        if meta is None:
            continue
        geometry, fr = _frame_world(case, base)
        if fr.method != "two-cochleas" or fr.cochlea is None:
            continue
        rot = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3)
        # World (x, y, z) -> voxel-mm (z, y, x) of this grid.
        p_mm = (rot.T @ (meta[0] - np.asarray(geometry.origin)))[::-1]
        fractions.append(float((p_mm - fr.cochlea) @ fr.axis / fr.cochlea_distance_mm))
    if not fractions:
        return base, {"calibrated": False, "n_cases": 0}
    fraction = float(np.median(fractions))
    report = {"calibrated": True, "n_cases": len(fractions), "porus_fraction": fraction,
              "fraction_iqr": [float(np.percentile(fractions, 25)), float(np.percentile(fractions, 75))]}
    return FrameConfig(porus_fraction=fraction, fallback_porus_mm=base.fallback_porus_mm), report


def porus_errors(rows: Sequence[CaseFeatures], meta_dir: Path) -> dict[str, float]:
    """Estimated vs meta porus: distance and its component along the true canal axis (mm),
    and the axis angle (degrees); median and max over cases."""
    dists, along, angles = [], [], []
    for r in rows:
        meta = read_meta_porus(meta_dir / f"{r.case}.json")
        if meta is None:
            continue
        delta = np.asarray(r.porus_world) - meta[0]
        dists.append(float(np.linalg.norm(delta)))
        if np.isfinite(meta[1]).all():
            a, b = np.asarray(r.axis_world), meta[1] / np.linalg.norm(meta[1])
            # Only the error along the canal moves the extent-beyond-porus feature.
            along.append(abs(float(delta @ b)))
            # The meta axis may point either way along the canal: use the acute angle.
            angles.append(float(np.degrees(np.arccos(min(1.0, abs(float(a @ b)))))))
    out: dict[str, float] = {"n_cases": float(len(dists))}
    for name, values, unit in (("porus_error", dists, "mm"), ("porus_error_along_axis", along, "mm"),
                               ("axis_angle", angles, "deg")):
        if values:
            out[f"{name}_median_{unit}"] = float(np.median(values))
            out[f"{name}_max_{unit}"] = float(np.max(values))
    return out


def cross_validate(
    rows: Sequence[CaseFeatures], feature_names: Sequence[str], C: float, folds: int, seed: int,
) -> dict[str, tuple[int, list[float]]]:
    """Out-of-fold grade and probabilities per case (folds stratified by grade, seeded)."""
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for g in sorted({r.grade for r in rows if r.grade is not None}):
        members = [r.case for r in rows if r.grade == g]
        order = rng.permutation(len(members))
        for rank, i in enumerate(order):
            fold_of[members[int(i)]] = rank % folds
    out: dict[str, tuple[int, list[float]]] = {}
    for k in range(folds):
        train = [r for r in rows if fold_of[r.case] != k]
        test = [r for r in rows if fold_of[r.case] == k]
        if not test or len({r.grade for r in train}) < 2:
            continue
        model = fit_koos([r.features for r in train], [int(r.grade or 0) for r in train],
                         feature_names=feature_names, C=C)
        grades, proba = model.predict_rows([r.features for r in test])
        for r, g, p in zip(test, grades, proba, strict=True):
            out[r.case] = (int(g), [float(v) for v in p])
    return out


def select_feature_set(rows: Sequence[CaseFeatures], cfg: KoosTrainConfig) -> dict[str, float]:
    """Cross-validated MA-MAE of every :data:`FEATURE_SETS` entry on the training ``rows`` (same
    folds, ``cfg.C``), in :data:`FEATURE_SETS` order: the training cases choose, never a test set."""
    out = {}
    for key, names in FEATURE_SETS.items():
        cv = cross_validate(rows, names, cfg.C, cfg.folds, cfg.seed)
        scored = [r for r in rows if r.case in cv]
        out[key] = ma_mae([int(r.grade or 0) for r in scored], [cv[r.case][0] for r in scored])
    return out


def predict_cases(model: KoosModel, rows: Sequence[CaseFeatures]) -> dict[str, tuple[int, list[float]]]:
    """Grade and probabilities of grades 1-4 per case."""
    if not rows:
        return {}
    grades, proba = model.predict_rows([r.features for r in rows])
    return {r.case: (int(g), [float(v) for v in p]) for r, g, p in zip(rows, grades, proba, strict=True)}


def evaluate_rows(
    model: KoosModel, rows: Sequence[CaseFeatures]
) -> tuple[dict[str, tuple[int, list[float]]], dict[str, Any]]:
    """Predictions per case and Koos metrics (:func:`crossmoda.evaluation.koos.koos_metrics`)."""
    preds = predict_cases(model, rows)
    result = koos_metrics({r.case: r.grade for r in rows}, {c: g for c, (g, _) in preds.items()})
    return preds, result.metrics


def train_koos(cfg: KoosTrainConfig) -> dict[str, Any]:
    """Fit, cross-validate, validate and save the grader; returns the summary (also written)."""
    if cfg.feature_set not in FEATURE_SETS and cfg.feature_set != "auto":
        raise ValueError(
            f"unknown feature set {cfg.feature_set!r}; known: {sorted(FEATURE_SETS)} or 'auto'"
        )
    if cfg.feature_set == "auto" and cfg.folds < 2:
        raise ValueError("feature_set 'auto' selects by cross-validation: folds must be >= 2")
    data = Path(cfg.data)
    if cfg.labels is not None:
        grades = read_koos_csv(data / "infos_source_training.csv", "crossmoda_name", "koos")
        cases = prediction_cases(cfg.labels, cfg.images, grades)
        source = "predictions"
    else:
        logger.warning("training the Koos grader on ground-truth labels: inference sees predictions")
        cases = phantom_cases(data, "source_training", image_dir=cfg.images)
        source = "ground-truth"
    cases = [c for c in cases if c.grade is not None]
    if not cases:
        raise FileNotFoundError(f"no graded source cases found under {data}")
    frame, calibration = cfg.frame, {"calibrated": False}
    if cfg.calibrate_porus and (data / "meta").is_dir():
        frame, calibration = calibrate_frame(cases, data / "meta", cfg.frame)
        logger.info("porus calibration: %s", calibration)
    rows = feature_rows(cases, frame, workers=cfg.workers, desc="koos features (train)")
    selection = select_feature_set(rows, cfg) if cfg.feature_set == "auto" else {}
    chosen = min(selection, key=lambda k: selection[k]) if selection else cfg.feature_set
    if selection:
        logger.info("koos feature set %r (cross-validated MA-MAE per set: %s)", chosen, selection)
    names = FEATURE_SETS[chosen]
    model = fit_koos([r.features for r in rows], [int(r.grade or 0) for r in rows], feature_names=names,
                     C=cfg.C, frame=frame, info={"training_source": source, "feature_set": chosen})
    out = Path(cfg.output)
    save_koos_model(model, out / "koos_model.json", cfg)
    summary: dict[str, Any] = {"n_train": len(rows), "training_source": source,
                               "porus_calibration": calibration, "feature_set": chosen}
    if selection:
        summary["feature_selection_cv_ma_mae"] = selection
    if (data / "meta").is_dir():
        summary["porus_estimator_train"] = porus_errors(rows, data / "meta")
    cv = cross_validate(rows, names, cfg.C, cfg.folds, cfg.seed) if cfg.folds > 1 else {}
    write_feature_csv(out / "features_train.csv", rows, cv or None)
    if cv:
        summary["cross_validation"] = koos_metrics(
            {r.case: r.grade for r in rows}, {c: g for c, (g, _) in cv.items()}).metrics
    val_cases = _validation_cases(data, cfg.validation_labels)
    if val_cases:
        val_rows = feature_rows(val_cases, frame, workers=cfg.workers, desc="koos features (validation)")
        preds, metrics = evaluate_rows(model, val_rows)
        write_feature_csv(out / "features_validation.csv", val_rows, preds)
        summary["validation"] = metrics
    summary["provenance"] = provenance("crossmoda-train koos", cfg)
    write_json_atomic(out / "koos_summary.json", summary)
    return summary


def _validation_cases(data: Path, predicted: Path | None) -> list[KoosCase]:
    table = data / "validation_labels" / "koos.csv"
    if predicted is not None:
        if not table.is_file():
            return []
        grades = read_koos_csv(table)
        cases = prediction_cases(predicted, data / "validation", grades)
    else:
        cases = phantom_cases(data, "validation")
    return [c for c in cases if c.grade is not None]
