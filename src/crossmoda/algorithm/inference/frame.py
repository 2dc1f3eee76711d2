"""The canonical frame shared by training and inference (SimpleITK).

Every image is brought to one canonical frame: an axis-aligned grid with identity direction
(ITK's LPS; array order ``(z, y, x)`` = inferior->superior, anterior->posterior, right->left),
at the working spacing, inside a fixed-size box centred on both internal auditory canals. Oblique
and differently oriented inputs are handled by resampling in world coordinates. Predictions are
mapped back onto the exact input grid with :func:`roi_to_input`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy import ndimage

__all__ = [
    "Box",
    "box_at",
    "resample_box",
    "normalise",
    "coarse_box",
    "shrink",
    "centre_from_labels",
    "roi_to_input",
]

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
Vec3 = tuple[float, float, float]


class Box:
    """An axis-aligned (identity direction) grid: ``shape`` and ``spacing_mm`` in ``(z, y, x)``,
    ``origin`` in world ``(x, y, z)`` mm (ITK order)."""

    def __init__(self, origin: Vec3, spacing_mm: Vec3, shape: tuple[int, int, int]) -> None:
        self.origin = origin
        self.spacing_mm = spacing_mm
        self.shape = shape

    @property
    def centre(self) -> Vec3:
        """World centre ``(x, y, z)`` in mm."""
        o, s, n = self.origin, self.spacing_mm[::-1], self.shape[::-1]
        return (o[0] + s[0] * (n[0] - 1) / 2, o[1] + s[1] * (n[1] - 1) / 2, o[2] + s[2] * (n[2] - 1) / 2)

    def index_to_world(self, index_zyx: Vec3) -> Vec3:
        """World ``(x, y, z)`` of a continuous array index ``(z, y, x)``."""
        s = self.spacing_mm
        return (
            self.origin[0] + index_zyx[2] * s[2],
            self.origin[1] + index_zyx[1] * s[1],
            self.origin[2] + index_zyx[0] * s[0],
        )

    def reference(self) -> sitk.Image:
        """An empty image on this grid (for ``sitk.Resample``)."""
        ref = sitk.Image([int(v) for v in self.shape[::-1]], sitk.sitkUInt8)
        ref.SetSpacing([float(v) for v in self.spacing_mm[::-1]])
        ref.SetOrigin([float(v) for v in self.origin])
        ref.SetDirection(IDENTITY)
        return ref

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        """JSON form."""
        return {"origin": list(self.origin), "spacing_mm": list(self.spacing_mm), "shape": list(self.shape)}


def box_at(centre_xyz: Vec3, spacing_mm: Vec3, shape: tuple[int, int, int]) -> Box:
    """The box of ``shape`` voxels at ``spacing_mm`` (both ``(z, y, x)``) centred on a world point."""
    sx = spacing_mm[::-1]
    nx = shape[::-1]
    origin = tuple(float(c - s * (n - 1) / 2) for c, s, n in zip(centre_xyz, sx, nx, strict=True))
    return Box((origin[0], origin[1], origin[2]), spacing_mm, shape)


def resample_box(image: sitk.Image, box: Box, *, label: bool = False) -> npt.NDArray[Any]:
    """``image`` resampled onto ``box``: ``(z, y, x)`` array. Outside the image: NaN (images) or 0
    (labels, nearest neighbour)."""
    interp = sitk.sitkNearestNeighbor if label else sitk.sitkLinear
    src = image if label else sitk.Cast(image, sitk.sitkFloat32)
    default = 0.0 if label else float("nan")
    out = sitk.Resample(src, box.reference(), sitk.Transform(), interp, default, src.GetPixelID())
    arr = sitk.GetArrayFromImage(out)
    return arr.astype(np.uint8 if label else np.float32, copy=False)


def normalise(
    array: npt.NDArray[np.floating], percentiles: tuple[float, float] = (0.5, 99.5)
) -> npt.NDArray[np.float32]:
    """Percentile clip then z-score over finite voxels; NaN (outside the image) -> clipped minimum."""
    finite = np.isfinite(array)
    if not finite.any():
        return np.zeros(array.shape, dtype=np.float32)
    vals = array[finite]
    lo, hi = np.percentile(vals, percentiles)
    clipped = np.clip(np.where(finite, array, lo), lo, hi)
    inside = clipped[finite]
    mean, std = float(inside.mean()), float(inside.std())
    return ((clipped - mean) / max(std, 1e-6)).astype(np.float32)


def _world_corners(image: sitk.Image) -> npt.NDArray[np.float64]:
    size = image.GetSize()
    corners = [
        image.TransformContinuousIndexToPhysicalPoint(
            (
                i * (size[0] - 0.5) - 0.5 * (1 - i),
                j * (size[1] - 0.5) - 0.5 * (1 - j),
                k * (size[2] - 0.5) - 0.5 * (1 - k),
            )
        )
        for i in (0, 1)
        for j in (0, 1)
        for k in (0, 1)
    ]
    return np.asarray(corners, dtype=np.float64)


def coarse_box(image: sitk.Image, spacing: float, margin_mm: float = 0.0) -> Box:
    """Axis-aligned box at isotropic ``spacing`` covering the image's extent plus ``margin_mm``."""
    corners = _world_corners(image)
    lo = corners.min(axis=0) - margin_mm
    hi = corners.max(axis=0) + margin_mm
    n_xyz = np.maximum(np.ceil((hi - lo) / spacing).astype(int), 1)
    origin = lo + spacing / 2
    return Box(
        (float(origin[0]), float(origin[1]), float(origin[2])),
        (spacing, spacing, spacing),
        (int(n_xyz[2]), int(n_xyz[1]), int(n_xyz[0])),
    )


