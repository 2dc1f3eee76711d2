"""Benchmark: the challenge runner's local backend against its Slurm backend on this machine.

Same teams and cases for both: ``--teams`` copies of a tiny team image (``copy`` mode of
``tests/docker/teams.py``: writes the reference labels it carries, spending
``--seconds-per-case`` per case) on a phantom test set of ``--cases`` cases. Times

* the local backend (Docker SDK, one team after the other) and the Slurm backend (one job per
  ``--cases-per-job`` cases, the one-node cluster of ``scripts/slurm/setup_cluster.sh``: 2 CPUs,
  so 2 jobs at a time), team phase and whole run (scoring and ranking included, the same code);
* per Slurm job, from ``scontrol``'s times (1 s resolution): submit -> start (with 2 slots, later
  jobs also wait in the queue), the scheduler's latency (start minus the later of its submission
  and the last end before it: the time a free slot stays empty), and start -> end minus the
  container's own runtime (job script and engine CLI overhead on the node);
* per local run: container runtime minus the work (``cases x seconds-per-case``): start overhead;

and prints a projection of a real test phase from those overheads.

Needs the container engine (``source <(bash scripts/containers/setup_engine.sh)``) and the cluster
(``source <(bash scripts/slurm/setup_cluster.sh)``).

Run: ``.venv/bin/python benchmarks/bench_runner.py [--teams 4 --cases 8 --cases-per-job 4
--seconds-per-case 1]``
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from crossmoda.challenge.config import ChallengeConfig, Limits, Scoring, Team
from crossmoda.challenge.pipeline import run_challenge
from crossmoda.challenge.slurm_backend import SlurmOptions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.docker.teams import build_team  # noqa: E402

logger = logging.getLogger("bench_runner")


def _phantom(root: Path, cases: int) -> Path:
    script = Path(sys.executable).parent / "crossmoda-phantom"
    subprocess.run([str(script), "generate", str(root), "--source", "0", "--target", "0", "--validation", "0",
                    "--test", str(cases), "--seed", "3", "--preset", "small", "--no-progress"],
                   check=True, capture_output=True)
    return root


def _seconds(a: str | None, b: str | None) -> float | None:
    if a is None or b is None:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def _project(
    teams: int, cases: int, s_case: float, gpus: int, k: int, local_start: float, job_over: float
) -> tuple[float, float]:
    """(local hours, Slurm hours): local = every run in turn on one GPU; Slurm = waves of jobs."""
    local = teams * (cases * s_case + local_start) / 3600
    jobs = teams * math.ceil(cases / k)
    waves = math.ceil(jobs / gpus)
    return local, waves * (k * s_case + local_start + job_over) / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=4)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--cases-per-job", type=int, default=4)
    parser.add_argument("--seconds-per-case", type=float, default=1.0)
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--out", type=Path, help="keep the work folders here (default: a temporary folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("crossmoda").setLevel(logging.WARNING)
    report = logger.info
    import docker

    client = docker.from_env(timeout=600)
    base = "localhost/crossmoda-python-base:bookworm"
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        data = _phantom(root / "data", args.cases)
        image = build_team(client, root / "images", data / "test_labels", base, "copy")
        teams = tuple(Team(f"team{i}", image) for i in range(args.teams))
        limits = Limits(time_limit_s=600, memory="512m", gpu="none", tmp_size="64m", shm_size="64m",
                        env={"TEAM_SECONDS_PER_CASE": str(args.seconds_per_case)})

        def config(work: Path) -> ChallengeConfig:
            return ChallengeConfig(teams=teams, input_dir=data / "test",
                                   ground_truth=data / "test_labels", output_dir=work,
                                   koos_truth=data / "test_labels" / "koos.csv", limits=limits,
                                   scoring=Scoring(evaluation_args=("--workers", "1")))

        t0 = time.perf_counter()
        local = run_challenge(config(root / "local"), client=client)
        t_local = time.perf_counter() - t0
        t0 = time.perf_counter()
        opts = SlurmOptions(engine=args.engine, cases_per_job=args.cases_per_job, poll_s=0.5)
        slurm = run_challenge(config(root / "slurm"), backend="slurm", slurm_options=opts)
        t_slurm = time.perf_counter() - t0
        board = [(r["team"], r["rank"], r["score"]) for r in local.report["leaderboard"]]
        assert board == [(r["team"], r["rank"], r["score"]) for r in slurm.report["leaderboard"]]

        local_runs = [json.loads((root / f"local/teams/{t.name}/run.json").read_text()) for t in teams]
        team_local = sum(r["runtime_s"] for r in local_runs)
        work = args.cases * args.seconds_per_case
        start_local = statistics.median(r["runtime_s"] - work for r in local_runs)
        jobs: list[dict[str, Any]] = []
        for t in teams:
            jobs += json.loads((root / f"slurm/teams/{t.name}/run.json").read_text())["jobs"]
        wait = [_seconds(j["submit"], j["start"]) for j in jobs]
        latency = []
        for j in jobs:
            ends = [o["end"] for o in jobs if o is not j and o["end"] <= j["start"]]
            latency.append(_seconds(max([j["submit"], *ends]), j["start"]))
        span = [_seconds(j["start"], j["end"]) for j in jobs]
        node_over = [s - j["runtime_s"] for s, j in zip(span, jobs, strict=True) if s is not None]
        first_submit = min(j["submit"] for j in jobs)
        team_slurm = _seconds(first_submit, max(j["end"] for j in jobs)) or 0.0

    report(f"{args.teams} teams x {args.cases} cases x {args.seconds_per_case:g} s/case, "
          f"{len(jobs)} Slurm jobs of {args.cases_per_job} cases (2 at a time)")
    report(f"whole run (teams + scoring + ranking): local {t_local:.1f} s, slurm {t_slurm:.1f} s, "
          f"ratio local/slurm {t_local / t_slurm:.2f}")
    report(f"team phase: local {team_local:.1f} s (sum of container runtimes), slurm {team_slurm:.1f} s "
          f"(first submit to last end), ratio {team_local / max(team_slurm, 1e-9):.2f}")
    report(f"local container start overhead (runtime - work), median: {start_local:.2f} s")
    report(f"slurm submit -> start: median {statistics.median(w for w in wait if w is not None):.1f} s, "
          f"max {max(w for w in wait if w is not None):.1f} s; scheduler latency (free slot -> start): "
          f"median {statistics.median(x for x in latency if x is not None):.1f} s, "
          f"max {max(x for x in latency if x is not None):.1f} s")
    report(f"slurm start -> end: median {statistics.median(s for s in span if s is not None):.1f} s; "
          f"minus the container's runtime (node overhead): median {statistics.median(node_over):.1f} s")
    over = statistics.median(node_over) + statistics.median(x for x in latency if x is not None)
    report(f"per-job overhead used below: {over:.1f} s (+ {start_local:.2f} s container start per job)")
    report("\n| teams | cases | s/case | GPUs | cases/job | jobs | one GPU, local (h) | Slurm (h) |")
    report("|---:|---:|---:|---:|---:|---:|---:|---:|")
    phases = ((40, 300, 10, 8, 50), (40, 300, 10, 32, 50), (40, 300, 10, 64, 25), (20, 100, 20, 8, 100),
              (100, 300, 10, 64, 50))
    for teams_n, cases_n, s_case, gpus, k in phases:
        loc, sl = _project(teams_n, cases_n, s_case, gpus, k, start_local, over)
        report(f"| {teams_n} | {cases_n} | {s_case} | {gpus} | {k} | {teams_n * math.ceil(cases_n / k)} | "
              f"{loc:.1f} | {sl:.2f} |")


if __name__ == "__main__":
    main()
