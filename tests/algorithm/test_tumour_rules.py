"""The three optional tumour rules of post-processing: no tumour on dark (bone) voxels, no tumour
as bright as fluid (a post-operative cavity), and a small extra-meatal part relabelled
intra-meatal. All are off by default (the 2022 models)."""

from __future__ import annotations

import numpy as np
import pytest

from crossmoda.algorithm.inference.postprocess import clean_labels, dark_threshold, fluid_like
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.model.spec import PostprocessSpec, read_model_json

SHAPE = (10, 20, 40)
TUMOUR = (slice(3, 7), slice(8, 12), slice(10, 20))  # 160 voxels of 1 mm^3
EXTRA = (slice(3, 7), slice(8, 12), slice(10, 15))  # its 80-voxel extra-meatal half
COCHLEA = (slice(4, 6), slice(9, 11), slice(21, 23))


def _probs() -> np.ndarray:
    """2023 class probabilities: a tumour next to a cochlea, extra-meatal on its left half."""
    probs = np.zeros((6, *SHAPE), dtype=np.float32)
    probs[0] = 1.0
    probs[0][TUMOUR] = 0.0
    probs[1][TUMOUR], probs[2][TUMOUR] = 0.4, 0.6
    probs[1][EXTRA], probs[2][EXTRA] = 0.7, 0.3
    probs[0][COCHLEA], probs[3][COCHLEA] = 0.0, 1.0
    return probs


def _image() -> np.ndarray:
    """Three intensity classes: bone 10 (a quarter), tissue 100 (half), fluid 200 (a quarter);
    the extra-meatal half of the tumour lies on bone."""
    image = np.full(SHAPE, 100.0, dtype=np.float32)
    image[:, :5] = 10.0
    image[:, 15:] = 200.0
    image[EXTRA] = 10.0
    return image


def _clean(spec: PostprocessSpec, image: np.ndarray | None) -> np.ndarray:
    return clean_labels(_probs(), (1.0, 1.0, 1.0), side_of=np.full((1, 1, 40), -1.0), image=image,
                        spec=spec, label_map="crossmoda2023").labels


def test_dark_threshold_separates_bone_from_tissue() -> None:
    rng = np.random.default_rng(0)
    image = _image() + rng.normal(0.0, 2.0, SHAPE).astype(np.float32)
    assert 10.0 < dark_threshold(image) < 100.0
    assert dark_threshold(np.full((2, 2, 2), 5.0)) == 5.0


def test_rules_off_by_default() -> None:
    spec = PostprocessSpec()
    assert not spec.tumour_exclude_dark and spec.extra_meatal_min_mm3 == 0.0
    assert spec.tumour_max_fluid_ratio == 0.0
    labels = _clean(PostprocessSpec(cochlea_refine_mm=0.0), _image())
    assert (labels == 1).sum() == 80 and (labels == 2).sum() == 80


def test_dark_voxels_are_not_tumour() -> None:
    """The extra-meatal half sits on bone-dark voxels: it goes, the intra-meatal half stays."""
    labels = _clean(PostprocessSpec(cochlea_refine_mm=0.0, tumour_exclude_dark=True), _image())
    assert (labels == 1).sum() == 0
    assert (labels == 2).sum() == 80 and (labels[TUMOUR] == 2).sum() == 80
    assert (labels == 3).sum() == 8
    # without an image there is nothing to judge darkness by: unchanged
    labels = _clean(PostprocessSpec(cochlea_refine_mm=0.0, tumour_exclude_dark=True), None)
    assert (labels == 1).sum() == 80


def test_dark_rule_on_a_2022_map() -> None:
    probs = _probs()
    vs = np.concatenate([probs[:1], probs[1:3].sum(axis=0, keepdims=True), probs[3:]])
    spec = PostprocessSpec(cochlea_refine_mm=0.0, tumour_exclude_dark=True)
    out = clean_labels(vs, (1.0, 1.0, 1.0), side_of=np.full((1, 1, 40), -1.0), image=_image(), spec=spec)
    assert (out.labels == 1).sum() == 80 and not (out.labels[EXTRA] == 1).any()


