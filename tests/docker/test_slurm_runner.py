"""The runner's Slurm backend on a real (one-node) cluster against the same engine as the local
backend: its leaderboard equals the local one; reruns resume; scheduler faults are per-shard.

Needs ``scripts/slurm/setup_cluster.sh`` (``SLURM_CONF``) and the container engine; run with
``pytest -m slurm``. A cluster that does not answer is a test failure, never a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crossmoda.challenge.config import ChallengeConfig, Limits, Scoring, Team
from crossmoda.challenge.pipeline import run_challenge
from crossmoda.challenge.slurm import SlurmError, check_slurm
from crossmoda.challenge.slurm_backend import SlurmOptions, run_slurm_jobs
from tests.docker.teams import build_team

pytestmark = pytest.mark.slurm

N_CASES = 4
LIMITS = Limits(time_limit_s=8, memory="512m", gpu="none", tmp_size="64m", shm_size="64m")


@pytest.fixture(scope="module")
def cluster() -> None:
    try:
        check_slurm()
    except SlurmError as err:
        pytest.fail(f"{err}; run `source <(bash scripts/slurm/setup_cluster.sh)` first", pytrace=False)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "data"
    script = Path(sys.executable).parent / "crossmoda-phantom"
    subprocess.run([str(script), "generate", str(root), "--source", "0", "--target", "0", "--validation", "0",
                    "--test", str(N_CASES), "--seed", "3", "--preset", "small", "--no-progress"],
                   check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def teams(phantom: Path, docker_client: Any, base_image: str, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Team, ...]:
    root = tmp_path_factory.mktemp("teams")
    labels = phantom / "test_labels"
    return tuple(Team(name, build_team(docker_client, root, labels, base_image, mode))
                 for name, mode in (("good", "copy"), ("crasher", "crash"), ("sleeper", "sleep")))


def _config(phantom: Path, teams: tuple[Team, ...], work: Path) -> ChallengeConfig:
    return ChallengeConfig(teams=teams, input_dir=phantom / "test", ground_truth=phantom / "test_labels",
                           output_dir=work, koos_truth=phantom / "test_labels" / "koos.csv", limits=LIMITS,
                           scoring=Scoring(evaluation_args=("--workers", "1")))


def _board(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["team"], r["rank"], r["score"], r["status"], r["scored_as_missing"], r["n_outputs"])
            for r in report["leaderboard"]]


def test_slurm_leaderboard_equals_local(
    cluster: None, phantom: Path, teams: tuple[Team, ...], docker_client: Any, tmp_path: Path
) -> None:
    local = run_challenge(_config(phantom, teams, tmp_path / "local"), client=docker_client)
    opts = SlurmOptions(engine="docker", cases_per_job=2, poll_s=1.0)
    slurm = run_challenge(_config(phantom, teams, tmp_path / "slurm"), backend="slurm", slurm_options=opts)

    assert local.ranking_ok and slurm.ranking_ok
    assert _board(slurm.report) == _board(local.report)
    rows = {r["team"]: r for r in slurm.report["leaderboard"]}
    assert rows["good"]["rank"] == 1 and rows["good"]["status"] == "ok"
    assert rows["good"]["n_outputs"] == N_CASES
    assert rows["crasher"]["status"] == "crashed" and rows["crasher"]["exit_code"] == 1
    assert rows["sleeper"]["status"] == "timeout"
    for team in ("good", "crasher", "sleeper"):
        mine = json.loads((tmp_path / f"slurm/scores/{team}/metrics.json").read_text())
        theirs = json.loads((tmp_path / f"local/scores/{team}/metrics.json").read_text())
        assert mine["case"] == theirs["case"]
    record = json.loads((tmp_path / "slurm/teams/sleeper/run.json").read_text())
    assert record["backend"] == "slurm" and len(record["jobs"]) == N_CASES // 2
    assert all(j["slurm_state"] == "COMPLETED" and j["status"] == "timeout" for j in record["jobs"])
    good_log = (tmp_path / "slurm/teams/good/algorithm.log").read_text()
    assert "rootfs read-only" in good_log and "tmp writable" in good_log
    assert "CUDA out of memory" in (tmp_path / "slurm/teams/crasher/algorithm.log").read_text()

    # resume: a rerun submits nothing and gives the same leaderboard
    state = json.loads((tmp_path / "slurm/slurm/state.json").read_text())["jobs"]
    again = run_challenge(_config(phantom, teams, tmp_path / "slurm"), backend="slurm", slurm_options=opts)
    assert json.loads((tmp_path / "slurm/slurm/state.json").read_text())["jobs"] == state
    assert _board(again.report) == _board(slurm.report)
    # re-run one team: only its jobs are submitted again
    opts_one = SlurmOptions(engine="docker", cases_per_job=2, poll_s=1.0, rerun=("good",))
    once_more = run_challenge(_config(phantom, teams, tmp_path / "slurm"), backend="slurm",
                              slurm_options=opts_one)
    after = json.loads((tmp_path / "slurm/slurm/state.json").read_text())["jobs"]
    assert {k for k in after if after[k]["job_id"] != state[k]["job_id"]} == {"good/0", "good/1"}
    assert _board(once_more.report) == _board(slurm.report)


def test_scheduler_faults_are_that_shards_failure(
    cluster: None, phantom: Path, teams: tuple[Team, ...], tmp_path: Path
) -> None:
    """A missing image and a job cancelled by the scheduler fail their own jobs only."""
    good = next(t for t in teams if t.name == "good")
    sleeper = Team("cancelled", next(t for t in teams if t.name == "sleeper").image)
    config = ChallengeConfig(
        teams=(good, Team("ghost", "localhost/crossmoda-no-such-image:1"), sleeper),
        input_dir=phantom / "test", ground_truth=phantom / "test_labels", output_dir=tmp_path / "work",
        limits=Limits(time_limit_s=120, memory="512m", gpu="none", tmp_size="64m", shm_size="64m"))
    state_file = tmp_path / "work/slurm/state.json"

    def cancel_sleeper() -> None:
        for _ in range(600):
            if state_file.is_file():
                jobs = json.loads(state_file.read_text())["jobs"]
                if jobs.get("cancelled/0", {}).get("job_id"):
                    time.sleep(2)
                    subprocess.run(["scancel", jobs["cancelled/0"]["job_id"]], check=True)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=cancel_sleeper)
    killer.start()
    by_team = run_slurm_jobs(config, SlurmOptions(engine="docker", poll_s=1.0))
    killer.join()
    (good_run, _), = by_team["good"]
    (ghost, _), = by_team["ghost"]
    (cancelled, _), = by_team["cancelled"]
    assert good_run.status == "ok" and good_run.n_images == N_CASES
    assert ghost.status == "error" and "not found on node" in ghost.message
    assert cancelled.status == "error" and cancelled.slurm_state == "CANCELLED"
    assert "cancelled" in cancelled.message


def test_unreachable_slurm_is_an_error_before_submitting(
    phantom: Path, teams: tuple[Team, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    (tmp_path / "slurm.conf").write_text(
        "ClusterName=gone\nSlurmctldHost=nowhere(127.0.0.1)\nSlurmctldPort=6999\nMessageTimeout=2\n")
    with pytest.raises(SlurmError, match="controller|failed"):
        run_challenge(_config(phantom, teams, tmp_path / "work"), backend="slurm")
    assert not (tmp_path / "work").exists()
    monkeypatch.setenv("PATH", str(tmp_path))
    assert os.environ["PATH"] == str(tmp_path)
    with pytest.raises(SlurmError, match="sbatch not found"):
        check_slurm()
