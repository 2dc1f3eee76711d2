"""2023 models (extra-/intra-meatal VS, cochlea): the model folder's label map, the split
post-processing, ``crossmoda-algorithm`` in folder and grand-challenge modes with a tiny randomly
initialised 3-class model, the bad-input messages, and scoring with ``crossmoda-evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from crossmoda.algorithm.inference.cli import main as algorithm_main
from crossmoda.algorithm.inference.postprocess import clean_labels
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.model.spec import (
    ModelError,
    ModelSpec,
    model_json,
    read_model_json,
    spec_from_model_json,
)
from crossmoda.algorithm.training.prepare import data_label_map, prepare_data
from crossmoda.core.io import Geometry, read_image, read_label_map
from crossmoda.core.labels import LABELS_2022, LABELS_2023
from crossmoda.evaluation.cli import main as evaluate_main
from tests.algorithm.synthetic import make_image, render
from tests.algorithm.tiny_model import TINY, write_tiny_model

PRE, NET = TINY.preprocess, TINY.network
HEAD = np.array([1.0, 2.0, 3.0])


def _model(root: Path, label_map: str) -> Path:
    """A model folder with a randomly initialised network of ``label_map``'s classes (a 2023
    model's template cut from a synthetic head, so that it finds the canals)."""
    return write_tiny_model(root, label_map=label_map)


def _case(folder: Path, name: str, size: tuple[int, int, int] = (70, 45, 11),
          spacing: tuple[float, float, float] = (0.93, 1.1, 2.7), seed: int = 0) -> sitk.Image:
    """Write a synthetic head image as ``folder/name``; return its 2022 label map."""
    folder.mkdir(parents=True, exist_ok=True)
    image, label, _ = render(make_image(size, spacing, tuple(HEAD)), HEAD, 1, 5.0, "hrT2",
                             np.random.default_rng(seed))
    sitk.WriteImage(image, str(folder / name))
    return label


def _split_reference(label: sitk.Image) -> sitk.Image:
    """A 2023 reference from a 2022 one: the tumour's lateral half extra-meatal (1), the rest
    intra-meatal (2), cochlea 3."""
    arr = sitk.GetArrayFromImage(label)
    out = np.where(arr == 2, 3, 0).astype(np.uint8)
    xs = np.nonzero(arr == 1)[2]
    mid = np.median(xs) if xs.size else 0
    x = np.arange(arr.shape[2])[None, None, :]
    out[(arr == 1) & (x >= mid)] = 1
    out[(arr == 1) & (x < mid)] = 2
    ref = sitk.GetImageFromArray(out)
    ref.CopyInformation(label)
    return ref


def test_model_folder_declares_its_label_map() -> None:
    shipped, _ = read_model_json(shipped_model_dir("adapted"))  # format 1
    assert shipped.label_map == "crossmoda2022" and len(shipped.classes) == 5
    spec = ModelSpec(PRE, NET, label_map="crossmoda2023")
    meta = model_json(spec)
    assert meta["label_map"] == LABELS_2023.to_dict()
    assert meta["classes"] == ["background", "extra-meatal VS", "intra-meatal VS", "cochlea",
                               "brainstem", "cerebellum"]
    assert spec_from_model_json(meta) == spec
    current_2022 = model_json(ModelSpec(PRE, NET))  # format 2 written before label maps varied
    assert spec_from_model_json(current_2022).label_map == "crossmoda2022"
    with pytest.raises(ModelError, match="classes"):  # a 2023 map with the 2022 network classes
        spec_from_model_json({**meta, "classes": current_2022["classes"]})
    with pytest.raises(ModelError, match="label map"):
        spec_from_model_json({**meta, "label_map": {"name": "crossmoda2024"}})
    with pytest.raises(ValueError, match="label map"):
        ModelSpec(label_map="crossmoda2024")