@pytest.mark.parametrize(("min_mm3", "extra", "intra"), [(0.0, 80, 80), (80.0, 80, 80), (81.0, 0, 160)])
def test_small_extra_meatal_part_becomes_intra_meatal(min_mm3: float, extra: int, intra: int) -> None:
    """80 mm^3 of extra-meatal tumour: kept at a minimum of 80 mm^3, relabelled at 81."""
    labels = _clean(PostprocessSpec(cochlea_refine_mm=0.0, extra_meatal_min_mm3=min_mm3), _image())
    assert (labels == 1).sum() == extra and (labels == 2).sum() == intra
    assert (labels == 3).sum() == 8


def test_fluid_like_compares_the_median_with_the_fluid_level() -> None:
    """Image: 1000 voxels, 987 at 100, a tumour of 3 at 120/130/140 and 10 at 200, so its 99.5th
    percentile (the fluid level) is 200; the tumour's median 130 is at 0.65 of it."""
    image = np.full(1000, 100.0, dtype=np.float32)
    image[:10] = 200.0
    image[10:13] = [120.0, 130.0, 140.0]
    tumour = np.zeros(1000, dtype=bool)
    tumour[10:13] = True
    assert fluid_like(image, tumour, 0.6)
    assert not fluid_like(image, tumour, 0.7)
    assert not fluid_like(image, tumour, 0.0)  # off
    assert not fluid_like(image, np.zeros(1000, dtype=bool), 0.6)  # no tumour
    assert not fluid_like(np.zeros(1000, dtype=np.float32), tumour, 0.6)  # no fluid level


@pytest.mark.parametrize(("tumour_level", "kept"), [(100.0, True), (180.0, False)])
def test_a_tumour_as_bright_as_fluid_is_dropped(tumour_level: float, kept: bool) -> None:
    """A grey tumour (100 against fluid 200: 0.5) stays at a ratio of 0.6; a resection cavity
    drawn as tumour (180: 0.9) is dropped whole, both parts, and the cochlea is untouched."""
    image = _image()
    image[TUMOUR] = tumour_level
    labels = _clean(PostprocessSpec(cochlea_refine_mm=0.0, tumour_max_fluid_ratio=0.6), image)
    assert (labels == 1).sum() == (80 if kept else 0)
    assert (labels == 2).sum() == (80 if kept else 0)
    assert (labels == 3).sum() == 8
    # the 2022 map: the same rule on the one VS label
    probs = _probs()
    vs = np.concatenate([probs[:1], probs[1:3].sum(axis=0, keepdims=True), probs[3:]])
    out = clean_labels(vs, (1.0, 1.0, 1.0), side_of=np.full((1, 1, 40), -1.0), image=image,
                       spec=PostprocessSpec(cochlea_refine_mm=0.0, tumour_max_fluid_ratio=0.6))
    assert (out.labels == 1).sum() == (160 if kept else 0)
    assert out.vs.sum() == (160 if kept else 0)


@pytest.mark.parametrize(
    ("name", "dark", "extra_min", "fluid"),
    [("adapted", False, 0.0, 0.0), ("no_adaptation", False, 0.0, 0.0), ("adapted_2023", True, 50.0, 0.65)],
)
def test_shipped_models_carry_the_documented_rules(
    name: str, dark: bool, extra_min: float, fluid: float
) -> None:
    """The 2022 models have every tumour rule off (their results unchanged); the 2023 model has
    the three on, with the values docs/training.md gives."""
    post = read_model_json(shipped_model_dir(name))[0].postprocess
    rules = (post.tumour_exclude_dark, post.extra_meatal_min_mm3, post.tumour_max_fluid_ratio)
    assert rules == (dark, extra_min, fluid)
