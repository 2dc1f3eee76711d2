"""Training building blocks: config, patches, post-processing, resumable training, translation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmoda.algorithm.inference.postprocess import clean_labels, largest_components, one_component_per_side
from crossmoda.algorithm.inference.sliding_window import predict_volume
from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.model.spec import NetworkSpec
from crossmoda.algorithm.training import data as data_mod
from crossmoda.algorithm.training.config import (
    SegmentConfig,
    TrainConfig,
    TranslateConfig,
    config_from_dict,
    load_config,
)
from crossmoda.algorithm.training.data import Volume, sample_patch
from crossmoda.algorithm.training.segment import train_segmenter
from crossmoda.algorithm.training.selftrain import PseudoLabel, select_pseudo_labels
from crossmoda.algorithm.training.translation.loop import translate_volume
from crossmoda.algorithm.training.translation.nets import PatchDiscriminator, ResnetGenerator

TINY_SEG = SegmentConfig(
    patch=(8, 16, 16), batch_size=2, iterations=4, filters=(4, 8, 16), checkpoint_every=2
)


def _volume(case: str = "a", shape: tuple[int, int, int] = (10, 20, 24)) -> Volume:
    rng = np.random.default_rng(0)
    image = rng.normal(size=shape).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    label[4:6, 5:8, 3:6] = 2
    label[3:7, 10:15, 14:20] = 1
    image[label == 1] += 2.0
    return Volume(case, image, label)


def test_config_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = TrainConfig(seed=3, mode="no_adaptation")
    again = config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"segment": {"iterations": 7}, "self_train": {"rounds": 1}}))
    loaded = load_config(path, {"device": "cpu", "seed": None})
    assert loaded.segment.iterations == 7 and loaded.self_train.rounds == 1 and loaded.seed == 0
    assert loaded.segment.patch == (32, 64, 64)  # untouched defaults stay
    with pytest.raises(ValueError, match="unknown SegmentConfig keys"):
        config_from_dict({"segment": {"iterationz": 1}})
    with pytest.raises(ValueError, match="mode"):
        TrainConfig(mode="fancy")


def test_sample_patch_pads_small_volumes_and_hits_foreground() -> None:
    vol = _volume(shape=(4, 20, 24))
    rng = np.random.default_rng(1)
    img, lbl = sample_patch(vol, (8, 16, 16), rng, fg_fraction=1.0)
    assert img.shape == (8, 16, 16) and lbl.shape == (8, 16, 16)
    assert (img == vol.image.min()).sum() >= 4 * 16 * 16  # z padded by >= 4 slices
    hits = sum(bool(np.isin(sample_patch(vol, (4, 8, 8), rng, 1.0)[1], (1, 2)).any()) for _ in range(20))
    assert hits == 20


def test_largest_components_and_one_cochlea_per_side() -> None:
    mask = np.zeros((1, 5, 12), dtype=bool)
    mask[0, 0, 0:2] = True  # left, 2 voxels
    mask[0, 2, 0:4] = True  # left, 4 voxels
    mask[0, 0, 8:11] = True  # right, 3 voxels
    mask[0, 4, 11] = True  # right, 1 voxel
    assert largest_components(mask, 1).sum() == 4
    assert largest_components(mask, 2).sum() == 7
    lateral = np.arange(12, dtype=np.float64) - 5.5
    kept = one_component_per_side(mask, lateral[None, None, :])
    assert kept.sum() == 7 and kept[0, 2, 0:4].all() and kept[0, 0, 8:11].all()


def test_vs_component_keeps_the_tumour_next_to_a_cochlea() -> None:
    from crossmoda.algorithm.inference.postprocess import vs_component

    shape = (10, 40, 40)
    cochlea = np.zeros(shape, dtype=bool)
    cochlea[5, 20, 2:4] = True
    vs = np.zeros(shape, dtype=bool)
    vs[5, 20, 9:12] = True  # 3 voxels; gap 6 voxels = 6 mm at 1 mm, 12 mm at 2 mm in x
    vs[2:8, 30:38, 25:35] = True  # a larger false positive, >= 20 mm away
    prob = vs.astype(np.float32)
    kept = vs_component(vs, prob, cochlea, (1.0, 1.0, 1.0), max_distance_mm=10.0)
    assert kept.sum() == 3 and kept[5, 20, 9:12].all()
    # distance is measured in mm: at 2 mm in-plane the gap is 12 mm > 10 mm -> no tumour
    assert not vs_component(vs, prob, cochlea, (1.0, 2.0, 2.0), max_distance_mm=10.0).any()
    # without a predicted cochlea, the largest component
    assert vs_component(vs, prob, np.zeros(shape, bool), (1.0, 1.0, 1.0)).sum() == 6 * 8 * 10
    # nearest of two candidates in reach: the larger probability mass wins
    vs2 = vs.copy()
    vs2[5, 24:26, 4:6] = True
    prob2 = np.where(vs2, 0.8, 0.0).astype(np.float32)  # 4 voxels x 0.8 = 3.2
    prob2[5, 20, 9:12] = 0.9  # 3 voxels x 0.9 = 2.7
    kept2 = vs_component(vs2, prob2, cochlea, (1.0, 1.0, 1.0), max_distance_mm=10.0)
    assert kept2.sum() == 4 and kept2[5, 24:26, 4:6].all()


def test_clean_labels_and_pseudo_label_selection() -> None:
    arg = np.zeros((2, 4, 10), dtype=np.uint8)
    arg[0, 0, 0:3] = 1
    arg[1, 3, 9] = 1  # stray VS voxel, removed
    arg[0, 2, 1] = 2
    arg[0, 2, 8] = 2
    probs = np.eye(5, dtype=np.float32)[arg].transpose(3, 0, 1, 2)
    cleaned = clean_labels(probs, (1.0, 1.0, 1.0)).combined()
    assert (cleaned == 1).sum() == 3 and (cleaned == 2).sum() == 2
    image = np.zeros(arg.shape, dtype=np.float32)
    labels = [
        PseudoLabel("a", cleaned, 0.9),
        PseudoLabel("b", cleaned, 0.5),
        PseudoLabel("c", cleaned * 0, 0.99),
        PseudoLabel("d", cleaned, 0.8),
    ]
    from crossmoda.algorithm.training.config import SelfTrainConfig

    kept = select_pseudo_labels(
        labels, {c: image for c in "abcd"}, SelfTrainConfig(min_confidence=0.6, keep_fraction=0.5)
    )
    assert [v.case for v in kept] == ["a"]  # b below threshold, c has no VS, d the less confident half


def test_segmenter_trains_resumes_and_loads_weights_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vols = [_volume("a"), _volume("b")]
    drawn = []
    real = data_mod.patch_batches

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for n, batch in enumerate(real(*args, **kwargs)):  # type: ignore[arg-type]
            drawn.append(n)
            if len(drawn) == 3 and not (tmp_path / "stop").exists():
                (tmp_path / "stop").touch()
                raise KeyboardInterrupt
            yield batch

    from crossmoda.algorithm.training import segment

    monkeypatch.setattr(segment, "patch_batches", counting)
    with pytest.raises(KeyboardInterrupt):
        train_segmenter(vols, TINY_SEG, tmp_path / "seg", device=torch.device("cpu"), seed=0)
    state = torch.load(tmp_path / "seg" / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 2
    drawn.clear()
    weights = train_segmenter(vols, TINY_SEG, tmp_path / "seg", device=torch.device("cpu"), seed=0)
    assert len(drawn) == 2  # resumed at 2 of 4
    assert not (tmp_path / "seg" / "checkpoint.pt").exists()
    loaded = torch.load(tmp_path / "seg" / "model.pt", weights_only=True)
    assert loaded.keys() == weights.keys()
    net = build_segmenter(TINY_SEG.filters)
    net.load_state_dict(loaded)
    spec = NetworkSpec(TINY_SEG.filters, TINY_SEG.patch)
    probs = predict_volume(net, vols[0].image, spec, torch.device("cpu"), tta=True)
    assert probs.shape == (5, 10, 20, 24)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-4)


def test_translation_networks_keep_the_slice_shape() -> None:
    cfg = TranslateConfig(ngf=4, ndf=4, n_blocks=1)
    g = ResnetGenerator(cfg.ngf, cfg.n_blocks)
    assert g(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    assert PatchDiscriminator(cfg.ndf)(torch.zeros(2, 1, 64, 64)).shape == (2, 1, 6, 6)
    image = np.random.default_rng(0).normal(size=(3, 18, 23)).astype(np.float32)  # not multiples of 4
    fake = translate_volume(g, image, torch.device("cpu"), batch=2)
    assert fake.shape == image.shape
    assert fake.mean() == pytest.approx(0.0, abs=1e-5) and fake.std() == pytest.approx(1.0, abs=1e-4)


def test_local_and_curve_generators_and_the_population_atlas() -> None:
    from crossmoda.algorithm.training.data import Volume
    from crossmoda.algorithm.training.translation.loop import population_atlas
    from crossmoda.algorithm.training.translation.nets import build_generator

    x = torch.linspace(-2.0, 2.0, 2 * 18 * 23).reshape(2, 1, 18, 23)  # any H, W
    for name in ("local", "curve", "resnet"):
        g = build_generator(TranslateConfig(generator=name, ngf=4, n_blocks=1))
        if name == "resnet":
            assert g(torch.zeros(1, 1, 16, 16)).shape == (1, 1, 16, 16)
        else:
            assert g(x).shape == x.shape
    # the curve generator starts as the identity on [-4, 4]
    curve = build_generator(TranslateConfig(generator="curve", ngf=4, n_blocks=1))
    with torch.no_grad():
        np.testing.assert_allclose(curve(x).numpy(), x.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="unknown generator"):
        build_generator(TranslateConfig(generator="unet"))
    a = Volume("a", np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 4), np.uint8))
    b = Volume("b", np.full((2, 3, 4), 2.0, np.float32), np.zeros((2, 3, 4), np.uint8))
    np.testing.assert_allclose(population_atlas([a, b]), 1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        population_atlas([a, Volume("c", np.zeros((2, 3, 5), np.float32), np.zeros((2, 3, 5), np.uint8))])
