"""Training on crossMoDA 2023 data: the segmenter classes of the 2023 label map (1 extra-meatal VS,
2 intra-meatal VS, 3 cochlea, 4 brainstem, 5 cerebellum), T2 targets, no Koos stage, and a
model folder that ``crossmoda-algorithm`` runs as a 2023 model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.algorithm.inference.cli import main as algorithm_main
from crossmoda.algorithm.model.spec import class_roles, read_model_json
from crossmoda.algorithm.training.cli import main as train_main
from crossmoda.algorithm.training.config import CLASS_WEIGHTS, SelfTrainConfig, TrainConfig, config_from_dict
from crossmoda.algorithm.training.data import Volume, augment_patch, label_intensity
from crossmoda.algorithm.training.prepare import merge_labels
from crossmoda.algorithm.training.selftrain import PseudoLabel, select_pseudo_labels
from crossmoda.core.io import read_label_map
from crossmoda.core.labels import LABELS_2023
from crossmoda.phantom.cli import main as phantom_main
from tests.algorithm.test_pipeline import TINY


def test_class_roles_per_label_map() -> None:
    r22, r23 = class_roles("crossmoda2022"), class_roles("crossmoda2023")
    assert (r22.vs, r22.cochlea, r22.brainstem, r22.cerebellum) == ((1,), 2, 3, 4)
    assert (r23.vs, r23.cochlea, r23.brainstem, r23.cerebellum) == ((1, 2), 3, 4, 5)
    assert r23.foreground == (1, 2, 3)


def test_merge_labels_puts_aux_after_the_label_classes() -> None:
    label = np.array([0, 1, 2, 3, 0, 0, 3], np.uint8)
    aux = np.array([1, 1, 0, 0, 2, 0, 2], np.uint8)  # aux never overwrites a _Label voxel
    assert merge_labels(label, aux, "crossmoda2023").tolist() == [4, 1, 2, 3, 5, 0, 3]
    merged = merge_labels(np.array([0, 1, 2, 0]), np.array([1, 0, 0, 2]), "crossmoda2022")
    assert merged.tolist() == [3, 1, 2, 4]


def test_config_resolves_the_data_label_map() -> None:
    cfg = TrainConfig()
    cfg.for_label_map("crossmoda2023")
    assert cfg.label_map == "crossmoda2023" and cfg.segment.class_weights == CLASS_WEIGHTS["crossmoda2023"]
    assert cfg.model_spec().label_map == "crossmoda2023" and len(cfg.model_spec().classes) == 6
    explicit = config_from_dict({"label_map": "crossmoda2022", "segment": {"class_weights": [1, 2, 3, 4, 5]}})
    assert explicit.segment.class_weights == (1, 2, 3, 4, 5)  # JSON lists become tuples
    with pytest.raises(ValueError, match="trains crossmoda2022 models, the data is crossmoda2023"):
        explicit.for_label_map("crossmoda2023")
    with pytest.raises(ValueError, match="label_map"):
        config_from_dict({"label_map": "crossmoda2024"})


def test_tumour_augmentation_moves_both_tumour_parts_together() -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(size=(4, 16, 16)).astype(np.float32)
    lbl = np.zeros(img.shape, np.uint8)
    lbl[1:3, 4:8, 4:8] = 1
    lbl[1:3, 8:10, 4:8] = 2
    lbl[1:3, 12:14, 12:14] = 3
    out = label_intensity(img, lbl, np.random.default_rng(1), (1, 2), (0.0, 100.0))
    tumour = np.isin(lbl, (1, 2))
    shift = out[tumour] - img[tumour]
    assert not np.allclose(shift, 0) and np.allclose(out[~tumour], img[~tumour])
    # one gain and one level for the union: the shift is affine in the original intensities
    gain = np.polyfit(img[tumour], out[tumour], 1)[0]
    assert np.allclose(out[tumour], gain * (img[tumour] - img[tumour].mean()) + out[tumour].mean(), atol=1e-4)
    aug, aug_lbl = augment_patch(img, lbl, np.random.default_rng(2), tumour_prob=1.0, cochlea_prob=1.0,
                                 roles=class_roles("crossmoda2023"))
    assert set(np.unique(aug_lbl)) <= {0, 1, 2, 3}


def test_self_training_keeps_2023_pseudo_labels_with_a_tumour_and_a_cochlea() -> None:
    shape = (2, 4, 4)
    image = np.zeros(shape, np.float32)

    def label(*values: int) -> np.ndarray:
        out = np.zeros(shape, np.uint8)
        out.flat[: len(values)] = values
        return out

    labels = [
        PseudoLabel("intra_only", label(2, 3), 0.9),  # an intra-meatal tumour is a tumour
        PseudoLabel("both_parts", label(1, 2, 3), 0.8),
        PseudoLabel("no_cochlea", label(1, 2), 0.95),
        PseudoLabel("cochlea_only", label(3), 0.95),
    ]
    images = {p.case: image for p in labels}
    kept = select_pseudo_labels(labels, images, SelfTrainConfig(keep_fraction=1.0),
                                class_roles("crossmoda2023"))
    assert [v.case for v in kept] == ["intra_only", "both_parts"]
    assert all(isinstance(v, Volume) and v.fg_classes == (1, 2, 3) for v in kept)
    # the 2022 roles read label 2 as the cochlea and 3 as the brainstem
    kept_2022 = select_pseudo_labels(labels, images, SelfTrainConfig(keep_fraction=1.0))
    assert [v.case for v in kept_2022] == ["no_cochlea", "both_parts"]


@pytest.mark.slow
def test_train_all_on_2023_phantom_gives_a_2023_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert phantom_main(["generate", str(data), "--edition", "2023", "--preset", "small", "--source", "2",
                         "--target", "2", "--validation", "1", "--test", "0", "--seed", "3",
                         "--workers", "1", "--no-progress"]) == 0
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    assert train_main(["all", str(data), "--output", str(run), "--config", str(cfg), "--threads", "1"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["label_map"] == "crossmoda2023" and config["segment"]["class_weights"] == list(
        CLASS_WEIGHTS["crossmoda2023"])
    index = json.loads((run / "data" / "index.json").read_text())
    assert index["label_map"] == "crossmoda2023" and len(index["splits"]["target"]) == 2
    crops = [np.load(p) for p in sorted((run / "data" / "source").glob("*_label.npy"))]
    assert {1, 3, 4} <= set(np.unique(np.concatenate([c.ravel() for c in crops]))) <= {0, 1, 2, 3, 4, 5}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stages"]["koos"] == {"skipped": "crossmoda2023 task (no Koos grade)"}
    assert {"ExtraMeatalVS_Dice", "IntraMeatalVS_Dice", "VS_Dice", "Cochlea_Dice"} <= set(
        summary["stages"]["self_train"]["validation_mean"])
    spec, meta = read_model_json(run / "model")
    assert spec.label_map == "crossmoda2023" and meta["mode"] == "adapted"
    assert not (run / "model" / "koos_model.json").exists()
    out = tmp_path / "out"
    assert algorithm_main(["--input", str(data / "validation"), "--output", str(out), "--model",
                           str(run / "model"), "--device", "cpu"]) == 0
    written = sorted(out.glob("*.nii.gz"))
    inputs = sorted((data / "validation").glob("*_T2.nii.gz"))
    assert [p.name for p in written] == [p.name.replace("_T2", "") for p in inputs]
    labels, _ = read_label_map(written[0], LABELS_2023)
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
