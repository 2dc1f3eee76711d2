"""Post-processing of label maps on the input grid: one VS, at most one cochlea per side."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = ["VS_MAX_COCHLEA_DISTANCE_MM", "largest_components", "one_component_per_side", "vs_component"]

VS_MAX_COCHLEA_DISTANCE_MM = 12.0
"""A schwannoma grows from the vestibular nerve inside the internal auditory canal, whose fundus
abuts the cochlea: every real tumour, even a small intracanalicular one, reaches within about
10 mm of a cochlea, while false positives (fourth ventricle, cisterns) lie further away."""


def largest_components(mask: npt.NDArray[np.bool_], keep: int = 1) -> npt.NDArray[np.bool_]:
    """The ``keep`` largest 26-connected components of ``mask`` (same shape, bool)."""
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= keep:
        return mask.astype(bool)
    sizes = np.bincount(comp.ravel())[1:]
    top = np.argsort(sizes)[::-1][:keep] + 1
    return np.isin(comp, top)


def one_component_per_side(
    mask: npt.NDArray[np.bool_], side_of: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Keep the largest component on each side of the head.

    Args:
        mask: Boolean mask ``(z, y, x)``.
        side_of: Per-voxel signed lateral coordinate (e.g. world x minus the midline, mm), same
            shape or broadcastable; components are assigned to a side by the sign at their centroid.
    """
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return mask.astype(bool)
    side = np.broadcast_to(side_of, mask.shape)
    sizes = np.bincount(comp.ravel(), minlength=n + 1)
    lateral = np.bincount(comp.ravel(), weights=side.ravel(), minlength=n + 1) / np.maximum(sizes, 1)
    keep = []
    for sign in (-1.0, 1.0):
        ids = [i for i in range(1, n + 1) if np.sign(lateral[i]) == sign or (sign > 0 and lateral[i] == 0)]
        if ids:
            keep.append(max(ids, key=lambda i: sizes[i]))
    return np.isin(comp, keep)


def vs_component(
    mask: npt.NDArray[np.bool_],
    probability: npt.NDArray[np.floating],
    cochlea: npt.NDArray[np.bool_],
    spacing_mm: tuple[float, float, float],
    max_distance_mm: float = VS_MAX_COCHLEA_DISTANCE_MM,
) -> npt.NDArray[np.bool_]:
    """The one VS component: among the 26-connected components of ``mask`` that come within
    ``max_distance_mm`` of a ``cochlea`` voxel, the one of largest summed ``probability``; without a
    predicted cochlea, the largest component; none near a cochlea: an empty mask (no tumour).

    Args:
        mask: Boolean VS mask ``(z, y, x)``.
        probability: VS probability, same shape.
        cochlea: Boolean cochlea mask, same shape.
        spacing_mm: Voxel spacing in array order ``(z, y, x)``, mm.
        max_distance_mm: Largest allowed gap between the tumour and a cochlea, mm.
    """
    if not cochlea.any():
        return largest_components(mask, 1)
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return mask.astype(bool)
    dist = ndimage.distance_transform_edt(~cochlea, sampling=spacing_mm)
    near = ndimage.minimum(dist, comp, index=np.arange(1, n + 1))
    mass = ndimage.sum(probability, comp, index=np.arange(1, n + 1))
    ok = [i for i in range(n) if near[i] <= max_distance_mm]
    if not ok:
        return np.zeros(mask.shape, dtype=bool)
    best = max(ok, key=lambda i: mass[i]) + 1
    return np.asarray(comp == best)
