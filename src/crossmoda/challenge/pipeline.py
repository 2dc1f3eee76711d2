"""The whole challenge run: every team's image under platform rules, then scoring and ranking.

Layout of ``config.output_dir``::

    config.json                      resolved configuration + provenance
    teams/<team>/output/             copy of the container's /output (regular files only, capped)
    teams/<team>/run.json            status, exit code, runtime, image id, limits
    teams/<team>/algorithm.log       the container's stdout + stderr
    teams/<team>/evaluation.log
    scores/<team>/metrics.json       evaluation output (the ranking's folder-of-teams input)
    ranking/                         crossmoda-rank output (leaderboard.csv, report.html, ...)
    slurm/                           Slurm backend: state.json, job folders (see slurm_backend)
    leaderboard.json, leaderboard.md the report: ranks joined with run records and failures
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crossmoda.challenge.config import ChallengeConfig
from crossmoda.challenge.containers import ContainerRun
from crossmoda.challenge.report import TeamResult, build_report, read_leaderboard_csv, write_report
from crossmoda.challenge.scoring import evaluate_team, rank_teams
from crossmoda.challenge.slurm import check_slurm
from crossmoda.challenge.slurm_backend import SlurmOptions
from crossmoda.challenge.teams import KOOS_PREDICTIONS, run_teams_local, run_teams_slurm
from crossmoda.core.provenance import provenance, write_json_atomic

__all__ = ["ChallengeResult", "run_challenge", "KOOS_PREDICTIONS", "Backend"]

logger = logging.getLogger(__name__)

Backend = Literal["local", "slurm"]


@dataclass
class ChallengeResult:
    """Paths and per-team results of a challenge run."""

    report: dict[str, Any]
    report_json: Path
    report_md: Path
    teams: list[TeamResult]
    ranking_ok: bool


def _docker_client() -> Any:
    import docker

    return docker.from_env(timeout=600)


def run_challenge(
    config: ChallengeConfig, client: Any = None, *, backend: Backend = "local",
    slurm_options: SlurmOptions | None = None,
) -> ChallengeResult:
    """Run every team, score and rank them, and write the leaderboard report.

    ``backend``: ``"local"`` runs the containers one by one on this host's engine; ``"slurm"``
    submits them as Slurm jobs (``slurm_options``) and waits; scoring and ranking are the same.

    A team whose container crashed, timed out, ran out of memory, could not start or wrote no
    image is scored as missing on every case (worst values), unless ``scoring.keep_partial``
    keeps what a crashed run wrote. Never raises for a failing submission.
    """
    if not config.input_dir.is_dir():
        raise FileNotFoundError(f"{config.input_dir}: input folder not found")
    if not config.ground_truth.is_dir():
        raise FileNotFoundError(f"{config.ground_truth}: ground-truth folder not found")
    if config.koos_truth is not None and not config.koos_truth.is_file():
        raise FileNotFoundError(f"{config.koos_truth}: Koos table not found")
    if backend not in ("local", "slurm"):
        raise ValueError(f"backend must be local or slurm, got {backend!r}")
    if backend == "slurm":
        check_slurm()  # before anything is written or submitted
    needs_engine = backend == "local" or config.scoring.evaluation_image or config.scoring.ranking_image
    client = client if client is not None or not needs_engine else _docker_client()
    work = config.output_dir
    work.mkdir(parents=True, exist_ok=True)
    write_json_atomic(work / "config.json",
                      {"config": config, "provenance": provenance("crossmoda-challenge", config)})
    empty = work / "empty-predictions"
    empty.mkdir(exist_ok=True)
    empty_koos = empty / KOOS_PREDICTIONS
    empty_koos.write_text("case,class\n", encoding="utf-8")

    if backend == "slurm":
        team_runs = run_teams_slurm(config, slurm_options or SlurmOptions())
    else:
        team_runs = run_teams_local(config, client)
    results: list[TeamResult] = []
    for team, team_run in zip(config.teams, team_runs, strict=True):
        run = team_run.run
        record = {"team": team.name, "backend": backend, **_run_record(run)}
        if team_run.jobs is not None:
            record["jobs"] = team_run.jobs
        write_json_atomic(work / "teams" / team.name / "run.json", record)
        result = TeamResult(team=team.name, run=run, scored_as_missing=not team_run.keep)
        _evaluate(config, result, team_run.output if team_run.keep else empty, empty_koos, client, work)
        results.append(result)

    ranking = rank_teams(work / "scores", work / "ranking", scoring=config.scoring,
                         log_file=work / "ranking.log", client=client)
    csv_path = work / "ranking" / "leaderboard.csv"
    ranks = read_leaderboard_csv(csv_path) if ranking.ok and csv_path.is_file() else None
    message = ranking.message if ranks is not None or not ranking.ok else f"{csv_path} not written"
    report = build_report(results, ranks, ranking_message=message, extra={
        "limits": config.limits, "scoring": config.scoring,
        "provenance": provenance("crossmoda-challenge", config),
    })
    report_json, report_md = write_report(report, work)
    return ChallengeResult(report, report_json, report_md, results, ranks is not None)


def _evaluate(
    config: ChallengeConfig, result: TeamResult, predictions: Path, empty_koos: Path, client: Any, work: Path
) -> None:
    koos_pred: Path | None = None
    if config.koos_truth is not None:
        candidate = predictions / KOOS_PREDICTIONS
        koos_pred = candidate if candidate.is_file() else empty_koos
    scores = work / "scores" / result.team
    if scores.exists():
        shutil.rmtree(scores)
    log = work / "teams" / result.team / "evaluation.log"
    ev = evaluate_team(predictions, config.ground_truth, scores, koos_predictions=koos_pred,
                       koos_truth=config.koos_truth, scoring=config.scoring, log_file=log, client=client)
    if ev.ok and (scores / "metrics.json").is_file():
        return
    result.evaluation_ok = False
    result.evaluation_message = f"evaluation failed ({ev.message or 'no metrics.json'}); see {log}"
    logger.warning("%s: %s; scoring it as missing", result.team, result.evaluation_message)
    if predictions == work / "empty-predictions":
        return
    shutil.rmtree(scores, ignore_errors=True)
    fallback = evaluate_team(work / "empty-predictions", config.ground_truth, scores,
                             koos_predictions=empty_koos if koos_pred is not None else None,
                             koos_truth=config.koos_truth, scoring=config.scoring,
                             log_file=log.with_name("evaluation-fallback.log"), client=client)
    result.scored_as_missing = fallback.ok


def _run_record(run: ContainerRun) -> dict[str, Any]:
    return {
        "image": run.image, "image_id": run.image_id, "status": run.status, "exit_code": run.exit_code,
        "runtime_s": run.runtime_s, "n_outputs": run.n_outputs, "message": run.message, "gpu": run.gpu,
        "log_file": run.log_file, "limits": run.limits,
        "output_bytes": run.output_bytes, "refused": run.refused,
    }
