"""The full-resolution GPU recipe (``configs/gpu_full.json``) stays valid: its geometry fits its
network, and every training stage runs a few steps on a ``full``-phantom case on the CPU with the
recipe's crop geometry (iteration counts, and the segmentation patch and widths, made tiny)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.training.chain import run_prepare, run_segment, run_self_train, run_translate
from crossmoda.algorithm.training.config import load_config

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "gpu_full.json"


def _strides(levels: int) -> tuple[int, int, int]:
    """Total down-sampling of :func:`build_segmenter`'s DynUNet per axis ``(z, y, x)``."""
    return 2 ** (levels - 2), 2 ** (levels - 1), 2 ** (levels - 1)


def test_recipe_geometry_fits_its_network() -> None:
    cfg = load_config(RECIPE)
    pre, seg = cfg.preprocess, cfg.segment
    assert pre.spacing_mm[1] <= 0.5 and pre.spacing_mm[2] <= 0.5  # real hrT2's in-plane resolution
    assert all(p <= r for p, r in zip(seg.patch, pre.roi_shape, strict=True))
    assert all(p % s == 0 for p, s in zip(seg.patch, _strides(len(seg.filters)), strict=True))
    assert min(pre.roi_shape[1:]) >= cfg.translate.patch
    assert cfg.self_train.rounds >= 3 and seg.iterations >= 10 * 1000
    net = build_segmenter(seg.filters)
    assert sum(p.numel() for p in net.parameters()) > 10_000_000  # nnU-Net scale (~31 M)
    shape = tuple(2 * s for s in _strides(len(seg.filters)))  # the bottleneck keeps 2 voxels per axis
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, 1, *shape))
    assert tuple(out.shape) == (1, 5, *shape)


@pytest.mark.slow
def test_recipe_stages_run_on_a_full_phantom_case(tmp_path: Path) -> None:
    from crossmoda.phantom.config import PhantomConfig
    from crossmoda.phantom.dataset import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, PhantomConfig(source=1, target=1, validation=0, test=0, seed=5, preset="full"),
                     progress=False)
    recipe = json.loads(RECIPE.read_text(encoding="utf-8"))
    recipe["device"] = "cpu"
    recipe["validate"] = False
    recipe["translate"].update(iterations=2, batch_size=2, checkpoint_every=1)
    recipe["segment"].update(iterations=2, checkpoint_every=1, patch=[16, 64, 64], filters=[4, 8, 8, 8, 8, 8])
    recipe["self_train"].update(rounds=1, iterations=1)
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe), encoding="utf-8")
    cfg = load_config(path)
    run = tmp_path / "run"
    device = torch.device("cpu")
    index = run_prepare(data, run, cfg)
    assert {k: len(v) for k, v in index.splits.items() if v} == {"source": 1, "target": 1}
    crop = np.load(run / "data" / "target" / f"{index.target[0]}_image.npy")
    assert crop.shape == tuple(cfg.preprocess.roi_shape) and np.isfinite(crop).all()
    assert "seconds_train" in run_translate(run, cfg, device)
    assert (run / "data" / "pseudo").is_dir()
    assert "seconds" in run_segment(data, run, cfg, device)
    info = run_self_train(data, run, cfg, device)
    assert [r["round"] for r in info["rounds"]] == [1]
    meta = json.loads((run / "self_train" / "model" / "model.json").read_text(encoding="utf-8"))
    assert meta["preprocess"]["spacing_mm"] == [1.0, 0.4, 0.4]
    assert meta["train_config"]["self_train"]["rounds"] == 1
