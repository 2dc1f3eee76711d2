"""Adaptation helpers: translation patch sampling (own labels, location prior) and contrast inversion."""

from __future__ import annotations

import numpy as np
import pytest

from crossmoda.algorithm.training.data import Volume
from crossmoda.algorithm.training.translation.loop import _slice_patches


def _labelled(shape: tuple[int, int, int], box: tuple[slice, slice, slice]) -> Volume:
    label = np.zeros(shape, dtype=np.uint8)
    label[box] = 2
    image = np.where(label > 0, 10.0, 0.0).astype(np.float32)
    return Volume("labelled", image, label)


def test_prior_centres_unlabelled_patches_on_the_prior_labels() -> None:
    shape = (6, 64, 96)
    prior = _labelled(shape, (slice(2, 3), slice(30, 34), slice(80, 84)))
    # The unlabelled volume marks the prior's location in its image: a patch centred there
    # (jitter at most patch / 4 = 4 voxels) always contains it.
    image = np.zeros(shape, dtype=np.float32)
    image[2, 30:34, 80:84] = 5.0
    target = Volume("target", image, np.zeros(shape, dtype=np.uint8))
    rng = np.random.default_rng(0)
    imgs, lbls, _, _ = _slice_patches([target], 32, 16, rng, 1.0, prior=[prior])
    assert imgs.shape == (32, 1, 16, 16)
    assert int(lbls.sum()) == 0  # the target's own (empty) labels are returned, not the prior's
    assert all(float(p.max()) == 5.0 for p in imgs)
    # Without the prior, an unlabelled volume gives uniformly placed patches: most miss the mark.
    imgs, _, _, _ = _slice_patches([target], 32, 16, np.random.default_rng(0), 1.0)
    assert sum(float(p.max()) == 5.0 for p in imgs) < 16


def test_own_labels_centre_source_patches() -> None:
    vol = _labelled((4, 48, 48), (slice(1, 2), slice(10, 13), slice(36, 39)))
    imgs, lbls, locs, _ = _slice_patches([vol], 16, 16, np.random.default_rng(1), 1.0)
    assert all(int(lbl.max()) == 2 for lbl in lbls)
    assert all(float(img.max()) == 10.0 for img in imgs)
    # positions: z constant (slice 1 of 4 -> -1/3), y increasing down the patch, x mirrored with
    # the patch when it was flipped; the labelled voxels sit at crop x 36-38 -> x > 0 unless flipped
    assert locs.shape == (16, 3, 16, 16)
    assert np.allclose(locs[:, 0].numpy(), 2.0 * 1 / 3 - 1.0)
    assert (np.diff(locs[:, 1].numpy(), axis=1) > 0).all()
    flips = 0
    for img, loc in zip(imgs.numpy(), locs.numpy(), strict=True):
        x_at_mark = loc[2][img[0] == 10.0]
        # x rises to the right in every patch: unflipped, the mark (crop x 36-38 of 48) sits at
        # x = +0.53..0.62; flipped, the mirrored coordinates put it at -0.62..-0.53
        assert (np.diff(loc[2], axis=1) > 0).all()
        assert np.all((np.abs(x_at_mark) > 0.5) & (np.abs(x_at_mark) < 0.65))
        flips += bool(x_at_mark.mean() < 0)
    assert 0 < flips < 16


def test_contrast_inversion_augmentation_and_its_mode_defaults() -> None:
    from crossmoda.algorithm.training.config import load_config
    from crossmoda.algorithm.training.data import augment_patch

    img = np.linspace(-1.0, 1.0, 4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8)
    lbl = np.zeros(img.shape, dtype=np.uint8)
    lbl[1:3, 2:5, 2:5] = 1
    rng = np.random.default_rng(3)
    inverted = 0
    for _ in range(40):
        out, out_lbl = augment_patch(img, lbl, rng, invert_prob=1.0)
        assert out.shape == img.shape and out_lbl.shape == lbl.shape
        # every augmentation after the inversion keeps the order of intensities up to noise:
        # an inverted patch is anti-correlated with the input (left-right flips aside)
        flipped = img[:, :, ::-1]
        r = max(np.corrcoef(out.ravel(), img.ravel())[0, 1], np.corrcoef(out.ravel(), flipped.ravel())[0, 1])
        inverted += r < 0
    assert inverted == 40
    assert load_config(None, {"mode": "adapted"}).segment.invert_prob == 0.0
    assert load_config(None, {"mode": "no_adaptation"}).segment.invert_prob == 0.0
    assert load_config(None, {"mode": "supervised"}).segment.invert_prob == 0.0
    explicit = load_config(None, {"mode": "adapted", "segment": {"invert_prob": 0.1}})
    assert explicit.segment.invert_prob == 0.1


