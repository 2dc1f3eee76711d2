"""``crossmoda-train all`` end to end on a tiny analytic data set, and resuming a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from crossmoda.algorithm.inference.predict import load_model
from crossmoda.algorithm.training.cli import main
from tests.algorithm.synthetic import write_dataset

TINY = {
    "preprocess": {
        "spacing_mm": [2.0, 1.0, 1.0],
        "roi_shape": [12, 40, 72],
        "template_shape": [8, 12, 28],
        "search_margin_mm": 8.0,
    },
    "translate": {"patch": 32, "batch_size": 2, "iterations": 3, "ngf": 4, "ndf": 4, "n_blocks": 1},
    "segment": {"patch": [8, 32, 32], "batch_size": 2, "iterations": 3, "filters": [4, 8, 16]},
    "self_train": {"rounds": 1, "iterations": 2, "min_confidence": 0.0},
}


def check_complete_run(run: Path, seed: int) -> dict:
    """Assert that ``run`` holds a finished chain on :data:`TINY` data (3 target crops): every
    stage in the summary, validation after self-training, the pseudo-hrT2 crops and a loadable
    final model of the self-training stage trained with ``seed``; returns the summary."""
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["stages"]) >= {"prepare", "translate", "segment", "self_train"}
    assert "VS_Dice" in summary["stages"]["self_train"]["validation_mean"]
    assert len(list((run / "data" / "pseudo").glob("*_image.npy"))) == 3
    model = load_model(run / "model", device="cpu")
    assert model.metadata["stage"] == "self_train" and model.metadata["seed"] == seed
    return summary


@pytest.mark.slow
def test_train_all_writes_a_loadable_model_and_resumes(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", n_source=3, n_target=3, n_validation=2)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    assert main(["all", str(data), "--output", str(run), "--config", str(cfg), "--seed", "1"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 1 and config["segment"]["iterations"] == 3 and config["mode"] == "adapted"
    summary = check_complete_run(run, seed=1)
    for name in ("segmenter.pt", "model.pt"):
        path = run / "model" / name if name == "segmenter.pt" else run / "segment" / name
        torch.load(path, weights_only=True)
    stamp = (run / "segment" / "model.pt").stat().st_mtime_ns
    assert main(["all", str(data), "--output", str(run), "--config", str(cfg), "--seed", "1"]) == 0
    assert (run / "segment" / "model.pt").stat().st_mtime_ns == stamp  # finished stages are skipped
    base = tmp_path / "baseline"
    assert main(["all", str(data), "--output", str(base), "--config", str(cfg), "--no-adaptation"]) == 0
    assert not (base / "translate").exists()
    assert load_model(base / "model", device="cpu").metadata["mode"] == "no_adaptation"
    # a single stage writes its resolved configuration beside the chain's
    assert main(["self-train", str(data), "--output", str(run), "--config", str(cfg), "--seed", "2"]) == 0
    single = json.loads((run / "config_self_train.json").read_text())
    assert single["seed"] == 2 and json.loads((run / "config.json").read_text())["seed"] == 1
    rounds = summary["stages"]["self_train"]["rounds"]
    assert isinstance(rounds[0]["pseudo_labelled_kept"], int)
    # more rounds on a finished run: round 1 is loaded (count unknown), round 2 is new
    (run / "self_train" / "done.json").unlink()
    cfg.write_text(json.dumps({**TINY, "self_train": {**TINY["self_train"], "rounds": 2}}))
    assert main(["self-train", str(data), "--output", str(run), "--config", str(cfg), "--seed", "1"]) == 0
    more = json.loads((run / "self_train" / "done.json").read_text())["rounds"]
    assert more[0]["pseudo_labelled_kept"] is None and isinstance(more[1]["pseudo_labelled_kept"], int)
    assert (run / "self_train" / "round_2" / "model.pt").is_file()


def test_missing_data_folder_is_a_clean_error(tmp_path: Path) -> None:
    assert main(["all", str(tmp_path / "nope"), "--output", str(tmp_path / "run")]) == 2