def test_split_cleaning_keeps_the_whole_tumour_and_splits_it() -> None:
    """A tumour next to a cochlea, its left half more extra- and right half more intra-meatal,
    and a stray tumour blob far from the cochlea: the stray blob goes (VS cleaning on the union),
    the kept tumour is split by the larger part probability, the cochlea becomes label 3."""
    shape = (10, 20, 40)
    probs = np.zeros((6, *shape), dtype=np.float32)
    probs[0] = 1.0
    tumour = (slice(3, 7), slice(8, 12), slice(10, 20))
    probs[0][tumour] = 0.0
    probs[1][tumour] = 0.4
    probs[2][tumour] = 0.6
    probs[1][3:7, 8:12, 10:15] = 0.7
    probs[2][3:7, 8:12, 10:15] = 0.3
    cochlea = (slice(4, 6), slice(9, 11), slice(21, 23))  # right of the tumour, same side
    probs[0][cochlea], probs[3][cochlea] = 0.0, 1.0
    stray = (slice(4, 6), slice(9, 11), slice(36, 38))  # 14 mm from the cochlea
    probs[0][stray], probs[1][stray] = 0.0, 1.0
    out = clean_labels(probs, (1.0, 1.0, 1.0), side_of=np.full((1, 1, 40), -1.0),
                       label_map="crossmoda2023")
    expected = np.zeros(shape, dtype=np.uint8)
    expected[tumour] = 2
    expected[3:7, 8:12, 10:15] = 1
    expected[cochlea] = 3
    np.testing.assert_array_equal(out.labels, expected)
    assert out.combined().max() <= 5
    with pytest.raises(ValueError, match="6 class probabilities"):
        clean_labels(probs[:5], (1.0, 1.0, 1.0), label_map="crossmoda2023")


def test_2023_model_writes_2023_outputs_and_refuses_bad_cases(tmp_path: Path) -> None:
    model = _model(tmp_path / "model", "crossmoda2023")
    inp, truth = tmp_path / "in", tmp_path / "truth"
    truth.mkdir()
    good = ["crossmoda2023_ldn_1", "crossmoda2023_ukm_2"]
    for i, case in enumerate(good):
        label = _case(inp, f"{case}_T2.nii.gz", seed=i)
        sitk.WriteImage(_split_reference(label), str(truth / f"{case}_Label.nii.gz"))
    _case(inp, "crossmoda2022_etz_3_hrT2.nii.gz")  # a 2022 input
    _case(inp, "crossmoda2022_etz_4_T2.nii.gz")  # a 2022 case name
    _case(inp, "crossmoda2023_ukm_5_T2.nii.gz", size=(70, 45, 1))  # one slice: 2D
    _case(inp, "crossmoda2023_ukm_6_T2.nii.gz", size=(70, 45, 4), spacing=(0.93, 1.1, 13.0))  # 3 + 10 mm gap
    out = tmp_path / "out"

    assert algorithm_main(["--input", str(inp), "--output", str(out), "--model", str(model),
                           "--device", "cpu"]) == 1  # some cases failed

    record = json.loads((out / "predictions.json").read_text())
    failures = record["failures"]
    assert set(failures) == {"crossmoda2022_etz_3_hrT2.nii.gz", "crossmoda2022_etz_4", "crossmoda2023_ukm_5",
                             "crossmoda2023_ukm_6"}
    assert "crossmoda2022 model" in failures["crossmoda2022_etz_3_hrT2.nii.gz"]
    assert "2022 case name" in failures["crossmoda2022_etz_4"]
    assert "2D image" in failures["crossmoda2023_ukm_5"]
    assert "spacing (0.93, 1.1, 13) mm" in failures["crossmoda2023_ukm_6"]
    assert sorted(record["cases"]) == good and not (out / "predictions.csv").exists()  # no Koos task
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [f"{c}.nii.gz" for c in good]
    for case in good:
        labels, geometry = read_label_map(out / f"{case}.nii.gz", LABELS_2023)  # refuses values > 3
        assert geometry == Geometry.from_image(read_image(inp / f"{case}_T2.nii.gz"))
        assert record["cases"][case]["class"] is None

    scores = tmp_path / "scores"
    assert evaluate_main(["--predictions", str(out), "--ground-truth", str(truth), "--output", str(scores),
                          "--label-map", "crossmoda2023", "--no-progress"]) == 0
    table = pd.read_csv(scores / "metrics.csv")
    assert sorted(table["case"]) == good
    for column in ("VS_Dice", "ExtraMeatalVS_Dice", "IntraMeatalVS_Dice", "Cochlea_ASSD"):
        assert table[column].notna().all()

    # grand-challenge mode: the T2 socket in, the segmentation socket out, no Koos file
    job = tmp_path / "job" / "images" / "t2-mri"
    job.mkdir(parents=True)
    sitk.WriteImage(read_image(inp / f"{good[0]}_T2.nii.gz"), str(job / "a1b2.mha"))
    gc_out = tmp_path / "gc_out"
    assert algorithm_main(["--input", str(job.parents[1]), "--output", str(gc_out), "--model", str(model),
                           "--device", "cpu"]) == 0
    gc_labels, _ = read_label_map(gc_out / "images" / "vs-cochlea-segmentation" / "output.mha", LABELS_2023)
    folder_labels, _ = read_label_map(out / f"{good[0]}.nii.gz", LABELS_2023)
    np.testing.assert_array_equal(gc_labels, folder_labels)
    assert not (gc_out / "koos-grade.json").exists()


