"""Per-structure segmentation metrics with an explicit edge-case policy table.

Metric names are those of :data:`crossmoda.core.metrics_spec.METRICS`:

==============  =====================================================================
``Dice``        Dice similarity coefficient
``ASSD``        mean of the two directed average border-voxel distances (medpy 0.4,
                crossMoDA 2022 scorer), mm
``ASSDPooled``  mean of all border-voxel distances of both surfaces (medpy 0.5.2, MONAI), mm
``ASSDSurfel``  mean of the two directed surfel-area weighted averages (DeepMind), mm
``HD95``        95th percentile of the pooled border-voxel distances (medpy ``hd95``), mm
==============  =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crossmoda.core.metrics_spec import ASSD_CAP_MM, METRICS
from crossmoda.evaluation.surface import (
    SurfaceDistances,
    bounding_box,
    dice,
    surface_distances,
    surfel_distances,
    union_bounding_box,
)

__all__ = [
    "SEGMENTATION_METRICS",
    "DEFAULT_METRICS",
    "DISTANCE_METRICS",
    "EdgeCase",
    "EdgeCasePolicy",
    "DEFAULT_POLICY",
    "edge_case",
    "structure_metrics",
]

SEGMENTATION_METRICS: tuple[str, ...] = ("Dice", "ASSD", "ASSDPooled", "ASSDSurfel", "HD95")
"""Every segmentation metric this module computes, in column order."""

DEFAULT_METRICS: tuple[str, ...] = SEGMENTATION_METRICS
"""Metrics computed unless configured otherwise (the challenge's Dice and ASSD come first)."""

DISTANCE_METRICS: frozenset[str] = frozenset({"ASSD", "ASSDPooled", "ASSDSurfel", "HD95"})


class EdgeCase:
    """Names of the situations where at least one mask is empty."""

    PRED_EMPTY = "prediction empty, reference not"
    REF_EMPTY = "reference empty, prediction not"
    BOTH_EMPTY = "both empty"


@dataclass(frozen=True)
class EdgeCasePolicy:
    """The value of every metric when a mask is empty; ``"cap"`` stands for ``distance_cap_mm``.

    Attributes:
        distance_cap_mm: Distance given to an unmatched surface (crossMoDA: 350 mm). Computed
            distances are also clipped to it, so a wrong prediction never scores worse than none.
        table: Edge case -> metric -> value (float or ``"cap"``).
    """

    distance_cap_mm: float = ASSD_CAP_MM
    table: Mapping[str, Mapping[str, float | str]] = field(
        default_factory=lambda: {
            EdgeCase.PRED_EMPTY: {"Dice": 0.0, "ASSD": "cap", "ASSDPooled": "cap", "ASSDSurfel": "cap",
                                  "HD95": "cap"},
            EdgeCase.REF_EMPTY: {"Dice": 0.0, "ASSD": "cap", "ASSDPooled": "cap", "ASSDSurfel": "cap",
                                 "HD95": "cap"},
            EdgeCase.BOTH_EMPTY: {"Dice": 1.0, "ASSD": 0.0, "ASSDPooled": 0.0, "ASSDSurfel": 0.0,
                                  "HD95": 0.0},
        }
    )

    def __post_init__(self) -> None:
        if not np.isfinite(self.distance_cap_mm) or self.distance_cap_mm <= 0:
            raise ValueError(f"distance cap must be a positive finite number, got {self.distance_cap_mm}")

    def value(self, case: str, metric: str) -> float:
        """Value of ``metric`` in edge case ``case``."""
        raw = self.table[case][metric]
        return self.distance_cap_mm if raw == "cap" else float(raw)

    def worst(self, metric: str) -> float:
        """Value of a missing or failed case (the metric spec's worst; the cap for distances)."""
        return self.distance_cap_mm if metric in DISTANCE_METRICS else METRICS[metric].worst

    def to_dict(self) -> dict[str, object]:
        """JSON form (for provenance and docs)."""
        return {"distance_cap_mm": self.distance_cap_mm, "table": {k: dict(v) for k, v in self.table.items()}}


DEFAULT_POLICY = EdgeCasePolicy()


def edge_case(pred_empty: bool, ref_empty: bool) -> str | None:
    """The :class:`EdgeCase` name for the emptiness of the two masks (``None``: both non-empty)."""
    if pred_empty and ref_empty:
        return EdgeCase.BOTH_EMPTY
    if pred_empty:
        return EdgeCase.PRED_EMPTY
    if ref_empty:
        return EdgeCase.REF_EMPTY
    return None


def structure_metrics(
    pred: npt.NDArray[np.bool_],
    ref: npt.NDArray[np.bool_],
    spacing_mm: Sequence[float],
    metrics: Sequence[str] = DEFAULT_METRICS,
    policy: EdgeCasePolicy = DEFAULT_POLICY,
) -> dict[str, float]:
    """Metrics of one structure: ``{metric: value}``, always finite.

    Surface distances are computed once per surface definition and reduced for every metric
    that needs them; both masks are first cropped to their joint bounding box (+1 voxel).

    Args:
        pred: Boolean prediction mask ``(z, y, x)``.
        ref: Boolean reference mask, same shape.
        spacing_mm: Voxel spacing in mm in array order.
        metrics: Names from :data:`SEGMENTATION_METRICS`.
        policy: Values for empty masks and the distance cap.
    """
    unknown = [m for m in metrics if m not in SEGMENTATION_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {SEGMENTATION_METRICS}")
    p, r = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if p.shape != r.shape:
        raise ValueError(f"prediction shape {p.shape} != reference shape {r.shape}")
    bp, br = bounding_box(p, margin=1), bounding_box(r, margin=1)
    case = edge_case(bp is None, br is None)
    if case is not None:
        return {m: policy.value(case, m) for m in metrics}
    box = union_bounding_box([bp, br])
    assert box is not None
    p, r = p[box], r[box]
    out: dict[str, float] = {}
    voxels: SurfaceDistances | None = None
    surfels: SurfaceDistances | None = None
    if any(m in metrics for m in ("ASSD", "ASSDPooled", "HD95")):
        voxels = surface_distances(p, r, spacing_mm)
    if "ASSDSurfel" in metrics:
        surfels = surfel_distances(p, r, spacing_mm)
    for m in metrics:
        if m == "Dice":
            value = dice(p, r)
            out[m] = 0.0 if value is None else value
        elif m == "ASSDSurfel":
            assert surfels is not None
            out[m] = surfels.assd_area_weighted()
        else:
            assert voxels is not None
            out[m] = {
                "ASSD": voxels.assd_mean_of_means,
                "ASSDPooled": voxels.assd_pooled,
                "HD95": voxels.hd_percentile,
            }[m]()
    for m in out:
        if m in DISTANCE_METRICS:
            out[m] = min(out[m], policy.distance_cap_mm)
        if not np.isfinite(out[m]):  # cannot happen for non-empty masks; guard the JSON anyway
            out[m] = policy.worst(m)
    return out
