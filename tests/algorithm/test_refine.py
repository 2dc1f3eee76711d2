"""Cochlea refinement: a predicted mask snaps to the bright structure it sits on."""

from __future__ import annotations

import numpy as np
import pytest

from crossmoda.algorithm.inference.postprocess import clean_labels, otsu_threshold, refine_bright
from crossmoda.algorithm.model.spec import PostprocessSpec

SPACING = (1.0, 0.5, 0.5)


def _ellipsoid(
    shape: tuple[int, int, int], centre: tuple[float, float, float], radius_mm: float
) -> np.ndarray:
    zz, yy, xx = np.indices(shape, dtype=np.float64)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((zz, yy, xx), centre, SPACING, strict=True))
    return d2 <= radius_mm**2


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A bright 2 mm ball (value 1) in dark bone (0.1) with mild noise; returns (truth, image)."""
    rng = np.random.default_rng(0)
    truth = _ellipsoid((16, 32, 32), (8, 16, 16), 2.0)
    image = np.where(truth, 1.0, 0.1) + rng.normal(0, 0.03, truth.shape)
    return truth, image.astype(np.float32)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_otsu_threshold_separates_two_levels() -> None:
    values = np.r_[np.full(500, 0.1), np.full(100, 1.0)]
    assert 0.1 < otsu_threshold(values) < 1.0
    assert otsu_threshold(np.full(10, 3.0)) == 3.0


def test_too_wide_mask_shrinks_to_the_bright_ball() -> None:
    truth, image = _scene()
    wide = _ellipsoid(truth.shape, (8, 16, 16), 3.0)
    assert _dice(wide, truth) < 0.6
    refined = refine_bright(wide, image, SPACING, grow_mm=0.8, context_mm=2.0)
    np.testing.assert_array_equal(refined, truth)


def test_shifted_mask_recovers_the_missed_rim() -> None:
    truth, image = _scene()
    shifted = np.roll(truth, 1, axis=2)  # 0.5 mm off
    refined = refine_bright(shifted, image, SPACING, grow_mm=0.8, context_mm=2.0)
    np.testing.assert_array_equal(refined, truth)


def test_growth_is_bounded_by_grow_mm() -> None:
    """A bright region much larger than the mask is not swallowed: the result stays within
    ``grow_mm`` of the original mask."""
    big = _ellipsoid((16, 32, 32), (8, 16, 16), 5.0)
    image = np.where(big, 1.0, 0.1).astype(np.float32)
    small = _ellipsoid(big.shape, (8, 16, 16), 1.5)
    refined = refine_bright(small, image, SPACING, grow_mm=0.8, context_mm=4.0)
    assert refined.sum() > small.sum()
    assert not (refined & ~_ellipsoid(big.shape, (8, 16, 16), 1.5 + 0.8 + 1e-6)).any()


@pytest.mark.parametrize("grow_mm", [0.0, 0.8])
def test_edge_cases_keep_the_mask(grow_mm: float) -> None:
    """Empty in, empty out; ``grow_mm = 0`` is off; a component on uniform dark tissue (nothing
    bright to snap to) is kept as predicted."""
    _, image = _scene()
    empty = np.zeros(image.shape, dtype=bool)
    assert not refine_bright(empty, image, SPACING, grow_mm, 2.0).any()
    dark = np.zeros(image.shape, dtype=bool)
    dark[2:4, 2:5, 2:5] = True
    flat = np.full(image.shape, 0.1, dtype=np.float32)
    np.testing.assert_array_equal(refine_bright(dark, flat, SPACING, grow_mm, 2.0), dark)


def test_clean_labels_refines_the_cochlea_only_with_an_image() -> None:
    truth, image = _scene()
    probs = np.zeros((5, *truth.shape), dtype=np.float32)
    probs[0] = 1.0
    wide = _ellipsoid(truth.shape, (8, 16, 16), 3.0)
    probs[2][wide], probs[0][wide] = 1.0, 0.0
    plain = clean_labels(probs, SPACING).combined()
    np.testing.assert_array_equal(plain == 2, wide)
    refine = PostprocessSpec(cochlea_refine_mm=0.8)
    refined = clean_labels(probs, SPACING, image=image, spec=refine).combined()
    np.testing.assert_array_equal(refined == 2, truth)
