"""The three images on a small phantom test set, each under platform rules (no network, read-only
input), against the same commands run in-process with the same thread count:

algorithm image -> label maps identical to the in-process run; evaluation image on those outputs
-> metrics equal to the in-process evaluation (Dice within 1e-6); ranking image on two submissions
-> the same leaderboard as the in-process ranking.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmoda.challenge.config import Limits
from crossmoda.challenge.containers import run_container
from crossmoda.core.io import read_array, write_label_map_like

pytestmark = pytest.mark.docker

CASES = 2
SEED = 7
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CROSSMODA_EVAL_WORKERS": "1",
           "CROSSMODA_DEVICE": "cpu"}
LIMITS = Limits(time_limit_s=900, memory="6g", gpu="none", tmp_size="1g", shm_size="1g", env=THREADS)
DICE_TOL = 1e-6


def _script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _local(argv: list[str], env_extra: dict[str, str] | None = None) -> None:
    """Run a console script of this environment with the same thread settings as the containers."""
    import os

    env = {**os.environ, **THREADS, **(env_extra or {})}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"{argv[0]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


def _readable(root: Path) -> Path:
    """Make a folder tree readable by the images' non-root user (pytest makes tmp dirs 0700)."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def _container(client: Any, image: str, args: list[str], mounts: dict[Path, tuple[str, str]], output: Path,
               log: Path, require_images: bool = False) -> None:
    run = run_container(client, image, mounts=mounts, limits=LIMITS, log_file=log, command=args,
                        output_dir=output, require_images=require_images)
    assert run.status == "ok", f"{image}: {run.status} {run.message}\n{log.read_text()[-4000:]}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "data"
    _local([_script("crossmoda-phantom"), "generate", str(root), "--source", "0", "--target", "0",
            "--validation", "0", "--test", str(CASES), "--seed", str(SEED), "--preset", "small"])
    return root


