"""MIND structure descriptor and the translation's MIND term."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from crossmoda.algorithm.training.config import TranslateConfig
from crossmoda.algorithm.training.data import Volume
from crossmoda.algorithm.training.translation.loop import train_translation
from crossmoda.algorithm.training.translation.mind import mind_descriptor, mind_loss


def _disc(shift: int = 0) -> torch.Tensor:
    """A 24 x 24 binary image: a disc of radius 6 px, centre moved ``shift`` px along x."""
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    return (((yy - 12) ** 2 + (xx - 12 - shift) ** 2) <= 36).float()[None, None]


def test_descriptor_shape_range_and_flat_image() -> None:
    m = mind_descriptor(_disc())
    assert m.shape == (1, 4, 24, 24)
    assert float(m.min()) > 0.0 and float(m.max()) == pytest.approx(1.0)
    # a flat image has no structure: every direction equally similar
    np.testing.assert_allclose(mind_descriptor(torch.full((1, 1, 8, 8), 3.0)).numpy(), 1.0)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        mind_descriptor(torch.zeros(1, 2, 8, 8))


def test_loss_ignores_contrast_but_not_edge_position() -> None:
    disc = _disc()
    # any pointwise remapping of a two-level image (inverted, scaled, shifted) has the same MIND
    assert float(mind_loss(disc, -3.0 * disc + 1.0)) < 1e-5
    # an edge moved by one pixel does not
    moved = float(mind_loss(disc, _disc(shift=1)))
    assert moved > 0.01
    assert float(mind_loss(disc, _disc(shift=3))) > moved


def test_translation_trains_with_the_mind_term(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shape = (4, 32, 32)
    label = np.zeros(shape, np.uint8)
    label[1:3, 10:16, 10:16] = 1
    label[1:3, 20:22, 20:22] = 2
    src = [Volume(f"s{i}", rng.normal(size=shape).astype(np.float32) + 2.0 * (label == 1), label)
           for i in range(2)]
    tgt = [Volume(f"t{i}", rng.normal(size=shape).astype(np.float32) - 2.0 * (label == 1), label)
           for i in range(2)]
    cfg = TranslateConfig(patch=32, batch_size=2, iterations=2, ngf=4, ndf=4, n_blocks=1,
                          lambda_mind=2.0, checkpoint_every=1)
    weights = train_translation(src, tgt, cfg, tmp_path, device=torch.device("cpu"), seed=0)
    assert (tmp_path / "G_A.pt").is_file() and weights
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_tumour_level_stays_within_its_percentiles() -> None:
    """The VS intensity augmentation draws the tumour's level from ``tumour_percentiles`` of the
    patch: capped at the 10th, the tumour always ends up darker than most of the patch."""
    from crossmoda.algorithm.training.data import augment_patch

    rng = np.random.default_rng(0)
    img = rng.normal(size=(8, 24, 24)).astype(np.float32)
    lbl = np.zeros(img.shape, np.uint8)
    lbl[2:6, 8:16, 8:16] = 1
    img[lbl == 1] += 3.0  # bright before the augmentation
    for seed in range(5):
        out, out_lbl = augment_patch(img, lbl, np.random.default_rng(seed), tumour_prob=1.0,
                                     tumour_percentiles=(0.0, 10.0))
        assert out[out_lbl == 1].mean() < np.median(out[out_lbl == 0])
