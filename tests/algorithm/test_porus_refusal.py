"""A 2023 model refuses, per case, an image in which the localisation finds no internal auditory
canal (template match NCC or canal coverage too low); the other cases are still written and 2022
models are unaffected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from crossmoda.algorithm.inference.cli import main as algorithm_main
from crossmoda.algorithm.inference.localise import (
    MIN_CANAL_COVERAGE,
    MIN_MATCH_NCC,
    canal_coverage,
    check_porus_found,
)
from crossmoda.algorithm.model.spec import PreprocessConfig
from crossmoda.core.errors import CrossmodaError
from crossmoda.core.io import read_label_map
from crossmoda.core.labels import LABELS_2022, LABELS_2023
from tests.algorithm.synthetic import make_image, render
from tests.algorithm.tiny_model import write_tiny_model

HEAD = np.array([1.0, 2.0, 3.0])
SPACING = (0.93, 1.1, 2.7)
CFG = PreprocessConfig(coarse_spacing_mm=2.0, template_shape=(8, 12, 28))  # footprint 16 x 24 x 56 mm


def _head(size: tuple[int, int, int], centre: np.ndarray, seed: int = 0) -> sitk.Image:
    """A synthetic hrT2 head (canals at ``HEAD``) on a grid of ``size`` voxels centred on ``centre``."""
    grid = make_image(size, SPACING, (float(centre[0]), float(centre[1]), float(centre[2])))
    return render(grid, HEAD, 1, 5.0, "hrT2", np.random.default_rng(seed))[0]


def _write_cases(folder: Path, suffix: str, prefix: str) -> tuple[str, str, str]:
    """A whole head, a slab 18-39 mm above the canals (cut from a taller image) and a lateral
    slab beside one ear; returns their case names."""
    folder.mkdir(parents=True)
    names = (f"{prefix}_ldn_1", f"{prefix}_ukm_2", f"{prefix}_etz_3")
    sitk.WriteImage(_head((70, 45, 11), HEAD), str(folder / f"{names[0]}_{suffix}.nii.gz"))
    tall = _head((70, 45, 30), HEAD, seed=1)  # slices from 39 mm below to 39 mm above the canals
    sitk.WriteImage(tall[:, :, 21:], str(folder / f"{names[1]}_{suffix}.nii.gz"))
    sitk.WriteImage(_head((30, 45, 11), HEAD + [45.0, 0.0, 0.0], seed=2),
                    str(folder / f"{names[2]}_{suffix}.nii.gz"))
    return names


def _image(size_xyz: tuple[int, int, int], origin: tuple[float, float, float],
           direction: tuple[float, ...]) -> sitk.Image:
    image = sitk.Image(list(size_xyz), sitk.sitkUInt8)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


def test_canal_coverage_is_the_fraction_of_the_template_footprint_inside_the_image() -> None:
    """1 mm voxels, x from -0.5 to 79.5 mm: a footprint (28 voxels of 2 mm along x) centred on
    the image's x edge has voxel centres 52.5 + 2 i mm, i = 0..27, 14 of them inside; y (12
    voxels, 4-26 mm) and z (8 voxels, 3-17 mm) fit."""
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    image = _image((80, 30, 20), (0.0, 0.0, 0.0), identity)
    assert canal_coverage(image, (40.0, 15.0, 10.0), CFG) == 1.0
    assert canal_coverage(image, (79.5, 15.0, 10.0), CFG) == 0.5
    assert canal_coverage(image, (79.5, 15.0, 19.5), CFG) == 0.25  # z centres 12.5-26.5 mm: 4 of 8
    assert canal_coverage(image, (200.0, 15.0, 10.0), CFG) == 0.0
    # the same field of view with the x axis flipped (index i at x = 79 - i mm)
    flipped = _image((80, 30, 20), (79.0, 0.0, 0.0), (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    assert canal_coverage(flipped, (79.5, 15.0, 10.0), CFG) == 0.5


def test_porus_check_names_the_values_below_the_limits() -> None:
    assert (MIN_MATCH_NCC, MIN_CANAL_COVERAGE) == (0.6, 0.5)
    check_porus_found(0.6, 0.5)  # at the limits: found
    with pytest.raises(CrossmodaError, match=r"porus not found: template match NCC 0\.59 < 0\.60;"):
        check_porus_found(0.5999, 1.0)  # rounded down, never printed as the limit itself
    with pytest.raises(CrossmodaError, match=r"porus not found: canal coverage 0\.29 < 0\.50;"):
        check_porus_found(0.9, 0.29)
    with pytest.raises(CrossmodaError, match=r"NCC 0\.31 < 0\.60, canal coverage 0\.10 < 0\.50"):
        check_porus_found(0.31, 0.1)
    with pytest.raises(CrossmodaError, match=r"NCC nan < 0\.60"):
        check_porus_found(float("nan"), 1.0)


def test_2023_model_refuses_slabs_without_the_canals_and_writes_the_other_case(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "model", label_map="crossmoda2023")
    inp, out = tmp_path / "in", tmp_path / "out"
    whole, above, lateral = _write_cases(inp, "T2", "crossmoda2023")
    assert algorithm_main(["--input", str(inp), "--output", str(out), "--model", str(model),
                           "--device", "cpu"]) == 1

    record = json.loads((out / "predictions.json").read_text())
    assert set(record["failures"]) == {above, lateral}
    # above the canals the template fits inside the slab but matches brain only
    assert record["failures"][above].startswith("porus not found: template match NCC 0.")
    assert "canal coverage" not in record["failures"][above]
    # beside one ear the best match lies mostly outside the image
    assert "canal coverage 0." in record["failures"][lateral]
    assert "extra-/intra-meatal split would be meaningless" in record["failures"][lateral]
    assert sorted(record["cases"]) == [whole]
    localisation = record["cases"][whole]["localisation"]
    assert localisation["ncc"] >= MIN_MATCH_NCC and localisation["canal_coverage"] == 1.0
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [f"{whole}.nii.gz"]
    read_label_map(out / f"{whole}.nii.gz", LABELS_2023)

    job = tmp_path / "job" / "images" / "t2-mri"  # grand-challenge mode: the job fails, no output
    job.mkdir(parents=True)
    sitk.WriteImage(sitk.ReadImage(str(inp / f"{above}_T2.nii.gz")), str(job / "a1b2.mha"))
    gc_out = tmp_path / "gc_out"
    assert algorithm_main(["--input", str(job.parents[1]), "--output", str(gc_out), "--model", str(model),
                           "--device", "cpu"]) == 1
    assert not (gc_out / "images").exists()


def test_2022_model_segments_the_same_slabs_without_porus_check(tmp_path: Path) -> None:
    """Its (random) template matches nothing, yet every case is written as before."""
    model = write_tiny_model(tmp_path / "model")
    inp, out = tmp_path / "in", tmp_path / "out"
    names = _write_cases(inp, "hrT2", "crossmoda2022")
    assert algorithm_main(["--input", str(inp), "--output", str(out), "--model", str(model),
                           "--device", "cpu"]) == 0
    record = json.loads((out / "predictions.json").read_text())
    assert record["failures"] == {} and sorted(record["cases"]) == sorted(names)
    for case in names:
        assert set(record["cases"][case]["localisation"]) == {"centre_mm", "ncc", "box"}
        assert record["cases"][case]["localisation"]["ncc"] < MIN_MATCH_NCC
        read_label_map(out / f"{case}_Label.nii.gz", LABELS_2022)


def test_validation_scores_a_refused_case_worst_and_goes_on(tmp_path: Path) -> None:
    """The training chain's validation: a case the 2023 model refuses counts with the worst
    values and its reason; the whole head is still scored."""
    from crossmoda.algorithm.training.validation import validate_model

    model = write_tiny_model(tmp_path / "model", label_map="crossmoda2023")
    data = tmp_path / "data"
    whole, above, lateral = _write_cases(data / "validation", "T2", "crossmoda2023")
    (data / "validation_labels").mkdir()
    for case in (whole, above, lateral):
        image = sitk.ReadImage(str(data / "validation" / f"{case}_T2.nii.gz"))
        label = sitk.Image(image.GetSize(), sitk.sitkUInt8)
        label.CopyInformation(image)
        sitk.WriteImage(label, str(data / "validation_labels" / f"{case}_Label.nii.gz"))
    result = validate_model(model, data)
    assert set(result["refused"]) == {above, lateral}
    assert result["refused"][above].startswith("porus not found")
    for case in (above, lateral):
        assert result["cases"][case]["VS_Dice"] == 0.0 and result["cases"][case]["VS_ASSD"] == 350.0
    assert set(result["cases"]) == {whole, above, lateral}
    assert result["seconds_per_case"] > 0
