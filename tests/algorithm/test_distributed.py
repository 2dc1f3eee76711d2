"""``crossmoda-train`` under ``torchrun`` with 2 gloo ranks on the CPU: every stage, then ``all``,
on one tiny analytic data set and one run folder. Only rank 0 writes, validates and logs; the
run folder ends complete and its model folder works with ``crossmoda-algorithm``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossmoda.algorithm.inference.predict import load_model
from crossmoda.algorithm.model.network import build_segmenter
from crossmoda.algorithm.model.shipped import shipped_model_dir
from crossmoda.algorithm.model.spec import KOOS_MODEL_FILE
from tests.algorithm.synthetic import write_dataset
from tests.algorithm.test_pipeline import TINY

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT_S = 300


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def torchrun_train(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=2 -m crossmoda.algorithm.training.cli ARGS``
    (a free rendezvous port; one torch thread per rank)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "crossmoda.algorithm.training.cli", *map(str, args), "--threads", "1"]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=TIMEOUT_S)


def _ok(result: subprocess.CompletedProcess[str], stage: str) -> str:
    assert result.returncode == 0, f"{stage}: exit {result.returncode}\n{result.stderr[-4000:]}"
    # rank 0 logs at INFO, the other rank only warnings: one "finished" line per stage
    assert result.stderr.count(f"{stage} finished:") == 1, result.stderr[-4000:]
    return result.stderr


def _no_leftovers(run: Path) -> None:
    partial = sorted(str(p.relative_to(run)) for p in run.rglob(".partial-*"))
    checkpoints = sorted(str(p.relative_to(run)) for p in run.rglob("checkpoint.pt"))
    assert partial == [] and checkpoints == []


def _interrupted_round(checkpoint: Path, weights: Path) -> None:
    """A checkpoint as the segmenter loop writes it, one iteration into the round."""
    net = build_segmenter(TINY["segment"]["filters"])
    net.load_state_dict(torch.load(weights, weights_only=True))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    checkpoint.parent.mkdir(parents=True)
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "iteration": 1}, checkpoint)


@pytest.fixture(scope="module")
def data_and_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ddp")
    data = write_dataset(root / "data", n_source=3, n_target=3, n_validation=1)
    cfg = root / "tiny.json"
    # iterations a multiple of checkpoint_every: rank 0 checkpoints while rank 1 trains on
    every2 = {"iterations": 4, "checkpoint_every": 2}
    cfg.write_text(json.dumps({**TINY, "translate": {**TINY["translate"], **every2},
                               "segment": {**TINY["segment"], **every2}}))
    return data, cfg


def test_every_stage_and_all_under_torchrun_with_two_ranks(data_and_config: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    data, cfg = data_and_config
    run = tmp_path / "run"
    common = ("--output", run, "--config", cfg, "--seed", "1")

    # translate on a fresh run folder: rank 0 prepares RUN/data while rank 1 waits
    _ok(torchrun_train("translate", data, *common), "translate")
    assert (run / "data" / "index.json").is_file() and (run / "translate" / "done.json").is_file()
    assert {p.name for p in (run / "translate").iterdir()} >= {"G_A.pt", "nets.pt", "done.json"}
    assert len(list((run / "data" / "pseudo").glob("*_image.npy"))) == 3
    assert "quality_mean" in json.loads((run / "translate" / "done.json").read_text())

    _ok(torchrun_train("segment", data, *common), "segment")
    segment = json.loads((run / "segment" / "done.json").read_text())
    assert "VS_Dice" in segment["validation_mean"]  # rank 0's summary, validated once
    assert (run / "segment" / "validation.json").is_file() and (run / "segment" / "model.pt").is_file()
    assert load_model(run / "segment" / "model", device="cpu").metadata["stage"] == "segment"

    # an interrupted self-training round (checkpoint at iteration 1 of 2): both ranks resume from it
    _interrupted_round(run / "self_train" / "round_1" / "checkpoint.pt", run / "segment" / "model.pt")
    log = _ok(torchrun_train("self-train", data, *common), "self-train")
    assert log.count("self-train 1/1: resuming at iteration 1/2") == 1, log[-4000:]
    assert (run / "self_train" / "round_1" / "model.pt").is_file()
    assert load_model(run / "self_train" / "model", device="cpu").metadata["stage"] == "self_train"

    # `all` on the same folder: finished stages are skipped, the final model and summary written
    stamp = (run / "segment" / "model.pt").stat().st_mtime_ns
    log = _ok(torchrun_train("all", data, *common), "all")
    assert "segment: done, skipping" in log
    assert (run / "segment" / "model.pt").stat().st_mtime_ns == stamp
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["stages"]) >= {"prepare", "translate", "segment", "self_train"}
    assert json.loads((run / "config.json").read_text())["seed"] == 1
    _no_leftovers(run)

    # the final model folder runs in crossmoda-algorithm on a validation case; the analytic data set
    # has no source grades, so the Koos stage was skipped and the shipped (plain-JSON) grader joins it
    assert summary["stages"]["koos"] == {"skipped": "no source grades"}
    shutil.copyfile(shipped_model_dir() / KOOS_MODEL_FILE, run / "model" / KOOS_MODEL_FILE)
    case = next((data / "validation").glob("*_hrT2.nii.gz"))
    inp = tmp_path / "input"
    inp.mkdir()
    shutil.copyfile(case, inp / case.name)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "crossmoda.algorithm.inference.cli", "--device", "cpu",
                             "--input", str(inp), "--output", str(out), "--model", str(run / "model")],
                            capture_output=True, text=True, env=_env(), timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / case.name.replace("_hrT2", "_Label")).is_file()
