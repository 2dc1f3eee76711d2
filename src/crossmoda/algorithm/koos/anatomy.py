"""Structures and the anatomical frame of one case: midline, lateral axis, canal axis, porus.

Everything here works in the *voxel-mm frame*: a voxel with array index ``(k, j, i)`` sits at
``(k * sz, j * sy, i * sx)`` mm, with ``spacing_mm = (sz, sy, sx)`` in array order
(:attr:`crossmoda.core.io.Geometry.spacing_mm`). Directions are unit 3-vectors in that frame.

The porus (medial opening of the internal auditory canal) and the canal axis are *estimated*
from the predicted structures only, so training and inference see the same thing:

* the two cochleas give the lateral axis (from the contralateral to the ipsilateral cochlea,
  the ipsilateral one being nearer the tumour) and the midsagittal plane (through their midpoint);
* the canal axis points medially, along minus the lateral axis;
* the porus lies on that axis at a fixed fraction of the inter-cochlear distance medial of the
  ipsilateral cochlea (:attr:`FrameConfig.porus_fraction`, an anatomical ratio that
  :func:`calibrate_porus_fraction` can refit from cases with a known porus).

Fallbacks when a cochlea is missing are listed in :func:`estimate_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = [
    "Structures",
    "FrameConfig",
    "CanalFrame",
    "structures_from_arrays",
    "voxel_coords_mm",
    "estimate_frame",
    "calibrate_porus_fraction",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Structures:
    """Boolean masks ``(z, y, x)`` of the structures the grader uses, all on one grid."""

    vs: BoolArray
    cochlea: BoolArray
    brainstem: BoolArray
    cerebellum: BoolArray


def structures_from_arrays(
    labels: npt.NDArray[np.integer], aux: npt.NDArray[np.integer] | None = None
) -> Structures:
    """Masks from a label array and an optional auxiliary array (same shape).

    With ``aux`` given, ``labels`` follows crossMoDA 2022 (1 VS, 2 cochlea) and ``aux`` follows
    :data:`crossmoda.core.labels.AUX_LABELS` (1 brainstem, 2 cerebellum). With ``aux=None``,
    ``labels`` is the segmenter's combined map (0 bg, 1 VS, 2 cochlea, 3 brainstem, 4 cerebellum).
    A voxel that is VS is never brainstem (VS wins where the two files overlap).
    """
    lab = np.asarray(labels)
    vs = lab == 1
    cochlea = lab == 2
    if aux is None:
        brainstem, cerebellum = lab == 3, lab == 4
    else:
        ax = np.asarray(aux)
        if ax.shape != lab.shape:
            raise ValueError(f"aux shape {ax.shape} != labels shape {lab.shape}")
        brainstem, cerebellum = ax == 1, ax == 2
    return Structures(vs=vs, cochlea=cochlea, brainstem=brainstem & ~vs, cerebellum=cerebellum & ~vs)


@dataclass(frozen=True)
class FrameConfig:
    """Parameters of the porus estimator.

    Attributes:
        porus_fraction: Distance from the ipsilateral cochlea centroid to the porus along the canal
            axis, as a fraction of the inter-cochlear distance (dimensionless).
        fallback_porus_mm: That distance in mm when only one cochlea is found.
    """

    porus_fraction: float = 0.17
    fallback_porus_mm: float = 13.0


@dataclass(frozen=True)
class CanalFrame:
    """The estimated anatomical frame of a case (voxel-mm frame, see module docstring).

    Attributes:
        lateral: Unit vector from the midline towards the tumour side.
        midline_point: A point (mm) on the estimated midsagittal plane.
        cochlea: Ipsilateral cochlea centroid (mm), or ``None`` when no cochlea was found.
        axis: Unit canal axis pointing medially (fundus -> porus -> brainstem).
        porus: Estimated porus position (mm).
        cochlea_distance_mm: Distance between the two cochlea centroids (0 when fewer than two).
        method: How the frame was obtained (``two-cochleas``, ``one-cochlea``, ``no-cochlea``).
    """

    lateral: FloatArray
    midline_point: FloatArray
    cochlea: FloatArray | None
    axis: FloatArray
    porus: FloatArray
    cochlea_distance_mm: float
    method: str


def voxel_coords_mm(mask: BoolArray, spacing_mm: tuple[float, float, float]) -> FloatArray:
    """Centres (mm, voxel-mm frame) of the ``True`` voxels of ``mask``, shape ``(n, 3)``."""
    return np.argwhere(mask).astype(np.float64) * np.asarray(spacing_mm, dtype=np.float64)


def _components(mask: BoolArray, keep: int) -> list[BoolArray]:
    """The ``keep`` largest 26-connected components of ``mask``, largest first."""
    labelled, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return []
    sizes = np.bincount(labelled.ravel())[1:]
    order = np.argsort(-sizes, kind="stable")[:keep]
    return [labelled == (int(i) + 1) for i in order]


def estimate_frame(
    structures: Structures, spacing_mm: tuple[float, float, float], config: FrameConfig | None = None
) -> CanalFrame:
    """Estimate midline, lateral axis, canal axis and porus from the structures.

    Fallbacks: with one cochlea the lateral axis is the array x axis pointing from the midline
    point (brainstem centroid, else the grid centre) to that cochlea and the porus lies
    :attr:`FrameConfig.fallback_porus_mm` medial of it; with none the lateral axis points from
    the midline point towards the VS and the VS centroid stands in for the porus.
    """
    cfg = config or FrameConfig()
    sp = np.asarray(spacing_mm, dtype=np.float64)
    shape = np.asarray(structures.vs.shape, dtype=np.float64)
    vs_pts = voxel_coords_mm(structures.vs, spacing_mm)
    vs_centre = vs_pts.mean(axis=0) if len(vs_pts) else (shape - 1) / 2 * sp
    if structures.brainstem.any():
        mid_default = voxel_coords_mm(structures.brainstem, spacing_mm).mean(axis=0)
    else:
        mid_default = (shape - 1) / 2 * sp
    x_axis = np.array([0.0, 0.0, 1.0])

    comps = _components(structures.cochlea, keep=2)
    centroids = [voxel_coords_mm(c, spacing_mm).mean(axis=0) for c in comps]
    if len(centroids) == 2:
        a, b = centroids
        ipsi, contra = (a, b) if np.linalg.norm(a - vs_centre) <= np.linalg.norm(b - vs_centre) else (b, a)
        dist = float(np.linalg.norm(ipsi - contra))
        lateral = (ipsi - contra) / max(dist, 1e-9)
        midline = (ipsi + contra) / 2
        axis = -lateral
        porus = ipsi + cfg.porus_fraction * dist * axis
        return CanalFrame(lateral, midline, ipsi, axis, porus, dist, "two-cochleas")
    if len(centroids) == 1:
        ipsi = centroids[0]
        sign = 1.0 if ipsi[2] >= mid_default[2] else -1.0
        lateral = sign * x_axis
        axis = -lateral
        porus = ipsi + cfg.fallback_porus_mm * axis
        return CanalFrame(lateral, mid_default, ipsi, axis, porus, 0.0, "one-cochlea")
    sign = 1.0 if vs_centre[2] >= mid_default[2] else -1.0
    lateral = sign * x_axis
    return CanalFrame(lateral, mid_default, None, -lateral, vs_centre, 0.0, "no-cochlea")


def calibrate_porus_fraction(
    cochlea_mm: FloatArray, contra_cochlea_mm: FloatArray, porus_mm: FloatArray
) -> float:
    """Porus fraction of one case from a known porus (mm, voxel-mm frame, shape ``(3,)`` each).

    The projection of (porus - ipsilateral cochlea) on the medial axis, divided by the
    inter-cochlear distance; the median over training cases is a good :class:`FrameConfig` value.
    """
    dist = float(np.linalg.norm(cochlea_mm - contra_cochlea_mm))
    medial = (contra_cochlea_mm - cochlea_mm) / max(dist, 1e-9)
    return float(np.dot(porus_mm - cochlea_mm, medial) / max(dist, 1e-9))
