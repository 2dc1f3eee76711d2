"""Preprocessing and localisation: analytic checks of NCC, boxes, normalisation, back-projection."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from crossmoda.algorithm.inference.frame import (
    box_at,
    centre_from_labels,
    normalise,
    resample_box,
    roi_to_input,
)
from crossmoda.algorithm.inference.localise import best_match, localise, ncc_map, robust_scale
from crossmoda.algorithm.model.spec import PreprocessConfig
from crossmoda.algorithm.training.prepare import build_template, merge_labels
from tests.algorithm.synthetic import make_image, render


def test_ncc_finds_an_embedded_template_exactly() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(20, 30, 40))
    template = image[5:11, 7:15, 20:32].copy() * 3.0 + 7.0  # NCC ignores scale and offset
    ncc = ncc_map(image, template)
    assert ncc.shape == (15, 23, 29)
    assert ncc[5, 7, 20] == pytest.approx(1.0, abs=1e-5)
    centre, score = best_match(image, template)
    assert centre == (5 + 2.5, 7 + 3.5, 20 + 5.5)
    assert score == pytest.approx(1.0, abs=1e-5)


def test_robust_scale_and_normalise() -> None:
    arr = np.array([np.nan, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    scaled = robust_scale(arr, 0.0, 100.0)
    np.testing.assert_allclose(scaled, [0.0, 0.0, 0.25, 0.5, 0.75, 1.0])
    z = normalise(arr, (0.0, 100.0))
    finite = z[1:]
    assert finite.mean() == pytest.approx(0.0, abs=1e-6)
    assert finite.std() == pytest.approx(1.0, abs=1e-5)
    assert z[0] == pytest.approx(z[1])  # outside the image -> clipped minimum


def test_box_centre_and_resample_of_a_ramp() -> None:
    img = sitk.GetImageFromArray(np.arange(10, dtype=np.float32)[None, None, :].repeat(4, 1).repeat(3, 0))
    img.SetSpacing((1.0, 1.0, 1.0))
    box = box_at((4.5, 1.5, 1.0), (1.0, 1.0, 0.5), (1, 1, 4))  # x = 4.5 + 0.5 * (-1.5, -0.5, 0.5, 1.5)
    assert box.centre == pytest.approx((4.5, 1.5, 1.0))
    np.testing.assert_allclose(resample_box(img, box)[0, 0], [3.75, 4.25, 4.75, 5.25], atol=1e-5)
    far = box_at((100.0, 1.5, 1.0), (1.0, 1.0, 1.0), (1, 1, 2))
    assert np.isnan(resample_box(img, far)).all()


def test_merge_labels_keeps_label_over_aux() -> None:
    label = np.array([0, 1, 2, 0, 0])
    aux = np.array([1, 1, 2, 2, 0])
    np.testing.assert_array_equal(merge_labels(label, aux), [3, 1, 2, 4, 0])


def _oblique_direction(deg: float) -> tuple[float, ...]:
    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return tuple(float(v) for v in rot.ravel())


def test_centre_from_labels_is_the_cochlea_midpoint() -> None:
    rng = np.random.default_rng(1)
    grid = make_image((90, 50, 20), (1.0, 1.0, 1.0), (3.0, -2.0, 1.0), _oblique_direction(10))
    _, label, _ = render(grid, np.array([3.0, -2.0, 1.0]), 1, 5.0, "hrT2", rng)
    centre = centre_from_labels(label)
    # the cochleas sit at head + (+-28, -4, 0) mm
    np.testing.assert_allclose(centre, (3.0, -6.0, 1.0), atol=0.6)


def test_localisation_finds_the_canals_in_small_crops_and_full_fields_of_view() -> None:
    cfg = PreprocessConfig(
        spacing_mm=(2.0, 1.0, 1.0), roi_shape=(12, 40, 72), template_shape=(8, 12, 28), search_margin_mm=8.0
    )
    rng = np.random.default_rng(2)
    crops = []
    for _ in range(4):
        head = rng.uniform(-4, 4, 3)
        grid = make_image((84, 52, 16), (1.0, 1.0, 2.0), tuple(head + rng.uniform(-3, 3, 3)))
        crops.append(render(grid, head, 1, 5.0, "hrT2", rng)[0])
    template, _ = build_template(crops, cfg)
    assert template.shape == cfg.template_shape
    head = np.array([10.0, -15.0, 6.0])
    full = make_image((80, 80, 36), (2.0, 2.0, 2.5), (0.0, 0.0, 0.0), _oblique_direction(8))
    image = render(full, head, -1, 6.0, "hrT2", rng)[0] * 0.3 + 50  # other site scaling
    centre, score = localise(image, template, cfg)
    # the template was built around the crops' centres, i.e. the head centre (+- 3 mm)
    assert np.linalg.norm(np.asarray(centre) - head) < 6.0
    assert score > 0.5


def test_roi_to_input_maps_a_block_back_onto_an_oblique_grid() -> None:
    image = make_image((40, 30, 12), (0.7, 0.8, 2.0), (5.0, 5.0, 5.0), _oblique_direction(20))
    box = box_at((5.0, 5.0, 5.0), (2.0, 1.0, 1.0), (6, 12, 12))
    probs = np.zeros((2, 6, 12, 12), dtype=np.float32)
    probs[0] = 1.0
    probs[1, 2:4, 4:8, 4:8] = 1.0
    probs[0, 2:4, 4:8, 4:8] = 0.0
    sub, slices = roi_to_input(probs, box, image)
    labels = np.zeros(image.GetSize()[::-1], dtype=np.uint8)
    labels[slices] = np.argmax(sub, axis=0)
    assert labels.shape == (12, 30, 40)
    pts = np.argwhere(labels == 1)
    assert len(pts) > 0
    world = np.array(
        [image.TransformContinuousIndexToPhysicalPoint((float(p[2]), float(p[1]), float(p[0]))) for p in pts]
    )
    # the block spans box indices 4..7 (x, y) and 2..3 (z) around the box centre
    lo = np.asarray(box.index_to_world((2, 4, 4))) - np.array([0.5, 0.5, 1.0])
    hi = np.asarray(box.index_to_world((3, 7, 7))) + np.array([0.5, 0.5, 1.0])
    assert np.all(world >= lo - 1e-6) and np.all(world <= hi + 1e-6)
