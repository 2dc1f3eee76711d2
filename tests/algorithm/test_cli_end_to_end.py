"""``crossmoda-algorithm`` end to end, as the console script runs (``python -m``): a tiny model
folder made here and the shipped model, each in folder and grand-challenge modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.core.io import Geometry, read_image, read_label_map
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.labels import LABELS_2022
from tests.algorithm.synthetic import make_image, render
from tests.algorithm.tiny_model import TINY, write_tiny_model

SRC = Path(__file__).resolve().parents[2] / "src"

def _algorithm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "crossmoda.algorithm.inference.cli", "--device", "cpu",
                           *map(str, args)], capture_output=True, text=True, env=env, timeout=600)



def _gc_job(root: Path, image_path: Path) -> Path:
    folder = root / "images" / "hrt2-mri"
    folder.mkdir(parents=True)
    sitk.WriteImage(read_image(image_path), str(folder / "9f8e7d.mha"))
    return root


def _check_both_modes(tmp_path: Path, inp: Path, model: Path) -> None:
    folder_out = tmp_path / "out_folder"
    result = _algorithm("--input", inp, "--output", folder_out, "--model", model)
    assert result.returncode == 0, result.stderr[-3000:]
    cases = sorted(p.name.removesuffix("_hrT2.nii.gz") for p in inp.glob("*_hrT2.nii.gz"))
    assert sorted(read_koos_csv(folder_out / "predictions.csv")) == cases
    record = json.loads((folder_out / "predictions.json").read_text())
    assert record["provenance"]["config"]["mode"] == "folder" and not record["failures"]
    for case in cases:
        labels, geometry = read_label_map(folder_out / f"{case}_Label.nii.gz", LABELS_2022)
        assert geometry == Geometry.from_image(read_image(inp / f"{case}_hrT2.nii.gz"))

    job = _gc_job(tmp_path / "job", inp / f"{cases[0]}_hrT2.nii.gz")
    gc_out = tmp_path / "out_gc"
    result = _algorithm("--input", job, "--output", gc_out, "--model", model)
    assert result.returncode == 0, result.stderr[-3000:]
    gc_labels, _ = read_label_map(gc_out / "images" / "vs-cochlea-segmentation" / "output.mha", LABELS_2022)
    folder_labels, _ = read_label_map(folder_out / f"{cases[0]}_Label.nii.gz", LABELS_2022)
    np.testing.assert_array_equal(gc_labels, folder_labels)  # same image, same model, same labels
    koos = json.loads((gc_out / "koos-grade.json").read_text())
    assert koos["grade"] == read_koos_csv(folder_out / "predictions.csv")[cases[0]]


def test_tiny_model_folder_and_grand_challenge(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    grid = make_image((70, 45, 11), (0.93, 1.1, 2.7), (1.0, 2.0, 3.0))
    image = render(grid, np.array([1.0, 2.0, 3.0]), 1, 5.0, "hrT2", np.random.default_rng(0))[0]
    sitk.WriteImage(image, str(inp / "crossmoda2022_ldn_1_hrT2.nii.gz"))
    _check_both_modes(tmp_path, inp, write_tiny_model(tmp_path / "model"))


def test_refine_option_overrides_the_model_and_a_missing_input_is_refused(tmp_path: Path) -> None:
    from crossmoda.algorithm.inference.predictor import SegmentAndGrade, make_case_predictor

    model = write_tiny_model(tmp_path / "model")
    predictor, _ = make_case_predictor(model, device="cpu", cochlea_refine_mm=0.0)
    assert isinstance(predictor, SegmentAndGrade)
    assert predictor.model.spec.postprocess.cochlea_refine_mm == 0.0
    assert TINY.postprocess.cochlea_refine_mm == 0.8  # the model's own setting, overridden
    with pytest.raises(ValueError, match=">= 0"):
        make_case_predictor(model, device="cpu", cochlea_refine_mm=-1.0)
    result = _algorithm("--input", tmp_path / "missing", "--output", tmp_path / "out",
                        "--model", model, "--cochlea-refine-mm", "0")
    assert result.returncode == 2 and "input folder not found" in result.stderr


@pytest.mark.slow
def test_shipped_model_folder_and_grand_challenge(tmp_path: Path) -> None:
    from crossmoda.phantom.config import PhantomConfig
    from crossmoda.phantom.dataset import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, PhantomConfig(source=0, target=0, validation=0, test=1, seed=5, workers=1),
                     progress=False)
    _check_both_modes(tmp_path, data / "test", shipped_model_dir("adapted"))