def shrink(image: sitk.Image, spacing: float) -> sitk.Image:
    factors = [max(int(spacing / s), 1) for s in image.GetSpacing()]
    img = sitk.Cast(image, sitk.sitkFloat32)
    return sitk.BinShrink(img, factors) if max(factors) > 1 else img






def centre_from_labels(label: sitk.Image, cochlea_value: int = 2) -> Vec3:
    """World midpoint of the two largest cochlea components (both canals); falls back to the
    centroid of all labelled voxels when fewer than two cochleas exist.

    Raises:
        ValueError: when the label map is empty.
    """
    arr = sitk.GetArrayViewFromImage(label)
    comp, n = ndimage.label(arr == cochlea_value)
    if n >= 2:
        sizes = ndimage.sum(np.ones_like(comp), comp, index=np.arange(1, n + 1))
        top = np.argsort(sizes)[::-1][:2] + 1
        cents = [ndimage.center_of_mass(comp == t) for t in top]
        idx = tuple(float((a + b) / 2) for a, b in zip(cents[0], cents[1], strict=True))
    elif np.any(arr > 0):
        idx = tuple(float(v) for v in ndimage.center_of_mass(arr > 0))
    else:
        raise ValueError("empty label map: cannot place the crop")
    pt = label.TransformContinuousIndexToPhysicalPoint((idx[2], idx[1], idx[0]))
    return (float(pt[0]), float(pt[1]), float(pt[2]))


def roi_to_input(
    probs: npt.NDArray[np.float32], box: Box, image: sitk.Image
) -> tuple[npt.NDArray[np.float32], tuple[slice, slice, slice]]:
    """Map class probabilities ``(C, z, y, x)`` on ``box`` onto the input grid.

    Returns the probabilities on the input's sub-grid covered by the box (linear interpolation;
    background channel 1 and others 0 where the box does not reach) and the ``(z, y, x)``
    slices of that sub-grid in the input array. Everything outside the slices is background.
    """
    size = np.asarray(image.GetSize())
    ref = box.reference()
    corners = _world_corners(ref)
    cidx = np.asarray(
        [image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in c)) for c in corners]
    )
    lo = np.clip(np.floor(cidx.min(axis=0)).astype(int), 0, size - 1)
    hi = np.clip(np.ceil(cidx.max(axis=0)).astype(int), 0, size - 1)
    ext = np.maximum(hi - lo + 1, 1)
    sub = sitk.RegionOfInterest(image, [int(v) for v in ext], [int(v) for v in lo])
    out = np.zeros((probs.shape[0], int(ext[2]), int(ext[1]), int(ext[0])), dtype=np.float32)
    for c in range(probs.shape[0]):
        src = sitk.GetImageFromArray(np.ascontiguousarray(probs[c], dtype=np.float32))
        src.SetSpacing(ref.GetSpacing())
        src.SetOrigin(ref.GetOrigin())
        src.SetDirection(ref.GetDirection())
        res = sitk.Resample(
            src, sub, sitk.Transform(), sitk.sitkLinear, 1.0 if c == 0 else 0.0, sitk.sitkFloat32
        )
        out[c] = sitk.GetArrayFromImage(res)
    slices = (
        slice(int(lo[2]), int(lo[2] + ext[2])),
        slice(int(lo[1]), int(lo[1] + ext[1])),
        slice(int(lo[0]), int(lo[0] + ext[0])),
    )
    return out, slices
