"""grand-challenge mode end to end on a realistic predictions.json, including hostile jobs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from crossmoda.core.koos import write_koos_csv
from crossmoda.evaluation.cli import main
from crossmoda.evaluation.grand_challenge import UnsafePathError, safe_path
from tests.evaluation.helpers import geometry, label_pair, write_labels

T2_SOCKET = {"slug": "t2-brain-mri", "kind": "Image", "super_kind": "Image",
             "relative_path": "images/t2-brain-mri"}
SEG_SOCKET = {"slug": "vs-cochlea-segmentation", "kind": "Segmentation", "super_kind": "Image",
              "relative_path": "images/vs-cochlea-segmentation"}
KOOS_SOCKET = {"slug": "koos-grade", "kind": "Anything", "super_kind": "Value",
               "relative_path": "koos-grade.json"}


def _job(pk: str, image_name: str, status: str = "Succeeded", koos_value: object = None) -> dict:
    """One job as grand-challenge writes it into predictions.json."""
    return {
        "pk": pk,
        "url": f"https://grand-challenge.org/api/v1/algorithms/jobs/{pk}/",
        "inputs": [{"pk": 101, "file": None, "value": None, "interface": T2_SOCKET,
                    "image": {"pk": f"img-{pk}", "name": image_name}}],
        "outputs": [
            {"pk": 201, "file": None, "value": None, "interface": SEG_SOCKET,
             "image": {"pk": f"seg-{pk}", "name": "output.mha"}},
            {"pk": 202, "file": None, "image": None, "value": koos_value, "interface": KOOS_SOCKET},
        ],
        "status": status,
        "rendered_result_text": "",
        "started_at": "2026-11-25T06:00:00Z",
        "completed_at": "2026-11-25T06:01:00Z",
    }


def _write_job_outputs(root: Path, pk: str, labels: np.ndarray, grade: int | None) -> None:
    out = root / pk / "output"
    write_labels(out / "images" / "vs-cochlea-segmentation" / "output.mha", labels, geometry(labels.shape))
    if grade is not None:
        koos = {"grade": grade, "probabilities": [0.1, 0.2, 0.3, 0.4]}
        (out / "koos-grade.json").write_text(json.dumps(koos))


@pytest.fixture
def challenge(tmp_path: Path) -> dict[str, Path]:
    root, gt, out = tmp_path / "input", tmp_path / "ground_truth", tmp_path / "output"
    secret = tmp_path / "secret"
    cases = ["crossmoda2022_etz_1", "crossmoda2022_etz_2", "crossmoda2022_ldn_3", "crossmoda2022_ldn_4",
             "crossmoda2022_ukm_5", "crossmoda2022_ukm_6"]
    arrays = {c: label_pair(seed=i) for i, c in enumerate(cases)}
    for case, (_, ref) in arrays.items():
        write_labels(gt / f"{case}_Label.nii.gz", ref, geometry(ref.shape))
    write_koos_csv(gt / "koos.csv", {c: g for c, g in zip(cases, (1, 2, 3, 4, None, 2), strict=True)})
    jobs = [
        _job("0b4a7c1e-0001", "crossmoda2022_etz_1_hrT2.mha"),
        _job("0b4a7c1e-0002", "crossmoda2022_etz_2_hrT2.nii.gz",
             koos_value={"grade": 2, "probabilities": [0, 1, 0, 0]}),
        _job("0b4a7c1e-0003", "crossmoda2022_ldn_3_hrT2.mha", status="Failed"),
        _job("../../secret", "crossmoda2022_ldn_4_hrT2.mha"),  # path traversal through pk
        _job("0b4a7c1e-0005", "crossmoda2022_ukm_5_hrT2.mha"),  # segmentation is a symlink out
        _job("0b4a7c1e-0009", "crossmoda2022_ukm_9_hrT2.mha"),  # not in the ground truth
        _job("0b4a7c1e-0010", "scan.mha"),  # no case name
    ]
    jobs[0]["outputs"][0]["interface"] = dict(SEG_SOCKET)
    _write_job_outputs(root, "0b4a7c1e-0001", arrays["crossmoda2022_etz_1"][0], grade=1)
    _write_job_outputs(root, "0b4a7c1e-0002", arrays["crossmoda2022_etz_2"][0], grade=None)
    _write_job_outputs(secret, "x", arrays["crossmoda2022_ldn_4"][0], grade=4)
    (root / "0b4a7c1e-0005" / "output" / "images" / "vs-cochlea-segmentation").mkdir(parents=True)
    os.symlink(secret / "x" / "output" / "images" / "vs-cochlea-segmentation" / "output.mha",
               root / "0b4a7c1e-0005" / "output" / "images" / "vs-cochlea-segmentation" / "output.mha")
    _write_job_outputs(root, "0b4a7c1e-0009", arrays["crossmoda2022_etz_1"][0], grade=3)
    # a job whose socket relative_path tries to escape
    jobs.append(_job("0b4a7c1e-0006", "crossmoda2022_ukm_6_hrT2.mha"))
    jobs[-1]["outputs"][0]["interface"] = dict(SEG_SOCKET, relative_path="../../../secret/x/output/images/"
                                               "vs-cochlea-segmentation")
    (root / "predictions.json").write_text(json.dumps(jobs, indent=2))
    return {"root": root, "gt": gt, "out": out}


def test_grand_challenge_end_to_end(challenge: dict[str, Path]) -> None:
    rc = main(["--input-root", str(challenge["root"]), "--ground-truth", str(challenge["gt"]),
               "--output", str(challenge["out"]), "--workers", "1", "--no-progress"])
    assert rc == 0
    data = json.loads((challenge["out"] / "metrics.json").read_text())
    assert (challenge["out"] / "metrics.csv").is_file()
    cases = data["case"]
    assert cases["crossmoda2022_etz_1"]["VS_Dice"] > 0.5
    assert cases["crossmoda2022_etz_2"]["VS_Dice"] > 0.5
    worst = {"VS_Dice": 0.0, "VS_ASSD": 350.0, "Cochlea_Dice": 0.0, "Cochlea_ASSD": 350.0}
    for case in ("crossmoda2022_ldn_3", "crossmoda2022_ldn_4", "crossmoda2022_ukm_5", "crossmoda2022_ukm_6"):
        assert {k: cases[case][k] for k in worst} == worst, case
    errors: dict[str | None, str] = {}
    for e in data["errors"]:
        errors[e["case"]] = errors.get(e["case"], "") + e["error"] + "\n"
    assert "did not succeed" in errors["crossmoda2022_ldn_3"]
    assert "symbolic link" in errors["crossmoda2022_ukm_5"]  # a link is refused, never followed
    assert "outside the input root" in errors["crossmoda2022_ukm_6"]  # relative_path escape
    assert any("invalid job or pk" in e["error"] for e in data["errors"])  # ../../secret
    assert any("no input image with a crossMoDA case name" in e["error"] for e in data["errors"])
    assert data["missing"] == ["crossmoda2022_ldn_4"]  # its only job was refused
    assert data["extra"] == ["crossmoda2022_ukm_9"]
    # Koos: file (etz_1 -> 1), inline value (etz_2 -> 2); ukm_5 post-operative
    assert data["koos"]["crossmoda2022_etz_1"] == {"reference": 1, "prediction": 1}
    assert data["koos"]["crossmoda2022_etz_2"] == {"reference": 2, "prediction": 2}
    assert data["koos_missing"] == ["crossmoda2022_ldn_3", "crossmoda2022_ldn_4", "crossmoda2022_ukm_6"]
    assert data["aggregates"]["Koos"]["n_cases"] == 5
    vs_dice = [v["VS_Dice"] for v in cases.values()]
    assert data["aggregates"]["VS_Dice"]["mean"] == pytest.approx(np.mean(vs_dice))


def test_auto_mode_without_inputs_fails_cleanly(tmp_path: Path) -> None:
    assert main(["--input-root", str(tmp_path), "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    (tmp_path / "predictions.json").write_text("{not json")
    assert main(["--input-root", str(tmp_path), "--ground-truth", str(tmp_path), "--output",
                 str(tmp_path / "o"), "--no-progress"]) == 2


def test_safe_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert safe_path(tmp_path, "a", "b.mha") == (tmp_path / "a" / "b.mha").resolve()
    for parts in (("..", "x"), ("/etc/passwd",), ("a", "..", "..", "x")):
        with pytest.raises(UnsafePathError):
            safe_path(tmp_path, *parts)
