"""crossmoda-challenge end to end with three tiny team images: one good, one crashing, one too slow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmoda.challenge.config import ChallengeConfig, Limits, Scoring, Team
from crossmoda.challenge.pipeline import run_challenge
from crossmoda.core.io import Geometry, write_image, write_label_map
from crossmoda.core.koos import write_koos_csv
from crossmoda.core.labels import LABELS_2022
from tests.docker.teams import build_team

pytestmark = pytest.mark.docker

CASES = ("crossmoda2022_etz_1", "crossmoda2022_ldn_2", "crossmoda2022_ukm_3")
GEOMETRY = Geometry(size=(24, 20, 12), spacing=(0.5, 0.5, 1.5), origin=(0.0, 0.0, 0.0),
                    direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))

def _dataset(root: Path) -> tuple[Path, Path]:
    """Three cases: a 2-slice-thick VS box and a small cochlea box each (hand-checkable volumes)."""
    images, labels = root / "test", root / "test_labels"
    images.mkdir(parents=True)
    labels.mkdir()
    rng = np.random.default_rng(0)
    for i, case in enumerate(CASES):
        lab = np.zeros(GEOMETRY.shape, dtype=np.uint8)
        lab[4:7, 5 + i : 10 + i, 6:12] = 1
        lab[5:7, 14:16, 18:20] = 2
        write_label_map(lab, GEOMETRY, labels / f"{case}_Label.nii.gz", LABELS_2022)
        img = (lab * 100 + rng.normal(0, 5, GEOMETRY.shape)).astype(np.float32)
        write_image(img, images / f"{case}_hrT2.nii.gz", GEOMETRY)
    write_koos_csv(labels / "koos.csv", {CASES[0]: 1, CASES[1]: 2, CASES[2]: 4})
    return images, labels


def test_challenge_ranks_failed_submissions_last(
    tmp_path: Path, docker_client: Any, images: dict[str, str], base_image: str
) -> None:
    images_dir, labels_dir = _dataset(tmp_path / "data")
    teams = tuple(Team(name, build_team(docker_client, tmp_path / "teams", labels_dir, base_image, mode))
                  for name, mode in (("crasher", "crash"), ("good", "copy"), ("sleeper", "sleep")))
    config = ChallengeConfig(
        teams=teams, input_dir=images_dir, ground_truth=labels_dir, output_dir=tmp_path / "work",
        koos_truth=labels_dir / "koos.csv",
        limits=Limits(time_limit_s=8, memory="512m", gpu="auto", tmp_size="64m", shm_size="64m"),
        scoring=Scoring(evaluation_image=images["evaluation"], ranking_image=images["ranking"],
                        evaluation_args=("--workers", "1")),
    )
    result = run_challenge(config, client=docker_client)

    rows = {r["team"]: r for r in result.report["leaderboard"]}
    assert result.ranking_ok, result.report["ranking"]
    assert [r["team"] for r in result.report["leaderboard"]][0] == "good"
    assert rows["good"]["rank"] == 1 and rows["good"]["status"] == "ok" and rows["good"]["n_outputs"] == 3
    assert rows["crasher"]["status"] == "crashed" and rows["crasher"]["exit_code"] == 1
    assert rows["sleeper"]["status"] == "timeout" and rows["sleeper"]["exit_code"] is None
    assert 8 <= rows["sleeper"]["runtime_s"] < 60
    # both failures share the last rank (every case worst for both), behind the good team
    assert rows["crasher"]["rank"] == rows["sleeper"]["rank"] == 2
    assert rows["crasher"]["score"] > rows["good"]["score"]
    failures = {f["team"]: f for f in result.report["failures"]}
    assert set(failures) == {"crasher", "sleeper"}
    assert "CUDA out of memory" in failures["crasher"]["log_tail"]
    assert failures["sleeper"]["scored_as_missing"] and failures["crasher"]["scored_as_missing"]
    md = result.report_md.read_text()
    assert "### crasher: crashed" in md and "### sleeper: timeout" in md

    # the evaluation (run in its image) scored the good team perfectly and the others as missing
    good = json.loads((tmp_path / "work/scores/good/metrics.json").read_text())
    assert all(good["case"][c]["VS_Dice"] == 1.0 and good["case"][c]["Cochlea_ASSD"] == 0.0 for c in CASES)
    assert good["aggregates"]["Koos"]["MA_MAE"] == 0.0
    crasher = json.loads((tmp_path / "work/scores/crasher/metrics.json").read_text())
    assert sorted(crasher["missing"]) == sorted(CASES)
    assert all(crasher["case"][c]["VS_Dice"] == 0.0 and crasher["case"][c]["VS_ASSD"] == 350.0 for c in CASES)
    run_record = json.loads((tmp_path / "work/teams/sleeper/run.json").read_text())
    assert run_record["status"] == "timeout" and run_record["limits"]["memory"] == "512m"


def test_links_and_oversized_outputs_are_scored_worst(
    tmp_path: Path, docker_client: Any, base_image: str
) -> None:
    """A team linking to the ground truth and to another team's output, and a team filling
    /output past the cap: both scored as missing; the good team keeps its perfect score."""
    images_dir, labels_dir = _dataset(tmp_path / "data")
    work = tmp_path / "work"
    targets = (labels_dir, work / "teams" / "good" / "output", Path("/ground-truth"))
    teams = tuple(Team(name, build_team(docker_client, tmp_path / "teams", labels_dir, base_image, mode,
                                        targets))
                  for name, mode in (("good", "copy"), ("linker", "links"), ("filler", "fill")))
    config = ChallengeConfig(
        teams=teams, input_dir=images_dir, ground_truth=labels_dir, output_dir=work,
        koos_truth=labels_dir / "koos.csv",
        limits=Limits(time_limit_s=60, memory="512m", gpu="none", tmp_size="64m", shm_size="64m",
                      output_size="2m"),
        scoring=Scoring(evaluation_args=("--workers", "1")),
    )
    result = run_challenge(config, client=docker_client)
    rows = {r["team"]: r for r in result.report["leaderboard"]}
    assert result.ranking_ok, result.report["ranking"]
    assert rows["good"]["rank"] == 1 and rows["good"]["status"] == "ok"
    assert rows["linker"]["status"] == "silent" and rows["linker"]["scored_as_missing"]
    assert rows["filler"]["status"] == "oversized" and rows["filler"]["scored_as_missing"]
    assert rows["linker"]["rank"] == rows["filler"]["rank"] == 2
    good = json.loads((work / "scores/good/metrics.json").read_text())
    assert all(good["case"][c]["VS_Dice"] == 1.0 for c in CASES)
    for team in ("linker", "filler"):
        scores = json.loads((work / f"scores/{team}/metrics.json").read_text())
        assert sorted(scores["missing"]) == sorted(CASES)
    linker = json.loads((work / "teams/linker/run.json").read_text())
    assert len(linker["refused"]) == len(CASES) + 1
    assert all("symbolic link" in r for r in linker["refused"])
    assert not any(p.is_symlink() for p in (work / "teams/linker/output").iterdir())
    filler = json.loads((work / "teams/filler/run.json").read_text())
    assert filler["output_bytes"] <= 2 * 1024**2 and "cap" in filler["message"]
    log = (work / "teams/good/algorithm.log").read_text()
    assert "rootfs read-only" in log and "tmp writable" in log
    # a rerun in the same folder replaces everything (outputs written by the container's user)
    again = run_challenge(config, client=docker_client)
    assert [(r["team"], r["rank"], r["status"]) for r in again.report["leaderboard"]] == \
        [(r["team"], r["rank"], r["status"]) for r in result.report["leaderboard"]]