def test_2022_model_refuses_2023_cases(tmp_path: Path) -> None:
    model = _model(tmp_path / "model", "crossmoda2022")
    inp = tmp_path / "in"
    _case(inp, "crossmoda2022_ldn_1_hrT2.nii.gz")
    _case(inp, "crossmoda2023_ukm_2_T2.nii.gz")  # a 2023 input
    _case(inp, "crossmoda2023_etz_3_hrT2.nii.gz")  # a 2023 case name
    out = tmp_path / "out"
    assert algorithm_main(["--input", str(inp), "--output", str(out), "--model", str(model),
                           "--device", "cpu"]) == 1
    failures = json.loads((out / "predictions.json").read_text())["failures"]
    assert set(failures) == {"crossmoda2023_ukm_2_T2.nii.gz", "crossmoda2023_etz_3"}
    assert "crossmoda2023 model" in failures["crossmoda2023_ukm_2_T2.nii.gz"]
    assert "2023 case name" in failures["crossmoda2023_etz_3"]
    read_label_map(out / "crossmoda2022_ldn_1_Label.nii.gz", LABELS_2022)
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["crossmoda2022_ldn_1_Label.nii.gz"]

    job = tmp_path / "job" / "images" / "t2-mri"  # a 2023 grand-challenge job
    job.mkdir(parents=True)
    sitk.WriteImage(read_image(inp / "crossmoda2023_ukm_2_T2.nii.gz"), str(job / "a1b2.mha"))
    gc_out = tmp_path / "gc_out"
    assert algorithm_main(["--input", str(job.parents[1]), "--output", str(gc_out), "--model", str(model),
                           "--device", "cpu"]) == 1
    assert not (gc_out / "images").exists()


def _touch(root: Path, *names: str) -> Path:
    for name in names:
        split, file = name.split("/")
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / file).write_bytes(b"")
    return root


def test_training_data_label_map_from_case_names(tmp_path: Path) -> None:
    data_2022 = _touch(tmp_path / "a", "source_training/crossmoda2022_etz_1_ceT1.nii.gz",
                       "target_training/crossmoda2022_ldn_2_hrT2.nii.gz")
    assert data_label_map(data_2022) == "crossmoda2022"
    data_2023 = _touch(tmp_path / "b", "source_training/crossmoda2023_etz_1_ceT1.nii.gz",
                       "target_training/crossmoda2023_ukm_2_T2.nii.gz")
    assert data_label_map(data_2023) == "crossmoda2023"
    mixed = _touch(tmp_path / "c", "source_training/crossmoda2023_etz_1_ceT1.nii.gz",
                   "target_training/crossmoda2022_ldn_2_hrT2.nii.gz")
    with pytest.raises(ValueError, match="mixes crossMoDA 2023 cases"):
        data_label_map(mixed)
    with pytest.raises(ValueError, match="mixes crossMoDA 2023 cases"):  # never a silent 2-class model
        prepare_data(mixed, tmp_path / "prepared", PRE)
    assert not (tmp_path / "prepared").exists()
