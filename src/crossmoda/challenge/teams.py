"""Run every team's image with one backend and leave, per team, a safe output folder and a run record.

Both backends end the same way: ``teams/<team>/output`` holds copies of the regular files the
container wrote (links and special files refused, at most ``limits.output_size`` bytes), and a
:class:`~crossmoda.challenge.containers.ContainerRun` says what happened.

* ``local``: one container per team through the Docker SDK, one after the other.
* ``slurm``: one ``sbatch`` job per team or per shard of cases (:mod:`.slurm_backend`); a team's
  status is ``ok`` when every shard is, else the first failing shard's status; the cases of a
  failed shard are missing (worst values), the other shards' outputs are kept.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from crossmoda.challenge.config import ChallengeConfig, Team, parse_memory
from crossmoda.challenge.containers import MAX_LOG_BYTES, ContainerRun, count_outputs, run_container
from crossmoda.challenge.jobscript import JobFiles
from crossmoda.challenge.outputs import OutputReport, collect_output, remove_tree, tail_bytes
from crossmoda.challenge.slurm_backend import ShardRun, SlurmOptions, run_slurm_jobs

__all__ = ["TeamRun", "run_teams_local", "run_teams_slurm", "KOOS_PREDICTIONS"]

logger = logging.getLogger(__name__)

KOOS_PREDICTIONS = "predictions.csv"


@dataclass
class TeamRun:
    """A team's run: the record, its output folder, whether that output is scored."""

    run: ContainerRun
    output: Path
    keep: bool
    jobs: list[dict[str, Any]] | None = None


def _apply_output(run: ContainerRun, report: OutputReport, cap: int) -> None:
    run.n_outputs = report.n_images
    run.refused = list(report.refused)
    run.output_bytes = report.bytes
    if run.status == "ok" and report.over_cap:
        run.status, run.message = "oversized", f"the output exceeds the cap of {cap} bytes"
    elif run.status in ("ok", "silent") and report.n_images == 0:
        run.status, run.message = "silent", "exited 0 but wrote no output image"
    if report.refused:
        run.message = (run.message + "; " if run.message else "") + (
            f"{len(report.refused)} output entries refused (links or special files), "
            f"e.g. {report.refused[0]}")


def run_teams_local(config: ChallengeConfig, client: Any) -> list[TeamRun]:
    """Every team's container in turn on the local engine."""
    work = config.output_dir
    cap = parse_memory(config.limits.output_size)
    runs: list[TeamRun] = []
    for team in tqdm(config.teams, desc="teams", unit="team"):
        folder = work / "teams" / team.name
        staging, out = folder / "container-output", folder / "output"
        for path in (staging, out):
            remove_tree(path, work / ".trash")
        logger.info("running %s (%s)", team.name, team.image)
        run = run_container(
            client, team.image, mounts={config.input_dir: ("/input", "ro"), staging: ("/output", "rw")},
            limits=config.limits, log_file=folder / "algorithm.log", output_dir=staging,
        )
        _apply_output(run, collect_output(staging, out, cap), cap)
        remove_tree(staging, work / ".trash")
        logger.info("%s: %s in %.1f s %s", team.name, run.status, run.runtime_s, run.message)
        keep = run.ok or (run.status == "crashed" and config.scoring.keep_partial)
        runs.append(TeamRun(run, out, keep))
    return runs


def run_teams_slurm(config: ChallengeConfig, opts: SlurmOptions) -> list[TeamRun]:
    """Every team's jobs on Slurm (submitted, or resumed), merged per team."""
    by_team = run_slurm_jobs(config, opts)
    cap = parse_memory(config.limits.output_size)
    gpu = opts.gpus_per_job > 0 and config.limits.gpu != "none"
    return [_merge(config, team, by_team[team.name], cap, gpu) for team in config.teams]


def _merge(config: ChallengeConfig, team: Team, shards: list[tuple[ShardRun, JobFiles]], cap: int,
           gpu: bool) -> TeamRun:
    folder = config.output_dir / "teams" / team.name
    out = folder / "output"
    remove_tree(out, config.output_dir / ".trash")
    out.mkdir(parents=True)
    failed = [s for s, _ in shards if s.status != "ok"]
    first = failed[0] if failed else None
    run = ContainerRun(image=team.image, status=first.status if first else "ok",  # type: ignore[arg-type]
                       exit_code=first.exit_code if first else 0,
                       runtime_s=sum(s.runtime_s for s, _ in shards),
                       log_file=folder / "algorithm.log", gpu=gpu,
                       limits=_limits(config))
    run.message = "; ".join(f"shard {s.shard} (job {s.job_id}): {s.status} {s.message}".strip()
                            for s in failed)
    total = 0
    kept = 0
    for shard, files in shards:
        run.refused += [f"shard {shard.shard}: {r}" for r in shard.refused]
        if shard.status != "ok" and not (shard.status == "crashed" and config.scoring.keep_partial):
            continue
        total += shard.bytes
        if total > cap:
            run.status, run.message = "oversized", f"the output exceeds the cap of {cap} bytes"
            break
        _append_tree(files.collected, out)
        kept += 1
    run.n_outputs = count_outputs(out)
    run.output_bytes = total
    _merge_logs(shards, run.log_file)
    keep = kept > 0 and run.status != "oversized"
    if not keep:
        remove_tree(out, config.output_dir / ".trash")
        out.mkdir(parents=True)
    return TeamRun(run, out, keep, jobs=[_job_record(s) for s, _ in shards])


def _limits(config: ChallengeConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(config.limits)


def _append_tree(src: Path, dst: Path) -> None:
    """Copy a collected shard output (the runner's own files) into the team output; Koos tables
    are concatenated (one header)."""
    for root, _dirs, names in os.walk(src):
        for name in sorted(names):
            source = Path(root, name)
            target = dst / source.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if name == KOOS_PREDICTIONS and target.exists():
                lines = source.read_bytes().splitlines(keepends=True)[1:]
                with open(target, "ab") as handle:
                    if not target.read_bytes().endswith(b"\n"):
                        handle.write(b"\n")
                    handle.writelines(lines)
            elif target.exists():
                logger.warning("%s written by two shards; keeping the first", target.relative_to(dst))
            else:
                shutil.copyfile(source, target)


def _merge_logs(shards: list[tuple[ShardRun, JobFiles]], log_file: Path | None) -> None:
    if log_file is None:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    per_shard = MAX_LOG_BYTES // max(1, len(shards))
    with open(log_file, "wb") as handle:
        for shard, files in shards:
            header = (f"== shard {shard.shard} ({len(shard.cases)} cases), "
                      f"job {shard.job_id}: {shard.status} ==\n")
            handle.write(header.encode())
            for path in (files.container_log, files.slurm_log):
                if path.is_file():
                    handle.write(tail_bytes(path, per_shard // 2))


def _job_record(shard: ShardRun) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(shard).items() if k != "fingerprint"}