@pytest.fixture(scope="module")
def algorithm_runs(data: Path, docker_client: Any, images: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(container output, in-process output) of the algorithm on the phantom test set."""
    work = tmp_path_factory.mktemp("algorithm")
    boxed, local = work / "container", work / "local"
    _container(docker_client, images["algorithm"], ["--input", "/input", "--output", "/output"],
               {data / "test": ("/input", "ro"), boxed: ("/output", "rw")}, boxed, work / "algorithm.log",
               require_images=True)
    _local([_script("crossmoda-algorithm"), "--input", str(data / "test"), "--output", str(local)])
    return boxed, local


def test_algorithm_image_matches_in_process_run(data: Path, algorithm_runs: tuple[Path, Path]) -> None:
    boxed, local = algorithm_runs
    labels = sorted(p.name for p in (data / "test_labels").glob("*_Label.nii.gz"))
    assert len(labels) == CASES
    assert sorted(p.name for p in boxed.glob("*_Label.nii.gz")) == labels
    for name in labels:
        (a, geo_a), (b, geo_b) = read_array(boxed / name), read_array(local / name)
        assert geo_a == geo_b
        assert a.shape == b.shape
        assert np.count_nonzero(a != b) == 0, f"{name}: container and in-process labels differ"
    with (boxed / "predictions.csv").open() as fa, (local / "predictions.csv").open() as fb:
        assert list(csv.reader(fa)) == list(csv.reader(fb))


def _evaluate_both(client: Any, image: str, predictions: Path, truth: Path, work: Path) -> tuple[dict, dict]:
    boxed, local = work / "container", work / "local"
    args = ["--predictions", "/predictions", "--ground-truth", "/ground-truth", "--output", "/output",
            "--workers", "1", "--no-progress"]
    _container(client, image, args, {predictions: ("/predictions", "ro"), truth: ("/ground-truth", "ro"),
                                     boxed: ("/output", "rw")}, boxed, work / "evaluation.log")
    _local([_script("crossmoda-evaluate"), "--predictions", str(predictions), "--ground-truth", str(truth),
            "--output", str(local), "--workers", "1", "--no-progress"])
    return (json.loads((boxed / "metrics.json").read_text()),
            json.loads((local / "metrics.json").read_text()))


def _assert_same_metrics(boxed: dict, local: dict) -> None:
    assert boxed["case"].keys() == local["case"].keys() and boxed["case"]
    for case, values in local["case"].items():
        for column, value in values.items():
            other = boxed["case"][case][column]
            if isinstance(value, float):
                tol = DICE_TOL if column.endswith("Dice") else 1e-6 * max(1.0, abs(value))
                assert abs(other - value) <= tol, f"{case} {column}: container {other} != local {value}"
            else:
                assert other == value, f"{case} {column}"
    assert boxed["missing"] == local["missing"] and boxed["errors"] == local["errors"]
    assert boxed["aggregates"].keys() == local["aggregates"].keys()
    for column, stats in local["aggregates"].items():
        if column == "Koos":
            assert boxed["aggregates"][column] == stats
            continue
        assert boxed["aggregates"][column] == pytest.approx(stats, abs=1e-9), column


@pytest.fixture(scope="module")
def perturbed(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A submission made from the references: VS shifted by 2 voxels along x, the first case's
    cochleas removed (empty -> ASSD cap), every Koos grade raised by one (capped at 4)."""
    out = tmp_path_factory.mktemp("perturbed")
    for i, ref in enumerate(sorted((data / "test_labels").glob("*_Label.nii.gz"))):
        labels = read_array(ref)[0]
        moved = np.where(labels == 1, 0, labels)
        moved[np.roll(labels == 1, 2, axis=2)] = 1
        if i == 0:
            moved[moved == 2] = 0
        write_label_map_like(moved.astype(np.uint8), ref, out / ref.name)
    rows = list(csv.reader((data / "test_labels" / "koos.csv").open()))
    with (out / "predictions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(rows[0])
        for case, grade in rows[1:]:
            writer.writerow([case, min(4, int(grade) + 1) if grade.isdigit() else 4])
    return _readable(out)


def test_evaluation_image_matches_in_process_run(
    data: Path, perturbed: Path, docker_client: Any, images: dict[str, str], tmp_path: Path
) -> None:
    boxed, local = _evaluate_both(docker_client, images["evaluation"], perturbed, data / "test_labels",
                                  tmp_path)
    assert not local["missing"] and not local["errors"]
    _assert_same_metrics(boxed, local)
    first = sorted(local["case"])[0]
    assert local["case"][first]["Cochlea_Dice"] == 0.0 and local["case"][first]["Cochlea_ASSD"] == 350.0
    assert all(0.0 < v["VS_Dice"] < 1.0 for v in local["case"].values())
    assert local["koos"] == boxed["koos"] and local["koos"]


def test_evaluation_image_on_algorithm_output(
    data: Path, algorithm_runs: tuple[Path, Path], docker_client: Any, images: dict[str, str],
    tmp_path: Path,
) -> None:
    boxed, local = _evaluate_both(docker_client, images["evaluation"], algorithm_runs[0],
                                  data / "test_labels", tmp_path)
    assert not local["missing"] and not local["errors"]
    _assert_same_metrics(boxed, local)
    # The container test checks parity and a non-trivial output, not the model's quality (that
    # is the training benchmark's job): every score is in range and the algorithm wrote a VS.
    assert all(0.0 <= v["VS_Dice"] <= 1.0 and 0.0 <= v["Cochlea_Dice"] <= 1.0 for v in local["case"].values())
    assert any(v["VS_ASSD"] < 350.0 for v in local["case"].values()), "the algorithm predicted no VS at all"


def test_ranking_image_matches_in_process_run(
    data: Path, perturbed: Path, docker_client: Any, images: dict[str, str], tmp_path: Path
) -> None:
    scores = tmp_path / "scores"
    # two submissions: the perturbed one and a perfect one (the reference labels themselves)
    perfect = tmp_path / "perfect"
    shutil.copytree(data / "test_labels", perfect)
    shutil.copy(perfect / "koos.csv", perfect / "predictions.csv")
    _readable(perfect)
    for team, predictions in (("perturbed", perturbed), ("perfect", perfect)):
        boxed, _ = _evaluate_both(docker_client, images["evaluation"], predictions, data / "test_labels",
                                  tmp_path / f"eval-{team}")
        (scores / team).mkdir(parents=True)
        (scores / team / "metrics.json").write_text(json.dumps(boxed))
    _readable(scores)
    args = ["--bootstrap", "200", "--seed", "3"]
    boxed, local = tmp_path / "rank-container", tmp_path / "rank-local"
    _container(docker_client, images["ranking"], ["/scores", "--output", "/output", *args],
               {scores: ("/scores", "ro"), boxed: ("/output", "rw")}, boxed, tmp_path / "ranking.log")
    _local([_script("crossmoda-rank"), str(scores), "--output", str(local), *args])
    rows_boxed = list(csv.DictReader((boxed / "leaderboard.csv").open()))
    rows_local = list(csv.DictReader((local / "leaderboard.csv").open()))
    assert [r["team"] for r in rows_boxed] == [r["team"] for r in rows_local] == ["perfect", "perturbed"]
    for rb, rl in zip(rows_boxed, rows_local, strict=True):
        assert rb.keys() == rl.keys()
        for key in rl:
            try:
                assert float(rb[key]) == pytest.approx(float(rl[key]), abs=1e-9), key
            except ValueError:
                assert rb[key] == rl[key], key
    assert (boxed / "report.html").stat().st_size > 1000
