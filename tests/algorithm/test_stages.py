"""The chain's stage mechanism, run index and learning-rate schedules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from crossmoda.algorithm.training.run_index import RunIndex
from crossmoda.algorithm.training.schedules import linear_decay_second_half, poly_decay, set_learning_rates
from crossmoda.algorithm.training.stages import on_main, run_stage, stage_done


def test_stage_runs_once_then_is_skipped(tmp_path: Path) -> None:
    calls: list[Path] = []

    def body(stage: Path) -> dict[str, Any]:
        calls.append(stage)
        (stage / "weights").write_text("w")
        return {"seconds": 1.5}

    assert run_stage(tmp_path, "segment", body) == {"seconds": 1.5}
    assert stage_done(tmp_path / "segment") == {"seconds": 1.5}
    assert run_stage(tmp_path, "segment", body) == {"seconds": 1.5}
    assert calls == [tmp_path / "segment"]


def test_only_rank_zero_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a second rank of a two-process run (no process group here, so the barrier is a no-op)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert on_main(lambda: "written") is None
    assert run_stage(tmp_path, "segment", lambda stage: {"rank": 1}) == {"rank": 1}
    assert stage_done(tmp_path / "segment") is None
    monkeypatch.setenv("RANK", "0")
    assert on_main(lambda: "written") == "written"


def test_run_index_parses_the_prepared_index(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text(json.dumps({
        "splits": {"source": ["a"], "target": ["b", "c"]},
        "centres": {"a": [1, 2, 3], "b": [0.5, 0, 0], "c": [0, 0, 0]},
        "truth_label": ["b"], "provenance": {"config": {"data": "DATA"}},
    }))
    index = RunIndex.read(tmp_path)
    assert index.splits == {"source": ["a"], "target": ["b", "c"]}
    assert index.centres["a"] == (1.0, 2.0, 3.0) and index.truth_label == ["b"] and index.truth_hrT2 == []
    assert index.data_path == "DATA"
    with pytest.raises(FileNotFoundError, match="crossmoda-train prepare"):
        RunIndex.read(tmp_path / "missing")


def test_schedules() -> None:
    assert poly_decay(0, 10) == 1.0 and poly_decay(5, 10) == pytest.approx(0.5**0.9)
    assert [linear_decay_second_half(i, 4) for i in range(4)] == [1.0, 1.0, 1.0, 0.5]
    opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "base_lr": 2.0},
                           {"params": [torch.zeros(1, requires_grad=True)]}], lr=1.0)
    set_learning_rates(opt, 0.1, 0.5)
    assert [g["lr"] for g in opt.param_groups] == [1.0, 0.05]
