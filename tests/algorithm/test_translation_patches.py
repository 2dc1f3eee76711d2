"""Patch sampling of the translation stage: own labels, and the location prior for unlabelled crops."""

from __future__ import annotations

import numpy as np

from crossmoda.algorithm.data import Volume
from crossmoda.algorithm.translation import _slice_patches


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
    imgs, lbls = _slice_patches([target], 32, 16, rng, 1.0, prior=[prior])
    assert imgs.shape == (32, 1, 16, 16)
    assert int(lbls.sum()) == 0  # the target's own (empty) labels are returned, not the prior's
    assert all(float(p.max()) == 5.0 for p in imgs)
    # Without the prior, an unlabelled volume gives uniformly placed patches: most miss the mark.
    imgs, _ = _slice_patches([target], 32, 16, np.random.default_rng(0), 1.0)
    assert sum(float(p.max()) == 5.0 for p in imgs) < 16


def test_own_labels_centre_source_patches() -> None:
    vol = _labelled((4, 48, 48), (slice(1, 2), slice(10, 13), slice(36, 39)))
    imgs, lbls = _slice_patches([vol], 16, 16, np.random.default_rng(1), 1.0)
    assert all(int(lbl.max()) == 2 for lbl in lbls)
    assert all(float(img.max()) == 10.0 for img in imgs)
