"""Evaluate one case from its prediction and reference label files.

Reading is validated by :mod:`crossmoda.core.io` (voxel cap before decompression, 3D scalar,
data length as the header declares, finite values); the prediction is an untrusted file (a
symbolic link or special file is refused, never read). The prediction's voxel cap is the
reference's voxel count, so a decompression bomb is refused from its header. Label values are
checked inside the non-zero bounding box only (outside it every voxel is 0, which is always
allowed), which avoids a full-volume ``unique``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmoda.core.errors import CrossmodaError, LabelValueError
from crossmoda.core.io import DEFAULT_MAX_VOXELS, Geometry, check_same_geometry, read_array
from crossmoda.core.labels import LabelMap
from crossmoda.core.metrics_spec import CHALLENGE_COLUMNS
from crossmoda.evaluation.metrics import DEFAULT_METRICS, DEFAULT_POLICY, EdgeCasePolicy, structure_metrics
from crossmoda.evaluation.surface import bounding_box, union_bounding_box

__all__ = ["CaseConfig", "CaseResult", "worst_values", "evaluate_arrays", "evaluate_case"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseConfig:
    """How a case is scored.

    Attributes:
        label_map: Label map of both files; its regions are the structures scored.
        metrics: Metric names (see :mod:`crossmoda.evaluation.metrics`).
        policy: Edge-case policy and distance cap.
        max_voxels: Voxel cap for the reference (the prediction's cap is the reference size).
        spacing_tol: Relative spacing tolerance between prediction and reference.
        origin_tol_mm: Origin tolerance in mm.
        direction_tol: Element-wise direction-cosine tolerance.
    """

    label_map: LabelMap
    metrics: tuple[str, ...] = DEFAULT_METRICS
    policy: EdgeCasePolicy = DEFAULT_POLICY
    max_voxels: int = DEFAULT_MAX_VOXELS
    spacing_tol: float = 1e-4
    origin_tol_mm: float = 1e-3
    direction_tol: float = 1e-4

    def columns(self) -> list[str]:
        """Metric columns: ``VS_Dice, VS_ASSD, Cochlea_Dice, Cochlea_ASSD`` first (those computed),
        then the other regions' Dice and ASSD, then the extra metrics region by region."""
        primary = [m for m in ("Dice", "ASSD") if m in self.metrics]
        rest = [m for m in self.metrics if m not in primary]
        cols = [f"{r.name}_{m}" for r in self.label_map.regions for m in primary]
        cols += [f"{r.name}_{m}" for r in self.label_map.regions for m in rest]
        first = [c for c in CHALLENGE_COLUMNS if c in cols]
        return first + [c for c in cols if c not in first]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for provenance."""
        return {
            "label_map": self.label_map.to_dict(),
            "metrics": list(self.metrics),
            "policy": self.policy.to_dict(),
            "max_voxels": self.max_voxels,
            "tolerances": {"spacing_rel": self.spacing_tol, "origin_mm": self.origin_tol_mm,
                           "direction": self.direction_tol},
        }


@dataclass
class CaseResult:
    """Metrics of one case (always complete and finite) and, when it failed, why.

    Attributes:
        case: Case name.
        values: Column -> value (worst values when ``error`` is set).
        error: ``None``, or a message naming the problem.
        error_file: The file the error is about.
        seconds: Wall time spent on the case.
    """

    case: str
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_file: str | None = None
    seconds: float = 0.0


def worst_values(config: CaseConfig) -> dict[str, float]:
    """Worst value of every column (Dice 0, distances the cap)."""
    return {c: config.policy.worst(c.rsplit("_", 1)[1]) for c in config.columns()}


def _check_labels(array: npt.NDArray[Any], box: Any, label_map: LabelMap, path: Path) -> None:
    if box is None:
        return
    sub = np.asarray(array[box])
    if not np.issubdtype(sub.dtype, np.integer) and not np.array_equal(sub, np.round(sub)):
        raise LabelValueError(path, "label image holds non-integer values")
    invalid = label_map.invalid_values(sub)
    if invalid:
        raise LabelValueError(
            path, f"values {invalid[:10]} are not in label map {label_map.name!r} "
                  f"(allowed {sorted(label_map.allowed_values)})"
        )


def evaluate_arrays(
    pred: npt.NDArray[Any], ref: npt.NDArray[Any], spacing_mm: Sequence[float], config: CaseConfig
) -> dict[str, float]:
    """Metrics of every region of ``config.label_map`` for two label arrays ``(z, y, x)``.

    Both arrays are cropped once to the bounding box of their non-zero voxels (+1 voxel), then
    each region is cropped again to its own box inside :func:`structure_metrics`.
    """
    box = union_bounding_box([bounding_box(pred, margin=1), bounding_box(ref, margin=1)])
    if box is not None:
        pred, ref = pred[box], ref[box]
    values: dict[str, float] = {}
    for region in config.label_map.regions:
        pm = region.mask(pred) if box is not None else np.zeros(pred.shape, dtype=bool)
        rm = region.mask(ref) if box is not None else np.zeros(ref.shape, dtype=bool)
        scores = structure_metrics(pm, rm, spacing_mm, config.metrics, config.policy)
        values.update({f"{region.name}_{m}": v for m, v in scores.items()})
    return {c: values[c] for c in config.columns()}


def _read_labels(path: Path, max_voxels: int, untrusted: bool) -> tuple[npt.NDArray[Any], Geometry, Any]:
    array, geometry = read_array(path, max_voxels=max_voxels, untrusted=untrusted)
    return array, geometry, bounding_box(array, margin=1)


def evaluate_case(case: str, prediction: Path | None, reference: Path, config: CaseConfig) -> CaseResult:
    """Read, validate and score one case; any bad input gives worst values and a message.

    Args:
        case: Case name (reported).
        prediction: Prediction label file, or ``None`` when missing.
        reference: Ground-truth label file.
        config: Scoring configuration.
    """
    start = time.perf_counter()
    result = CaseResult(case=case, values=worst_values(config))
    current = reference
    try:
        ref, ref_geo, ref_box = _read_labels(reference, config.max_voxels, untrusted=False)
        _check_labels(ref, ref_box, config.label_map, reference)
        if prediction is None:
            result.error, result.error_file = "prediction missing", None
            return result
        current = prediction
        cap = min(config.max_voxels, int(np.prod(ref_geo.size, dtype=np.int64)))
        pred, pred_geo, pred_box = _read_labels(prediction, cap, untrusted=True)
        check_same_geometry(
            pred_geo, ref_geo, prediction, spacing_tol=config.spacing_tol,
            origin_tol_mm=config.origin_tol_mm, direction_tol=config.direction_tol,
        )
        _check_labels(pred, pred_box, config.label_map, prediction)
        result.values = evaluate_arrays(pred, ref, ref_geo.spacing_mm, config)
    except CrossmodaError as err:
        role = "reference" if current == reference else "prediction"
        result.error, result.error_file = f"{role}: {err.problem}", str(current)
        logger.warning("%s: %s", case, err)
    except (ValueError, MemoryError, OSError) as err:
        role = "reference" if current == reference else "prediction"
        result.error, result.error_file = f"{role}: {type(err).__name__}: {err}", str(current)
        logger.warning("%s: %s", case, err)
    finally:
        result.seconds = time.perf_counter() - start
    return result
