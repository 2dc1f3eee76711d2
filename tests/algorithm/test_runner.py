"""Container file handling with a stand-in predictor: geometry, failures, both modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from crossmoda.algorithm.inference.case_output import CaseOutput
from crossmoda.algorithm.inference.runner import detect_mode, run_folder, run_grand_challenge
from crossmoda.core.io import Geometry, compare_geometry, read_image, read_label_map, write_image
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.labels import LABELS_2022

OBLIQUE = Geometry(
    size=(20, 16, 9), spacing=(0.41, 0.47, 1.3), origin=(10.5, -20.25, 33.0),
    direction=(0.0, -1.0, 0.0, 0.8, 0.0, -0.6, 0.6, 0.0, 0.8),
)


def threshold_predictor(image: sitk.Image) -> CaseOutput:
    """Label bright voxels VS (1) and the brightest few cochlea (2); grade from the VS size."""
    array = sitk.GetArrayFromImage(image)
    labels = np.zeros(array.shape, np.uint8)
    labels[array > 50] = 1
    labels[array > 90] = 2
    grade = 1 + min(3, int(np.count_nonzero(labels == 1)) // 200)
    probs = [0.0] * 4
    probs[grade - 1] = 1.0
    return CaseOutput(labels=labels, koos_grade=grade, koos_probabilities=probs, timings_s={"all": 0.0})


def _write_case(folder: Path, name: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = (rng.random(OBLIQUE.shape) * 100).astype(np.float32)
    write_image(array, folder / name, OBLIQUE)
    return array


def test_folder_mode_keeps_input_geometry_and_isolates_failures(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    arrays = {c: _write_case(inp, f"{c}_hrT2.nii.gz", i)
              for i, c in enumerate(["crossmoda2022_ldn_1", "crossmoda2022_etz_2"])}
    (inp / "crossmoda2022_etz_3_hrT2.nii.gz").write_bytes(b"corrupt")
    sitk.WriteImage(sitk.Image([4, 5], sitk.sitkFloat32), str(inp / "crossmoda2022_ldn_4_hrT2.nii.gz"))
    (inp / "README.txt").write_text("stray")

    summary = run_folder(inp, out, threshold_predictor, config={"test": True})

    assert set(summary.failures) == {"crossmoda2022_etz_3", "crossmoda2022_ldn_4"}
    assert "3D" in summary.failures["crossmoda2022_ldn_4"]
    assert summary.ignored == ["README.txt"]
    for case, array in arrays.items():
        labels, geometry = read_label_map(out / f"{case}_Label.nii.gz", LABELS_2022)
        # exactly the input file's geometry (NIfTI stores float32, so compare with the file, no tolerance)
        assert geometry == Geometry.from_image(read_image(inp / f"{case}_hrT2.nii.gz"))
        np.testing.assert_array_equal(labels, threshold_predictor(
            sitk.GetImageFromArray(array)).labels)
    grades = read_koos_csv(out / "predictions.csv")
    assert set(grades) == set(arrays)
    assert all(g in (1, 2, 3, 4) for g in grades.values())
    record = json.loads((out / "predictions.json").read_text())
    assert set(record["failures"]) == set(summary.failures)
    assert record["provenance"]["tool"] == "crossmoda-algorithm"
    assert len(record["cases"]["crossmoda2022_ldn_1"]["probabilities"]) == 4


def _gc_layout(root: Path) -> Path:
    folder = root / "images" / "hrt2-mri"
    folder.mkdir(parents=True)
    _write_case(folder, "0a1b2c3d.mha", 7)
    (root / "inputs.json").write_text(json.dumps([{
        "file": None, "image": {"name": "crossmoda2022_ldn_9_hrT2.nii.gz"}, "value": None,
        "interface": {"slug": "hrt2-mri", "kind": "Image", "super_kind": "Image",
                      "relative_path": "images/hrt2-mri"},
    }]))
    return root


def test_grand_challenge_mode(tmp_path: Path) -> None:
    inp = _gc_layout(tmp_path / "input")
    assert detect_mode(inp) == "grand-challenge"
    assert detect_mode(tmp_path) == "folder"
    out = tmp_path / "output"
    summary = run_grand_challenge(inp, out, threshold_predictor)
    assert not summary.failures
    labels, geometry = read_label_map(out / "images" / "vs-cochlea-segmentation" / "output.mha", LABELS_2022)
    assert compare_geometry(geometry, OBLIQUE) == []
    koos = json.loads((out / "koos-grade.json").read_text())
    assert koos["grade"] in (1, 2, 3, 4) and len(koos["probabilities"]) == 4


def test_grand_challenge_refuses_path_escape(tmp_path: Path) -> None:
    inp = _gc_layout(tmp_path / "input")
    sockets = json.loads((inp / "inputs.json").read_text())
    sockets[0]["interface"]["relative_path"] = "../../etc"
    (inp / "inputs.json").write_text(json.dumps(sockets))
    summary = run_grand_challenge(inp, tmp_path / "output", threshold_predictor)
    assert "escapes" in summary.failures["job"]
    assert not (tmp_path / "output" / "koos-grade.json").exists()


def test_predictor_returning_wrong_shape_is_a_case_failure(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    _write_case(inp, "crossmoda2022_ldn_1_hrT2.nii.gz", 0)

    def bad(image: sitk.Image) -> CaseOutput:
        return CaseOutput(np.zeros((2, 2, 2), np.uint8), 1, [1.0, 0.0, 0.0, 0.0])

    summary = run_folder(inp, tmp_path / "out", bad)
    assert "shape" in summary.failures["crossmoda2022_ldn_1"]


@pytest.mark.parametrize("content", ["not json", "{}"])
def test_bad_inputs_json(tmp_path: Path, content: str) -> None:
    inp = _gc_layout(tmp_path / "input")
    (inp / "inputs.json").write_text(content)
    summary = run_grand_challenge(inp, tmp_path / "out", threshold_predictor)
    if content == "{}":  # no socket named: falls back to images/hrt2-mri
        assert not summary.failures
    else:
        assert "invalid JSON" in summary.failures["job"]


def test_grand_challenge_picks_an_image_not_any_gz(tmp_path: Path) -> None:
    inp = _gc_layout(tmp_path / "input")
    folder = inp / "images" / "hrt2-mri"
    (folder / "0_notes.tar.gz").write_bytes(b"not an image")  # sorts before the .mha
    summary = run_grand_challenge(inp, tmp_path / "output", threshold_predictor)
    assert not summary.failures
    assert list(summary.cases) == ["0a1b2c3d.mha"]
