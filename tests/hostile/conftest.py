"""Fixtures of the hostile-input suite: a small ground truth and a team's prediction folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.core.koos import write_koos_csv
from tests.evaluation.helpers import geometry, label_pair, write_labels

CASES = ["crossmoda2022_etz_1", "crossmoda2022_etz_2", "crossmoda2022_ldn_3"]


@pytest.fixture
def challenge_data(tmp_path: Path) -> dict[str, Path]:
    """``gt`` (3 label maps + koos.csv), ``pred`` (3 imperfect predictions + predictions.csv),
    ``secret`` (a host file outside both) and ``out``."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    pred.mkdir()
    for i, case in enumerate(CASES):
        p, r = label_pair(seed=i)
        write_labels(gt / f"{case}_Label.nii.gz", r, geometry(r.shape))
        write_labels(pred / f"{case}_Label.nii.gz", p, geometry(r.shape))
    write_koos_csv(gt / "koos.csv", {c: g for c, g in zip(CASES, (1, 2, 3), strict=True)})
    write_koos_csv(pred / "predictions.csv", {c: g for c, g in zip(CASES, (1, 2, 4), strict=True)})
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOPSECRET:/root:/bin/bash\n")
    return {"gt": gt, "pred": pred, "secret": secret, "out": tmp_path / "out", "root": tmp_path}


def evaluate(data: dict[str, Path], *extra: str) -> tuple[int, dict]:
    """Run ``crossmoda-evaluate`` in folder mode; returns (exit status, metrics.json or {})."""
    from crossmoda.evaluation.cli import main

    rc = main(["--predictions", str(data["pred"]), "--ground-truth", str(data["gt"]),
               "--output", str(data["out"]), "--workers", "1", "--no-progress", *extra])
    path = data["out"] / "metrics.json"
    return rc, json.loads(path.read_text()) if path.is_file() else {}


def errors_by_case(metrics: dict) -> dict[str, str]:
    """Case -> error text (file-level errors under ``None``)."""
    out: dict[str, str] = {}
    for e in metrics["errors"]:
        out[str(e["case"])] = out.get(str(e["case"]), "") + e["error"] + "\n"
    return out


def labels_of(data: dict[str, Path], case: str) -> np.ndarray:
    from crossmoda.core.io import read_array

    return read_array(data["gt"] / f"{case}_Label.nii.gz")[0]
