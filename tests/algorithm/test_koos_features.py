"""Koos features on analytic shapes: boxes, spheres, slabs, a dented block, a symmetric head."""

from __future__ import annotations

import numpy as np
import pytest

from crossmoda.algorithm.koos.anatomy import (
    FrameConfig,
    Structures,
    calibrate_porus_fraction,
    estimate_frame,
    structures_from_arrays,
)
from crossmoda.algorithm.koos.features import (
    DISTANCE_CAP_MM,
    FEATURE_NAMES,
    axis_features,
    box_gap_mm,
    brainstem_features,
    compute_features,
    contact_area_mm2,
    hull_indentation,
    image_features,
    inscribed_radius_mm,
    volume_mm3,
)


def _grid(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> tuple[np.ndarray, ...]:
    """Voxel-centre coordinates in mm, each of ``shape``."""
    zz, yy, xx = np.indices(shape, dtype=np.float64)
    return zz * spacing[0], yy * spacing[1], xx * spacing[2]


def test_volume_of_voxelised_box_is_exact() -> None:
    mask = np.zeros((10, 12, 14), dtype=bool)
    mask[2:9, 3:8, 4:7] = True  # 7 x 5 x 3 voxels
    assert volume_mm3(mask, (1.5, 0.5, 0.4)) == pytest.approx(105 * 1.5 * 0.5 * 0.4, rel=1e-12)


def test_sphere_touching_slab_has_zero_gap_and_one_face_of_contact() -> None:
    z, y, x = _grid((40, 31, 31), (1.0, 1.0, 1.0))
    sphere = (z - 20) ** 2 + (y - 15) ** 2 + (x - 15) ** 2 <= 100  # lowest voxel z = 10, alone
    slab = z <= 9
    assert box_gap_mm(sphere, slab, (1.0, 1.0, 1.0)) == 0.0
    # Only the voxel (10, 15, 15) sits on the slab: one face of 1 x 1 mm^2.
    assert contact_area_mm2(sphere, slab, (1.0, 1.0, 1.0)) == 1.0


def test_flattened_sphere_contact_is_a_disc_of_lattice_points() -> None:
    sp = (0.5, 0.4, 0.4)
    z, y, x = _grid((60, 80, 80), sp)
    sphere = (z - 15) ** 2 + (y - 16) ** 2 + (x - 16) ** 2 <= 64  # radius 8 mm
    slab = z <= 10.0
    vs = sphere & ~slab
    # The contact face is the layer z = 10.5 mm: voxels with r^2 <= 64 - 4.5^2, on a 0.4 mm lattice.
    ii = np.arange(-40, 41) * 0.4
    r2 = ii[:, None] ** 2 + ii[None, :] ** 2
    n_disc = int(np.count_nonzero(r2 <= 64 - 4.5**2 + 1e-9))
    assert contact_area_mm2(vs, slab, sp) == pytest.approx(n_disc * 0.4 * 0.4, rel=1e-12)
    # ... and the disc area pi (64 - 20.25) mm^2 to within the lattice error (a few %).
    assert contact_area_mm2(vs, slab, sp) == pytest.approx(np.pi * (64 - 4.5**2), rel=0.03)
    assert box_gap_mm(vs, slab, sp) == 0.0


def test_box_on_slab_contact_area_is_exact() -> None:
    sp = (1.2, 0.5, 0.7)
    a = np.zeros((20, 20, 20), dtype=bool)
    b = np.zeros_like(a)
    b[:5] = True
    a[5:9, 3:9, 2:13] = True  # 6 x 11 voxels face the slab
    assert contact_area_mm2(a, b, sp) == pytest.approx(6 * 11 * 0.5 * 0.7)
    # With a 1.3 mm tolerance the side faces of a's bottom layer count too: their outside
    # neighbours sit 1.2 mm above the slab. 2 x 11 faces of 1.2 x 0.7 and 2 x 6 faces of 1.2 x 0.5.
    expected = 6 * 11 * 0.5 * 0.7 + 2 * 11 * 1.2 * 0.7 + 2 * 6 * 1.2 * 0.5
    assert contact_area_mm2(a, b, sp, tolerance_mm=1.3) == pytest.approx(expected)
    assert contact_area_mm2(a, b, sp, tolerance_mm=1.1) == pytest.approx(6 * 11 * 0.5 * 0.7)


def test_sphere_at_voxel_aligned_distance_gives_exact_gap() -> None:
    # Slab top voxel centre z = 9, sphere lowest voxel centre z = 20 (centre 30, radius 10):
    # the boxes are 20 - 9 - 1 = 10 voxels apart, i.e. 10 * 0.8 mm.
    sp = (0.8, 0.5, 0.5)
    zi, yi, xi = np.indices((45, 31, 31))
    sphere = (zi - 30) ** 2 + (yi - 15) ** 2 + (xi - 15) ** 2 <= 100
    assert box_gap_mm(sphere, zi <= 9, sp) == pytest.approx(10 * 0.8, abs=1e-12)


@pytest.mark.parametrize(
    "offset", [(0.0, 0.0, 0.0), (0.13, 0.21, 0.37), (0.41, 0.05, 0.29), (0.77, 0.33, 0.1)]
)
def test_sphere_at_set_distance_within_one_voxel(offset: tuple[float, float, float]) -> None:
    # Continuous gap g = cz - R - plane. Voxelising by centres moves each box face by less than
    # half a voxel (s/2) plus the curvature term r^2 / (2R) with r <= half the in-plane diagonal,
    # so |box gap - g| < s_z + (0.5^2 + 0.5^2) / 4 / (2 * 6) mm.
    sp = (1.0, 0.5, 0.5)
    z, y, x = _grid((40, 40, 40), sp)
    plane = 7.3 + offset[0]
    cz, cy, cx = plane + 6.0 + 4.5, 10.0 + offset[1], 10.0 + offset[2]
    sphere = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= 36.0
    gap = box_gap_mm(sphere, z <= plane, sp)
    assert abs(gap - 4.5) < 1.0 + 0.5 / 4 / 12 + 1e-9


def test_gap_and_contact_of_empty_masks() -> None:
    a = np.zeros((5, 5, 5), dtype=bool)
    b = np.ones_like(a)
    assert box_gap_mm(a, b, (1.0, 1.0, 1.0)) == DISTANCE_CAP_MM
    assert contact_area_mm2(a, b, (1.0, 1.0, 1.0)) == 0.0


def test_inscribed_radius_of_sphere_within_one_voxel() -> None:
    zi, yi, xi = np.indices((31, 31, 31))
    sphere = (zi - 15) ** 2 + (yi - 15) ** 2 + (xi - 15) ** 2 <= 100
    # The nearest outside centre is at sqrt(101) voxels (offset (10, 1, 0)).
    assert inscribed_radius_mm(sphere, (0.5, 0.5, 0.5)) == pytest.approx(0.5 * np.sqrt(101))


def test_hull_indentation_of_a_dented_block() -> None:
    zi, yi, xi = np.indices((40, 40, 50))
    block = (zi >= 5) & (zi < 35) & (yi >= 5) & (yi < 35) & (xi >= 10) & (xi <= 39)
    ball = (zi - 20) ** 2 + (yi - 20) ** 2 + (xi - 39) ** 2 <= 36  # centred on the face x = 39
    vs = ball.copy()
    bs = block & ~ball
    depth, volume = hull_indentation(vs, bs, (1.0, 1.0, 1.0))
    # Hull face at x = 39 (voxel centres); the deepest VS voxel is at x = 33, 6 mm in.
    assert depth == pytest.approx(6.0, abs=1e-9)
    assert volume == float(np.count_nonzero(ball & (xi < 39)))
    # A ball beside the undented block is outside the hull.
    outside = (zi - 20) ** 2 + (yi - 20) ** 2 + (xi - 46) ** 2 <= 9
    assert hull_indentation(outside, block, (1.0, 1.0, 1.0)) == (0.0, 0.0)


def _head(
    vs_x: tuple[int, int], ball: tuple[int, float] | None = None, bs_shift: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric toy head at 1 mm: cochleas at x = 20 and 80 (midline 50), brainstem box
    x 40..60 (shifted by ``bs_shift`` towards -x), a VS rod of radius 2 along x on the +x side
    from ``vs_x[0]`` to ``vs_x[1]``, plus an optional ball (centre x, radius)."""
    zi, yi, xi = np.indices((30, 40, 100))
    labels = np.zeros((30, 40, 100), dtype=np.uint8)
    aux = np.zeros_like(labels)
    aux[(zi >= 3) & (zi < 27) & (yi >= 10) & (yi < 30) & (xi >= 40 - bs_shift) & (xi <= 60 - bs_shift)] = 1
    rod = ((zi - 15) ** 2 + (yi - 20) ** 2 <= 4) & (xi >= vs_x[0]) & (xi <= vs_x[1])
    labels[rod] = 1
    if ball is not None:
        labels[(zi - 15) ** 2 + (yi - 20) ** 2 + (xi - ball[0]) ** 2 <= ball[1] ** 2] = 1
    for cx in (20, 80):
        labels[(zi - 15) ** 2 + (yi - 26) ** 2 + (xi - cx) ** 2 <= 4] = 2
    return labels, aux


def test_frame_from_two_cochleas() -> None:
    labels, aux = _head((66, 74))
    s = structures_from_arrays(labels, aux)
    frame = estimate_frame(s, (1.0, 1.0, 1.0), FrameConfig(porus_fraction=0.2))
    assert frame.method == "two-cochleas"
    np.testing.assert_allclose(frame.lateral, [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(frame.midline_point, [15.0, 26.0, 50.0], atol=1e-12)
    # Porus 0.2 * 60 mm = 12 mm medial of the ipsilateral cochlea (x = 80): x = 68.
    np.testing.assert_allclose(frame.porus, [15.0, 26.0, 68.0], atol=1e-12)
    feats = axis_features(s.vs, frame, (1.0, 1.0, 1.0))
    assert feats["vs_extent_beyond_porus_mm"] == pytest.approx(68 - 66)
    assert feats["vs_midline_distance_mm"] == pytest.approx(16.0)
    assert feats["vs_medial_reach"] == pytest.approx(1 - 16 / 30)
    # Rod cross-section: 13 voxels (dz^2 + dy^2 <= 4); beyond the porus means (x - 68) * (-1) > 0,
    # i.e. the slices x = 66 and 67.
    assert feats["vs_extrameatal_volume_mm3"] == 2 * 13


def test_calibrated_porus_fraction_recovers_the_ratio() -> None:
    ipsi, contra = np.array([10.0, 5.0, 80.0]), np.array([10.0, 5.0, 20.0])
    assert calibrate_porus_fraction(ipsi, contra, np.array([12.0, 3.0, 68.0])) == pytest.approx(0.2)


def test_brainstem_shift_and_asymmetry() -> None:
    labels, aux = _head((60, 74), bs_shift=3)
    s = structures_from_arrays(labels, aux)
    frame = estimate_frame(s, (1.0, 1.0, 1.0))
    feats = brainstem_features(s, frame, (1.0, 1.0, 1.0))
    # Box x 37..57 about the midline 50: centroid at 47, 3 mm away from the tumour side (+x).
    assert feats["brainstem_shift_mm"] == pytest.approx(3.0)
    assert feats["brainstem_halfwidth_diff_mm"] == pytest.approx(13 - 7)
    assert feats["brainstem_asymmetry"] == pytest.approx((13 - 7) / 20)


def test_compute_features_grades_the_toy_head_geometry() -> None:
    sp = (1.0, 1.0, 1.0)
    canal, _ = compute_features(structures_from_arrays(*_head((70, 76))), sp)
    touching, _ = compute_features(structures_from_arrays(*_head((64, 76), ball=(67, 6.0))), sp)
    apart, _ = compute_features(structures_from_arrays(*_head((64, 76), ball=(69, 5.0))), sp)
    assert list(canal) == list(FEATURE_NAMES)
    assert canal["vs_extent_beyond_porus_mm"] < 0 < touching["vs_extent_beyond_porus_mm"]
    assert canal["vs_inscribed_radius_mm"] < 3.0 < touching["vs_inscribed_radius_mm"]
    # Ball of radius 6 at x = 67 reaches x = 61, next to the brainstem face x = 60: contact.
    assert touching["vs_brainstem_gap_mm"] == 0.0
    assert touching["vs_brainstem_contact_mm2"] > 0
    # Radius 5 at x = 69 stops at x = 64: boxes 64 - 60 - 1 = 3 mm apart.
    assert apart["vs_brainstem_gap_mm"] == pytest.approx(3.0)
    assert apart["vs_brainstem_contact_mm2"] == 0.0
    assert canal["img_vs_mean"] == 0.0  # no image given


def test_image_features_on_piecewise_constant_image() -> None:
    labels, aux = _head((60, 74))
    s = structures_from_arrays(labels, aux)
    image = np.ones(labels.shape, dtype=np.float32)
    image[s.brainstem] = 0.0
    image[s.vs] = 0.25
    feats = image_features(image, s, (1.0, 1.0, 1.0))
    assert feats["img_vs_mean"] == pytest.approx(0.25)
    assert feats["img_vs_std"] == pytest.approx(0.0, abs=1e-12)
    # The rod (x 60..74) abuts the brainstem (x <= 59 after VS priority): the cleft (rim within
    # 2 mm of the brainstem) mixes brainstem (0) and background (1) voxels, the whole rim less so.
    assert 0.0 < feats["img_cleft_mean"] < feats["img_rim_mean"] <= 1.0


def test_structures_from_combined_map_and_vs_priority() -> None:
    combined = np.array([[[0, 1, 2, 3, 4]]], dtype=np.uint8)
    s = structures_from_arrays(combined)
    assert [int(m.sum()) for m in (s.vs, s.cochlea, s.brainstem, s.cerebellum)] == [1, 1, 1, 1]
    labels = np.array([[[1, 1, 0]]], dtype=np.uint8)
    aux = np.array([[[1, 0, 1]]], dtype=np.uint8)
    s2 = structures_from_arrays(labels, aux)
    assert s2.brainstem.tolist() == [[[False, False, True]]]
    with pytest.raises(ValueError):
        structures_from_arrays(labels, aux[..., :2])
    assert isinstance(s2, Structures)
