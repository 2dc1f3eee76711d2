"""Localisation of the region around both internal auditory canals by template matching.

Pure numpy/scipy: a normalised cross-correlation (NCC) of a low-resolution hrT2 template
(built from unlabelled training images) over a low-resolution, axis-aligned copy of the
input, computed with FFTs. NCC is invariant to the intensity scale and offset of each site, and
the search runs over the whole field of view, so the same template serves ``small`` crops
and ``full`` images.

Whether the canals were found at all is judged from the best match: its NCC, and the canal
coverage, the fraction of the matched template footprint inside the image's field of view (the
search grid is padded, so a slab that misses the canals can still place the template half
outside it). :func:`check_porus_found` refuses a match below :data:`MIN_MATCH_NCC` or
:data:`MIN_CANAL_COVERAGE`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy.signal import fftconvolve

from crossmoda.algorithm.inference.frame import Vec3, box_at, coarse_box, resample_box, shrink
from crossmoda.algorithm.model.spec import PreprocessConfig
from crossmoda.core.errors import CrossmodaError

__all__ = [
    "MIN_CANAL_COVERAGE",
    "MIN_MATCH_NCC",
    "ncc_map",
    "best_match",
    "robust_scale",
    "coarse_template_patch",
    "localise",
    "canal_coverage",
    "check_porus_found",
]

FloatArray = npt.NDArray[np.float32]

MIN_MATCH_NCC = 0.6
"""Lowest template-match NCC at which the canals count as found. On crossMoDA 2023 phantom T2
images (both presets, 1-3.9 mm slices) with the shipped template the whole images score 0.70-0.90
and slabs cut away from the canals (above, below, in front of them, one lateral quarter)
0.18-0.52."""
MIN_CANAL_COVERAGE = 0.5
"""Lowest fraction of the matched template footprint inside the image: whole phantom images give
0.99-1.00, slabs that miss the canals 0.11-1.00 (NCC refuses those that stay inside)."""


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


def coarse_template_patch(
    image: sitk.Image, centre_xyz: Vec3, cfg: PreprocessConfig
) -> npt.NDArray[np.float32]:
    """The low-resolution template-sized patch of ``image`` at a world centre, scaled to [0, 1]."""
    s = cfg.coarse_spacing_mm
    box = box_at(centre_xyz, (s, s, s), cfg.template_shape)
    return robust_scale(resample_box(shrink(image, s), box))

def localise(
    image: sitk.Image, template: npt.NDArray[np.float32], cfg: PreprocessConfig
) -> tuple[Vec3, float]:
    """World centre ``(x, y, z)`` (mm) of the canal region in ``image`` and the NCC score.

    The image is shrunk, resampled onto an axis-aligned grid at ``cfg.coarse_spacing_mm``
    (padded by ``cfg.search_margin_mm``), and searched with :func:`best_match`.
    """
    s = cfg.coarse_spacing_mm
    box = coarse_box(image, s, cfg.search_margin_mm)
    shape = tuple(max(b, t) for b, t in zip(box.shape, template.shape, strict=True))
    if shape != box.shape:  # grow the search grid around the same centre
        box = box_at(box.centre, (s, s, s), (shape[0], shape[1], shape[2]))
    coarse = robust_scale(resample_box(shrink(image, s), box))
    centre_idx, score = best_match(coarse, template)
    return box.index_to_world(centre_idx), score


def canal_coverage(image: sitk.Image, centre_xyz: Vec3, cfg: PreprocessConfig) -> float:
    """Fraction (0-1) of the template footprint centred on a world point (``cfg.template_shape``
    voxels at ``cfg.coarse_spacing_mm``) whose voxel centres lie inside ``image``'s field of view
    (its voxels' extent, any direction)."""
    s = cfg.coarse_spacing_mm
    box = box_at(centre_xyz, (s, s, s), cfg.template_shape)
    zz, yy, xx = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in box.shape), indexing="ij")
    index_xyz = np.stack([xx.ravel(), yy.ravel(), zz.ravel()])
    world = np.asarray(box.origin)[:, None] + np.asarray(box.spacing_mm[::-1])[:, None] * index_xyz
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing())[:, None]
    continuous = np.linalg.solve(direction, world - np.asarray(image.GetOrigin())[:, None]) / spacing
    size = np.asarray(image.GetSize())[:, None]
    inside = np.all((continuous >= -0.5) & (continuous <= size - 0.5), axis=0)
    return float(inside.mean())


def check_porus_found(ncc: float, coverage: float) -> None:
    """Refuse a localisation whose best template match is too weak (:data:`MIN_MATCH_NCC`) or lies
    mostly outside the image (:data:`MIN_CANAL_COVERAGE`).

    Raises:
        CrossmodaError: ``porus not found: ...`` with the value(s) below the limit(s).
    """
    problems = []
    if not ncc >= MIN_MATCH_NCC:
        problems.append(f"template match NCC {_floor2(ncc)} < {MIN_MATCH_NCC:.2f}")
    if not coverage >= MIN_CANAL_COVERAGE:
        problems.append(f"canal coverage {_floor2(coverage)} < {MIN_CANAL_COVERAGE:.2f}")
    if problems:
        raise CrossmodaError(None, f"porus not found: {', '.join(problems)}; the internal auditory "
                                   "canals are not in the image, an extra-/intra-meatal split would "
                                   "be meaningless; not segmented")


def _floor2(value: float) -> str:
    """``value`` rounded down to 2 decimals (a value under a 2-decimal limit never prints as it)."""
    if not math.isfinite(value):
        return str(value)
    return f"{math.floor(value * 100 + 1e-9) / 100:.2f}"  # 1e-9: 0.29 * 100 is 28.999...
