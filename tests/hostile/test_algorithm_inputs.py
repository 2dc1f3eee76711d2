"""The algorithm's inputs and command lines: links, FIFOs and truncated images in the input folder
are that case's error (the others are still predicted); bad values of ``crossmoda-algorithm``,
``crossmoda-train`` and ``crossmoda-koos`` are one line on stderr and exit status 2."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmoda.algorithm.inference.runner import run_folder, run_grand_challenge
from crossmoda.core.io import write_image
from tests.algorithm.test_runner import OBLIQUE, threshold_predictor

CASES = ["crossmoda2022_etz_1", "crossmoda2022_etz_2", "crossmoda2022_ldn_3"]


def _inputs(folder: Path, dtype: type = np.int16) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for case in CASES:
        write_image((rng.random(OBLIQUE.shape) * 100).astype(dtype), folder / f"{case}_hrT2.nii.gz", OBLIQUE)


def test_link_and_fifo_in_the_input_folder_are_that_case_s_error(tmp_path: Path) -> None:
    inp, out, outside = tmp_path / "in", tmp_path / "out", tmp_path / "outside"
    _inputs(inp)
    _inputs(outside)
    (inp / f"{CASES[0]}_hrT2.nii.gz").unlink()
    (inp / f"{CASES[0]}_hrT2.nii.gz").symlink_to(outside / f"{CASES[0]}_hrT2.nii.gz")
    (inp / f"{CASES[1]}_hrT2.nii.gz").unlink()
    os.mkfifo(inp / f"{CASES[1]}_hrT2.nii.gz")  # opening it for reading would block forever

    summary = run_folder(inp, out, threshold_predictor)

    assert set(summary.failures) == {CASES[0], CASES[1]}
    assert "symbolic link" in summary.failures[CASES[0]]
    assert "FIFO" in summary.failures[CASES[1]]
    assert set(summary.cases) == {CASES[2]}
    assert not (out / f"{CASES[0]}_Label.nii.gz").exists()
    record = json.loads((out / "predictions.json").read_text())
    assert set(record["failures"]) == {CASES[0], CASES[1]} and record["ignored"] == []


@pytest.mark.parametrize("dtype", [np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
def test_truncated_integer_input_is_that_case_s_error(tmp_path: Path, dtype: type) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    _inputs(inp, dtype)
    path = inp / f"{CASES[0]}_hrT2.nii.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # a valid gzip stream, half the voxels

    summary = run_folder(inp, out, threshold_predictor)

    assert set(summary.failures) == {CASES[0]}
    assert "truncated" in summary.failures[CASES[0]]
    assert set(summary.cases) == set(CASES[1:])


def test_grand_challenge_link_and_malformed_inputs_json(tmp_path: Path) -> None:
    job, outside = tmp_path / "job", tmp_path / "outside"
    _inputs(outside)
    folder = job / "images" / "hrt2-mri"
    folder.mkdir(parents=True)
    (folder / "9f8e.mha").symlink_to(outside / f"{CASES[0]}_hrT2.nii.gz")
    summary = run_grand_challenge(job, tmp_path / "out", threshold_predictor)
    assert "symbolic link" in summary.failures["job"] and not summary.cases

    (folder / "9f8e.mha").unlink()
    write_image(np.zeros(OBLIQUE.shape, np.int16), folder / "9f8e.mha", OBLIQUE)
    for content in ("5", '[{"interface": "str"}]', "[7, null]", "[" * 100_000):
        (job / "inputs.json").write_text(content)
        summary = run_grand_challenge(job, tmp_path / "out", threshold_predictor)
        assert not summary.failures or "inputs.json" in summary.failures["job"], content


# ---------------------------------------------------------------- command lines --------------------

def _one_line_error(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture
def algorithm_args(tmp_path: Path) -> list[str]:
    _inputs(tmp_path / "in")
    return ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]


@pytest.mark.parametrize(("extra", "words"), [
    (["--device", "bogus"], ["--device", "bogus"]),
    (["--device", "cuda:7"], ["--device", "cuda"]),
    (["--device", "cuda:x"], ["--device"]),
    (["--cochlea-refine-mm", "-0.5"], ["--cochlea-refine-mm"]),
    (["--cochlea-refine-mm", "nan"], ["--cochlea-refine-mm"]),
])
def test_algorithm_bad_values(algorithm_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              extra: list[str], words: list[str]) -> None:
    from crossmoda.algorithm.inference.cli import main

    if extra[:2] == ["--device", "cuda:7"] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    try:
        rc = main([*algorithm_args, *extra])
    except SystemExit as exit_:  # argparse's own errors: usage line + message
        rc = int(exit_.code or 0)
        err = capsys.readouterr().err
        assert rc == 2 and all(w in err.strip().splitlines()[-1] for w in words), err
    else:
        _one_line_error(rc, capsys.readouterr().err, *words)
    assert not (tmp_path / "out").exists()


def test_algorithm_bad_device_in_the_environment(
    algorithm_args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crossmoda.algorithm.inference.cli import main

    monkeypatch.setenv("CROSSMODA_DEVICE", "gpu0")
    _one_line_error(main(algorithm_args), capsys.readouterr().err, "CROSSMODA_DEVICE", "gpu0")
    monkeypatch.setenv("CROSSMODA_DEVICE", "cpu")
    monkeypatch.setenv("CROSSMODA_MAX_VOXELS", "many")
    _one_line_error(main(algorithm_args), capsys.readouterr().err, "CROSSMODA_MAX_VOXELS")


def test_algorithm_output_under_a_file_and_bad_model_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from crossmoda.algorithm.inference.cli import main

    _inputs(tmp_path / "in")
    (tmp_path / "file").write_text("x")
    base = ["--input", str(tmp_path / "in"), "--device", "cpu"]
    _one_line_error(main([*base, "--output", str(tmp_path / "file" / "out")]), capsys.readouterr().err,
                    "is a file")
    out = ["--output", str(tmp_path / "out")]
    _one_line_error(main([*base, *out, "--model", str(tmp_path / "nowhere")]), capsys.readouterr().err,
                    "model.json missing")
    bad = tmp_path / "bad_model"
    bad.mkdir()
    (bad / "model.json").write_text("{not json")
    _one_line_error(main([*base, *out, "--model", str(bad)]), capsys.readouterr().err, "invalid JSON")
    from crossmoda.algorithm.model.shipped import shipped_model_dir

    broken = tmp_path / "broken_model"
    broken.mkdir()
    for item in shipped_model_dir().iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / "segmenter.pt").write_bytes(b"not a state dict")
    _one_line_error(main([*base, *out, "--model", str(broken)]), capsys.readouterr().err, "segmenter.pt")
    assert not list((tmp_path / "out").glob("*_Label.nii.gz"))


@pytest.mark.parametrize("extra", [["--threads", "0"], ["--seed", "-1"], ["--seed", "x"]])
def test_train_bad_argument_values(tmp_path: Path, extra: list[str]) -> None:
    from crossmoda.algorithm.training.cli import main

    with pytest.raises(SystemExit) as info:
        main(["prepare", str(tmp_path), "--output", str(tmp_path / "run"), *extra])
    assert info.value.code == 2
    assert not (tmp_path / "run").exists()


def test_train_bad_device_config_and_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crossmoda.algorithm.training.cli import main

    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    for args, words in [
        (["--device", "bogus"], ["--device", "bogus"]),
        (["--device", "cuda:7"], ["--device", "cuda"]),
    ]:
        if "cuda:7" in args and torch.cuda.device_count() > 7:
            continue
        _one_line_error(main(["prepare", str(data), "--output", str(run), *args]), capsys.readouterr().err,
                        *words)
    config = tmp_path / "config.json"
    for content, word in [("{", "--config"), ('{"segment": 5}', "--config"), ('{"mode": "x"}', "mode"),
                          ('{"nope": 1}', "nope"), ('{"device": "tpu"}', "device")]:
        config.write_text(content)
        _one_line_error(main(["prepare", str(data), "--output", str(run), "--config", str(config)]),
                        capsys.readouterr().err, word)
    (tmp_path / "file").write_text("x")
    _one_line_error(main(["prepare", str(data), "--output", str(tmp_path / "file" / "run")]),
                    capsys.readouterr().err, "is a file")
    _one_line_error(main(["prepare", str(tmp_path / "nowhere"), "--output", str(run)]),
                    capsys.readouterr().err, "data folder not found")
    assert not run.exists()


@pytest.mark.parametrize("extra", [["--folds", "1"], ["--workers", "0"], ["--C", "nan"], ["--C", "-1"],
                                   ["--seed", "-3"]])
def test_koos_bad_argument_values(tmp_path: Path, extra: list[str]) -> None:
    from crossmoda.algorithm.koos.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", str(tmp_path), "--data", str(tmp_path), *extra])
    assert info.value.code == 2


def test_koos_bad_folders_and_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crossmoda.algorithm.koos.cli import main
    from crossmoda.algorithm.training.cli import main as train_main

    (tmp_path / "file").write_text("x")
    _one_line_error(main(["train", str(tmp_path), "--data", str(tmp_path / "nowhere")]),
                    capsys.readouterr().err, "data folder not found")
    _one_line_error(train_main(["koos", str(tmp_path), "--data", str(tmp_path), "--output",
                                str(tmp_path / "file" / "koos")]), capsys.readouterr().err, "is a file")
    labels = tmp_path / "labels"
    labels.mkdir()
    model = tmp_path / "koos_model.json"
    model.write_text('{"format": 3}')
    predict = ["predict", "--labels", str(labels), "--output", str(tmp_path / "pred.csv")]
    _one_line_error(main([*predict, "--model", str(tmp_path / "none.json")]), capsys.readouterr().err,
                    "--model")
    _one_line_error(main([*predict, "--model", str(model)]), capsys.readouterr().err, "not a Koos model")
