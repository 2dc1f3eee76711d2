"""Surface distances and metrics against medpy 0.5.2, MONAI, grand-challenge-metrics and analytic shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from medpy.metric import binary as mp

from crossmoda.evaluation.metrics import structure_metrics
from crossmoda.evaluation.surface import bounding_box, dice, surface_distances, surfel_distances
from tests.evaluation.helpers import sphere


def _random_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    shape = tuple(int(n) for n in rng.integers(6, 28, size=3))
    spacing = tuple(float(s) for s in rng.uniform(0.3, 3.0, size=3))
    kind = rng.integers(0, 3)
    if kind == 0:  # random noise, many components, touching the array border
        pred, ref = rng.random(shape) < 0.35, rng.random(shape) < 0.25
    else:  # blobs: ellipsoids, possibly clipped at the border
        extent = [n * s for n, s in zip(shape, spacing, strict=True)]
        c1 = tuple(rng.uniform(0, e) for e in extent)
        c2 = tuple(c + rng.normal(0, 2.0) for c in c1)
        r = float(rng.uniform(1.5, max(extent) / 2))
        pred, ref = sphere(shape, c1, r, spacing), sphere(shape, c2, r * rng.uniform(0.6, 1.3), spacing)
    pred.flat[0] = True  # never empty
    ref.flat[-1] = True
    return pred, ref, spacing


@pytest.mark.parametrize("seed", range(12))
def test_matches_medpy_on_random_shapes_with_anisotropic_spacing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred, ref, spacing = _random_pair(rng)
    ours = structure_metrics(pred, ref, spacing, ("Dice", "ASSD", "ASSDPooled", "HD95"))
    assert ours["Dice"] == mp.dc(pred, ref)
    medpy04 = 0.5 * (mp.asd(pred, ref, spacing) + mp.asd(ref, pred, spacing))
    assert ours["ASSD"] == pytest.approx(medpy04, rel=1e-9, abs=0)
    assert ours["ASSDPooled"] == pytest.approx(mp.assd(pred, ref, spacing), rel=1e-9, abs=0)
    assert ours["HD95"] == pytest.approx(mp.hd95(pred, ref, spacing), rel=1e-9, abs=0)


def test_dice_matches_grand_challenge_metrics() -> None:
    # evalutils 0.6 is an empty shim over grand-challenge-metrics; its Dice is the second oracle.
    from grand_challenge_metrics.stats import calculate_confusion_matrix, dice_from_confusion_matrix

    rng = np.random.default_rng(7)
    for _ in range(5):
        pred, ref, _spacing = _random_pair(rng)
        cm = calculate_confusion_matrix(ref.astype(int), pred.astype(int), [0, 1])
        assert dice(pred, ref) == pytest.approx(float(dice_from_confusion_matrix(cm)[1]), rel=1e-6)


def test_crop_is_exact_when_objects_touch_the_array_border() -> None:
    shape, spacing = (9, 10, 11), (1.2, 0.7, 0.4)
    pred = np.zeros(shape, bool)
    ref = np.zeros(shape, bool)
    pred[0:4, 0:3, 7:11] = True  # touches three faces
    ref[5:9, 6:10, 0:2] = True
    d = surface_distances(pred, ref, spacing)
    # medpy's own directed distances on the uncropped arrays
    expected = mp.__dict__["__surface_distances"](pred, ref, spacing, 1)
    np.testing.assert_array_equal(np.sort(d.pred_to_ref), np.sort(expected))


def test_identical_masks_are_perfect() -> None:
    spacing = (1.0, 0.5, 0.5)
    ball = sphere((16, 24, 24), (8.0, 6.0, 6.0), 4.0, spacing)
    m = structure_metrics(ball, ball, spacing)
    assert m == {"Dice": 1.0, "ASSD": 0.0, "ASSDPooled": 0.0, "ASSDSurfel": 0.0, "HD95": 0.0}


def test_concentric_spheres_distance_is_radius_difference() -> None:
    # Border voxels of two concentric balls on a fine isotropic grid are about dr apart.
    spacing = (0.25, 0.25, 0.25)
    shape = (64, 64, 64)
    centre = (8.0, 8.0, 8.0)
    outer, inner = sphere(shape, centre, 6.0, spacing), sphere(shape, centre, 4.0, spacing)
    m = structure_metrics(inner, outer, spacing, ("Dice", "ASSD", "ASSDSurfel"))
    assert m["ASSD"] == pytest.approx(2.0, abs=0.15)
    assert m["ASSDSurfel"] == pytest.approx(2.0, abs=0.15)
    assert m["Dice"] == pytest.approx(2 * 4**3 / (4**3 + 6**3), rel=0.03)


def test_surfel_area_of_a_sphere_and_agreement_with_monai() -> None:
    spacing = (0.8, 0.5, 0.6)
    shape = (24, 36, 32)
    a = sphere(shape, (9.0, 9.0, 9.5), 5.0, spacing)
    b = sphere(shape, (10.0, 8.0, 9.0), 4.0, spacing)
    s = surfel_distances(a, b, spacing)
    assert s.pred_areas is not None and s.ref_areas is not None
    # Marching cubes on a binary ball overestimates its area by about 8-9 % at any resolution.
    assert 1.0 < float(s.pred_areas.sum()) / (4 * math.pi * 5.0**2) < 1.1

    torch = pytest.importorskip("torch")
    from monai.metrics.utils import get_edge_surface_distance

    _, (d_ab, d_ba), (area_a, area_b) = get_edge_surface_distance(
        torch.as_tensor(a), torch.as_tensor(b), spacing=spacing, use_subvoxels=True, symmetric=True
    )
    area_a, area_b = area_a[area_a > 0].double().numpy(), area_b[area_b > 0].double().numpy()
    np.testing.assert_allclose(np.sort(s.pred_areas), np.sort(area_a), rtol=1e-6)
    np.testing.assert_allclose(np.sort(s.ref_areas), np.sort(area_b), rtol=1e-6)
    np.testing.assert_allclose(np.sort(s.pred_to_ref), np.sort(d_ab.double().numpy()), rtol=1e-5)
    np.testing.assert_allclose(np.sort(s.ref_to_pred), np.sort(d_ba.double().numpy()), rtol=1e-5)


def test_bounding_box_with_margin_clips_to_array() -> None:
    m = np.zeros((5, 6, 7), bool)
    m[0, 2:4, 6] = True
    assert bounding_box(m, margin=1) == (slice(0, 2), slice(1, 5), slice(5, 7))
    assert bounding_box(np.zeros((3, 3, 3), bool)) is None


def test_bad_spacing_and_shapes_raise() -> None:
    a = np.ones((3, 3, 3), bool)
    with pytest.raises(ValueError, match="spacing"):
        surface_distances(a, a, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="shape"):
        surface_distances(a, np.ones((3, 3, 4), bool), (1.0, 1.0, 1.0))
