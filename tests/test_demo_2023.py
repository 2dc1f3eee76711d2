"""``crossmoda-demo --edition 2023`` end to end with a tiny random 2023 model in place of the
shipped one: phantom 2023 data -> the model (``crossmoda-adapted-2023``) and the eroded
reference -> 2023 evaluation -> 2023 ranking; and its refusals before anything is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.algorithm.model import shipped
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.model.spec import KOOS_MODEL_FILE, TEMPLATE_FILE
from crossmoda.core.io import Geometry, read_array, read_image
from crossmoda.demo import REFERENCE_TEAM_2023, TEAM_2023, DemoConfig, main, run_demo
from tests.algorithm.tiny_model import write_tiny_model

CASES = 3  # one per 2023 site


def _tiny_2023_model(root: Path) -> Path:
    """A tiny random crossmoda2023 model (no Koos grader) that localises with the shipped model's
    template, as a trained model's would find the phantom's canals."""
    write_tiny_model(root, label_map="crossmoda2023")
    (root / KOOS_MODEL_FILE).unlink(missing_ok=True)
    template = np.load(shipped_model_dir("adapted") / TEMPLATE_FILE)
    np.save(root / TEMPLATE_FILE, template)
    meta = json.loads((root / "model.json").read_text())
    meta["preprocess"]["template_shape"] = list(template.shape)
    (root / "model.json").write_text(json.dumps(meta))
    return root


@pytest.mark.slow
def test_demo_2023_ranks_a_2023_model_and_the_eroded_reference(tmp_path: Path) -> None:
    model = _tiny_2023_model(tmp_path / "model")
    out = tmp_path / "demo"
    html = run_demo(DemoConfig(out, cases=CASES, seed=11, bootstrap=20, edition=2023, model=str(model)))

    assert html == out.resolve() / "report" / "report.html" and html.is_file()
    inputs = sorted((out / "data" / "test").glob("*_T2.nii.gz"))
    cases = [p.name.removesuffix("_T2.nii.gz") for p in inputs]
    assert len(cases) == CASES and all(c.startswith("crossmoda2023_") for c in cases)
    team = out / "predictions" / TEAM_2023
    expected = sorted([f"{c}.nii.gz" for c in cases] + ["predictions.json"])
    assert sorted(p.name for p in team.iterdir()) == expected  # no Koos table, no _Label names
    for case, image in zip(cases, inputs, strict=True):
        labels, geometry = read_array(team / f"{case}.nii.gz")
        assert set(np.unique(labels).tolist()) <= {0, 1, 2, 3}, case
        assert geometry == Geometry.from_image(read_image(image))
    record = json.loads((team / "predictions.json").read_text())
    assert not record["failures"] and sorted(record["cases"]) == cases
    assert record["provenance"]["config"]["model"] == str(model)
    assert sorted(p.name for p in (out / "predictions" / REFERENCE_TEAM_2023).iterdir()) == sorted(
        f"{c}.nii.gz" for c in cases)

    for name in (TEAM_2023, REFERENCE_TEAM_2023):
        metrics = json.loads((out / "evaluation" / name / "metrics.json").read_text())
        assert sorted(metrics["case"]) == cases and not metrics["missing"] and not metrics["errors"]
    with (out / "report" / "leaderboard.csv").open(newline="", encoding="utf-8") as fh:
        assert sorted(row["team"] for row in csv.DictReader(fh)) == sorted([TEAM_2023, REFERENCE_TEAM_2023])
    board = (out / "report" / "leaderboard.md").read_text()
    assert TEAM_2023 in board and REFERENCE_TEAM_2023 in board


def test_demo_2023_without_the_shipped_model_says_so_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shipped, "SHIPPED_MODELS_DIR", tmp_path / "models")
    out = tmp_path / "demo"
    assert main(["--edition", "2023", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the 2023 demo runs the shipped crossMoDA 2023 model 'adapted_2023'" in err
    assert "is not installed" in err and "--model NAME_OR_FOLDER" in err
    assert not (out / "data").exists()


def test_demo_model_values_are_checked_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["--edition", "2023", "--output", str(out), "--model", "adapted"]) == 2
    err = capsys.readouterr().err
    assert "the model predicts crossmoda2022, the 2023 demo needs a crossmoda2023 model" in err
    assert main(["--edition", "2023", "--output", str(out), "--model", "nnunet"]) == 2
    assert "--model: unknown model name 'nnunet'; shipped models:" in capsys.readouterr().err
    assert main(["--output", str(out), "--model", str(tmp_path)]) == 2  # the 2022 demo has its own
    assert "--model is for --edition 2023" in capsys.readouterr().err
    assert not (out / "data").exists()
