"""Analytic fixtures for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from crossmoda.core.io import Geometry, write_image

SPACING_XYZ = (0.5, 0.6, 1.5)
"""Anisotropic spacing (x, y, z) in mm used by the file-based tests."""


def sphere(shape: tuple[int, ...], centre_mm: tuple[float, ...], radius_mm: float,
           spacing_mm: tuple[float, ...]) -> npt.NDArray[np.bool_]:
    """Voxels whose centre lies within ``radius_mm`` of ``centre_mm`` (array order)."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing_mm, strict=True)], indexing="ij")
    d2 = sum((g - c) ** 2 for g, c in zip(grids, centre_mm, strict=True))
    return np.asarray(d2 <= radius_mm**2)


def geometry(shape_zyx: tuple[int, int, int], spacing_xyz: tuple[float, float, float] = SPACING_XYZ,
             origin: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Geometry:
    """An axis-aligned geometry for an array of ``shape_zyx``."""
    return Geometry(size=(shape_zyx[2], shape_zyx[1], shape_zyx[0]), spacing=spacing_xyz, origin=origin,
                    direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def label_pair(seed: int, shape: tuple[int, int, int] = (20, 32, 36), shift: int = 1
               ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """A reference with a VS ball (1) and a cochlea blob (2), and a shifted, eroded prediction."""
    rng = np.random.default_rng(seed)
    sp = SPACING_XYZ[::-1]
    ref = np.zeros(shape, np.uint8)
    c = (shape[0] * sp[0] / 2, shape[1] * sp[1] / 2, shape[2] * sp[2] / 3)
    ref[sphere(shape, c, 5.0 + rng.uniform(0, 1), sp)] = 1
    ref[sphere(shape, (c[0], c[1], shape[2] * sp[2] * 0.8), 2.0, sp)] = 2
    pred = np.roll(ref, shift, axis=2)
    pred[sphere(shape, c, 2.0, sp) & (pred == 1) & (rng.random(shape) < 0.3)] = 0
    return pred, ref


def write_labels(path: Path, array: npt.NDArray[np.generic], geo: Geometry) -> Path:
    """Write a label array on ``geo`` (compressed), keeping its dtype."""
    return write_image(np.asarray(array), path, geo)
