"""Recompute a phantom case's Koos grade from its written label files and ``meta/<case>.json``.

Independent of the generator's code path: it reads the files, maps voxels to world LPS mm with
the header geometry, and applies the Koos definitions:

* extrameatal extent: how far the VS reaches medially beyond the porus along the canal axis;
* contact: whether the VS and the (written, post-warp) brainstem touch (26-neighbourhood);
* compression: the pre-warp penetration and displacement recorded in ``meta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import cKDTree

from crossmoda.core.io import Geometry

__all__ = ["KoosEvidence", "voxel_world", "koos_evidence", "grade_from_evidence",
           "EXTENT_I_MAX_MM", "EXTENT_MIN_MM"]

EXTENT_I_MAX_MM = 1.0
"""A grade I tumour reaches at most this far medial of the porus (voxelisation tolerance)."""
EXTENT_MIN_MM = 2.0
"""Grades II-IV reach at least this far medial of the porus."""


@dataclass(frozen=True)
class KoosEvidence:
    """Geometric facts of one case, measured on its written labels (world mm)."""

    vs_voxels: int
    extent_medial_mm: float
    touches_brainstem: bool
    min_distance_mm: float
    penetration_prewarp_mm: float
    displacement_mm: float


def voxel_world(geometry: Geometry, index_zyx: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """World LPS mm of voxel indices ``(N, 3)`` given in array order ``(z, y, x)``."""
    ijk = np.asarray(index_zyx, dtype=np.float64)[:, ::-1]
    d = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3)
    return np.asarray(np.asarray(geometry.origin) + (ijk * np.asarray(geometry.spacing)) @ d.T)


def koos_evidence(label: npt.NDArray[np.integer], aux: npt.NDArray[np.integer], geometry: Geometry,
                  meta: dict[str, Any]) -> KoosEvidence:
    """Measure extent beyond the porus, brainstem contact and distance from written labels
    (VS = label 1, or labels {1, 2} in a 2023 case, whose meta names its label map)."""
    vs = np.isin(label, (1, 2)) if meta.get("label_map") == "crossmoda2023" else label == 1
    stem = aux == 1
    n_vs = int(np.count_nonzero(vs))
    if n_vs == 0:
        return KoosEvidence(0, float("nan"), False, float("inf"), 0.0, 0.0)
    porus = np.asarray(meta["porus_lps"], dtype=np.float64)
    axis = np.asarray(meta["canal_axis_lps"], dtype=np.float64)
    pts = voxel_world(geometry, np.argwhere(vs))
    extent = float(np.max(-(pts - porus) @ axis))
    touches = bool(np.any(ndimage.binary_dilation(vs, structure=np.ones((3, 3, 3), bool)) & stem))
    if stem.any():
        edge = stem & ~ndimage.binary_erosion(stem)
        tree = cKDTree(voxel_world(geometry, np.argwhere(edge)))
        vs_edge = vs & ~ndimage.binary_erosion(vs)
        dist, _ = tree.query(voxel_world(geometry, np.argwhere(vs_edge)), k=1)
        min_dist = float(np.min(dist))
    else:
        min_dist = float("inf")
    return KoosEvidence(
        vs_voxels=n_vs,
        extent_medial_mm=extent,
        touches_brainstem=touches,
        min_distance_mm=min_dist,
        penetration_prewarp_mm=float(meta.get("brainstem_penetration_mm") or 0.0),
        displacement_mm=float(meta.get("brainstem_displacement_mm") or 0.0),
    )


def grade_from_evidence(ev: KoosEvidence) -> int | None:
    """Koos grade from evidence; ``None`` when there is no tumour (post-operative) or the
    evidence fits no grade (e.g. an extent between the grade I and II thresholds)."""
    if ev.vs_voxels == 0:
        return None
    if ev.extent_medial_mm <= EXTENT_I_MAX_MM:
        return 1
    if ev.extent_medial_mm < EXTENT_MIN_MM:
        return None
    if not ev.touches_brainstem:
        return 2
    if ev.displacement_mm > 0.0 and ev.penetration_prewarp_mm >= 2.0:
        return 4
    return 3