def test_random_curve_is_a_function_of_intensity_and_reorders_tissues() -> None:
    from crossmoda.algorithm.training.config import load_config
    from crossmoda.algorithm.training.data import random_curve

    rng = np.random.default_rng(0)
    # three "tissues" of intensity -1, 0, 1
    img = np.repeat(np.array([-1.0, 0.0, 1.0], dtype=np.float32), 100).reshape(3, 10, 10)
    orders = set()
    for _ in range(30):
        out = random_curve(img, rng)
        assert out.shape == img.shape and out.dtype == np.float32
        means = [float(out[k].mean()) for k in range(3)]
        # equal intensities stay equal (a pure intensity map), and the result is z-scored
        assert all(float(out[k].std()) < 1e-5 for k in range(3))
        assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1.0) < 1e-4
        orders.add(tuple(np.argsort(means)))
    assert len(orders) >= 4  # non-monotone curves: tissues change order
    assert load_config(None, {"mode": "adapted"}).segment.remap_prob == 0.0
    assert load_config(None, {"mode": "adapted", "segment": {"remap_prob": 0.3}}).segment.remap_prob == 0.3
    assert load_config(None, {"mode": "no_adaptation"}).segment.remap_prob == 0.0


def test_label_intensity_changes_only_the_tumour_and_keeps_its_texture_order() -> None:
    from crossmoda.algorithm.training.data import label_intensity

    rng = np.random.default_rng(0)
    img = rng.normal(0.0, 1.0, (6, 16, 16)).astype(np.float32)
    lbl = np.zeros(img.shape, dtype=np.uint8)
    lbl[2:4, 4:9, 4:9] = 1
    lbl[0, 0:3, 0:3] = 2  # a cochlea: untouched
    lo, hi = np.percentile(img, [2.0, 98.0])
    means = []
    for _ in range(50):
        out = label_intensity(img, lbl, rng)
        assert np.array_equal(out[lbl != 1], img[lbl != 1])
        inside, before = out[lbl == 1], img[lbl == 1]
        # an affine map with a positive slope in [0.5, 1.5]: order and relative spread kept
        slope = np.polyfit(before, inside, 1)[0]
        assert 0.5 - 1e-4 <= slope <= 1.5 + 1e-4
        assert np.allclose(inside - inside.mean(), slope * (before - before.mean()), atol=1e-5)
        assert lo - 1e-5 <= float(inside.mean()) <= hi + 1e-5
        means.append(float(inside.mean()))
    assert max(means) - min(means) > 0.5 * (hi - lo)  # levels spread over the range
    # no tumour in the patch: unchanged
    empty = np.zeros_like(lbl)
    assert np.array_equal(label_intensity(img, empty, rng), img)


def test_label_intensity_edge_sigma_blends_a_ramp_across_the_boundary() -> None:
    from crossmoda.algorithm.training.data import label_intensity

    # a flat patch and a slab tumour: with a hard step the profile along x jumps at the label
    # boundary; with edge_sigma it ramps, monotone, through the two voxels either side, and the
    # same rng draws give the same level deep inside
    img = np.zeros((8, 8, 24), dtype=np.float32)
    img[..., 0] = 4.0  # percentiles need a spread: level drawn in [0, 4)
    lbl = np.zeros(img.shape, dtype=np.uint8)
    lbl[:, :, 8:16] = 1
    hard = label_intensity(img, lbl, np.random.default_rng(3), 1, (0.0, 100.0), 0.0)
    soft = label_intensity(img, lbl, np.random.default_rng(3), 1, (0.0, 100.0), 1.0)
    level = float(hard[4, 4, 12])
    assert level > 0.1
    assert np.array_equal(hard[lbl != 1], img[lbl != 1])
    profile = soft[4, 4, 4:13]
    assert np.all(np.diff(profile) >= -1e-6)  # monotone ramp up to the interior
    assert 0.0 < soft[4, 4, 7] < 0.5 * level  # outside voxel next to the boundary: partly blended
    assert 0.5 * level - 1e-5 <= soft[4, 4, 8] < level  # boundary label voxel: at least half
    assert soft[4, 4, 12] == pytest.approx(level, rel=1e-3)  # deep inside: the full new level
    assert np.array_equal(soft[..., 1:4], img[..., 1:4])  # far outside: untouched


def test_cochlea_intensity_augmentation_is_the_adapted_chains_only() -> None:
    from crossmoda.algorithm.training.config import COCHLEA_PROB, load_config
    from crossmoda.algorithm.training.data import augment_patch

    assert load_config(None, {"mode": "adapted"}).segment.cochlea_prob == COCHLEA_PROB["adapted"] > 0
    assert load_config(None, {"mode": "supervised"}).segment.cochlea_prob == 0.0
    assert load_config(None, {"mode": "no_adaptation"}).segment.cochlea_prob == 0.0
    # with probability 1 the cochlea's mean lands in the patch's upper half (50th-99.5th pct),
    # whatever it was; the background is only touched by the global intensity augmentations
    rng = np.random.default_rng(2)
    img = rng.normal(0.0, 1.0, (4, 12, 12)).astype(np.float32)
    lbl = np.zeros(img.shape, dtype=np.uint8)
    lbl[1:3, 5:7, 5:7] = 2
    img[lbl == 2] = -3.0  # a dark cochlea, as a failed translation leaves it
    brighter = 0
    for _ in range(20):
        out, out_lbl = augment_patch(img, lbl, rng, cochlea_prob=1.0)
        brighter += float(out[out_lbl == 2].mean()) > float(np.median(out))
    assert brighter >= 18  # noise, blur and rotation may move a few voxels, not the level
