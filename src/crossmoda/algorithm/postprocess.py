"""Post-processing of label maps on the input grid: one VS, at most one cochlea per side."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = ["largest_components", "one_component_per_side"]


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
