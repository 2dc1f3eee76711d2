"""Localisation of the region around both internal auditory canals by template matching.

Pure numpy/scipy: a normalised cross-correlation (NCC) of a low-resolution hrT2 template
(built from unlabelled training images) over a low-resolution, axis-aligned copy of the
input, computed with FFTs. NCC is invariant to the intensity scale and offset of each site, and
the search runs over the whole field of view, so the same template serves ``small`` crops
and ``full`` images.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import fftconvolve

__all__ = ["ncc_map", "best_match", "robust_scale"]

FloatArray = npt.NDArray[np.float32]


def robust_scale(array: npt.NDArray[np.floating], low: float = 1.0, high: float = 99.0) -> FloatArray:
    """Clip to the ``low``/``high`` percentiles of finite voxels and map to [0, 1]; NaN -> 0."""
    finite = np.isfinite(array)
    if not finite.any():
        return np.zeros(array.shape, dtype=np.float32)
    lo, hi = np.percentile(array[finite], [low, high])
    out = np.where(finite, array, lo).astype(np.float32)
    out = np.clip(out, lo, hi)
    return ((out - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)


def ncc_map(image: npt.NDArray[np.floating], template: npt.NDArray[np.floating]) -> FloatArray:
    """NCC of ``template`` at every fully overlapping position of ``image`` (3D, 'valid' mode).

    Returns an array of shape ``image.shape - template.shape + 1``; entry ``i`` is the Pearson
    correlation between the template and ``image[i : i + template.shape]`` (0 where flat).
    """
    img = np.asarray(image, dtype=np.float64)
    tpl = np.asarray(template, dtype=np.float64)
    if any(s < t for s, t in zip(img.shape, tpl.shape, strict=True)):
        raise ValueError(f"image {img.shape} smaller than template {tpl.shape}")
    t0 = tpl - tpl.mean()
    t_norm = float(np.sqrt((t0**2).sum()))
    n = tpl.size
    ones = np.ones(tpl.shape)
    num = fftconvolve(img, t0[::-1, ::-1, ::-1], mode="valid")
    s1 = fftconvolve(img, ones, mode="valid")
    s2 = fftconvolve(img**2, ones, mode="valid")
    var = np.maximum(s2 - s1**2 / n, 0.0)
    denom = np.sqrt(var) * t_norm
    ncc = np.where(denom > 1e-6 * max(t_norm, 1e-12) * np.sqrt(n), num / np.maximum(denom, 1e-12), 0.0)
    return np.clip(ncc, -1.0, 1.0).astype(np.float32)


def best_match(
    image: npt.NDArray[np.floating], template: npt.NDArray[np.floating]
) -> tuple[tuple[float, float, float], float]:
    """Centre (continuous voxel index ``(z, y, x)`` in ``image``) of the best NCC match, and its score.

    The centre of a template of shape ``s`` placed at corner ``i`` is ``i + (s - 1) / 2``.
    """
    ncc = ncc_map(image, template)
    corner = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    centre = tuple(float(c + (s - 1) / 2.0) for c, s in zip(corner, template.shape, strict=True))
    return (centre[0], centre[1], centre[2]), float(ncc[corner])
