"""Run the team images as Slurm jobs: one ``sbatch`` job per team, or per shard of K cases.

Work folder layout (on a file system shared by the submit host and the nodes)::

    slurm/state.json                 jobs submitted and their outcomes (resume reads it)
    slurm/inputs/shard-<i>/          a shard's test images (hard links or copies)
    slurm/jobs/<team>/<i>/           job.sh, slurm.out, container.log, result.json, output/

A job that finished (any final state) and whose image, cases and limits are unchanged is not
submitted again by a rerun; jobs still queued or running are waited on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from crossmoda.challenge import slurm
from crossmoda.challenge.config import ChallengeConfig, Team, parse_memory
from crossmoda.challenge.containers import MAX_LOG_BYTES
from crossmoda.challenge.jobscript import JobFiles, job_script, sbatch_args
from crossmoda.challenge.outputs import collect_output, remove_tree
from crossmoda.challenge.platform import Engine, cli_argv, container_spec
from crossmoda.core.provenance import write_json_atomic

__all__ = ["SlurmOptions", "ShardRun", "run_slurm_jobs", "shard_cases"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlurmOptions:
    """How team runs become Slurm jobs.

    Attributes:
        engine: Container CLI on the nodes.
        cases_per_job: Split each team's cases into jobs of this many (``None``: one job per team).
        gpus_per_job: GPUs per job (``--gres=gpu:N`` and the engine's GPU flag); 0: none.
        partition, account, qos: ``sbatch`` options (``None``: the cluster's defaults).
        extra_args: More ``sbatch`` arguments, verbatim.
        poll_s: Seconds between state queries.
        rerun: Teams whose earlier jobs are forgotten and submitted again (e.g. after the team
            fixed its image under the same tag).
    """

    engine: Engine = "docker"
    cases_per_job: int | None = None
    gpus_per_job: int = 0
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    extra_args: tuple[str, ...] = ()
    poll_s: float = 5.0
    rerun: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cases_per_job is not None and self.cases_per_job < 1:
            raise ValueError(f"--cases-per-job must be >= 1, got {self.cases_per_job}")
        if self.gpus_per_job < 0:
            raise ValueError(f"--gpus-per-job must be >= 0, got {self.gpus_per_job}")
        if self.engine not in ("docker", "podman"):
            raise ValueError(f"--engine must be docker or podman, got {self.engine!r}")


@dataclass
class ShardRun:
    """Outcome of one job (JSON-ready)."""

    team: str
    shard: int
    cases: list[str]
    fingerprint: str
    job_id: str | None = None
    slurm_state: str | None = None
    status: str | None = None
    exit_code: int | None = None
    runtime_s: float = 0.0
    message: str = ""
    submit: str | None = None
    start: str | None = None
    end: str | None = None
    n_images: int = 0
    bytes: int = 0
    over_cap: bool = False
    refused: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status is not None


def _case_of(name: str) -> str:
    for marker in ("_hrT2", "_ceT1"):
        if marker in name:
            return name.split(marker)[0]
    return name


def shard_cases(input_dir: Path, cases_per_job: int | None) -> list[list[str]]:
    """Case ids of the regular files in ``input_dir``, sorted, split into shards (one shard:
    all cases)."""
    names = [p.name for p in input_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    cases = sorted({_case_of(n) for n in names})
    if cases_per_job is None or not cases:
        return [cases]
    return [cases[i:i + cases_per_job] for i in range(0, len(cases), cases_per_job)]


def _shard_input(config: ChallengeConfig, work: Path, index: int, cases: list[str], n_shards: int) -> Path:
    if n_shards == 1:
        return config.input_dir
    folder = work / "slurm" / "inputs" / f"shard-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(cases)
    for src in sorted(config.input_dir.iterdir()):
        if not src.is_file() or _case_of(src.name) not in wanted or (folder / src.name).exists():
            continue
        try:
            os.link(src, folder / src.name)
        except OSError:
            shutil.copy2(src, folder / src.name)
    return folder


def _fingerprint(team: Team, cases: list[str], config: ChallengeConfig, opts: SlurmOptions) -> str:
    blob = json.dumps([team.image, cases, asdict(config.limits), opts.engine, opts.gpus_per_job], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_state(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("%s unreadable (%s); submitting every job again", path, err)
        return {}
    return data.get("jobs", {}) if isinstance(data, dict) else {}


def _read_result(files: JobFiles) -> dict[str, Any] | None:
    try:
        data = json.loads(files.result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _finish(run: ShardRun, info: slurm.JobInfo | None, files: JobFiles, cap: int, trash: Path) -> None:
    """Set the status of a job that ended, and copy its output out (capped, links refused)."""
    if info is not None:
        run.slurm_state = info.state
        times = (info.submit, info.start, info.end)
        run.submit, run.start, run.end = (t.isoformat() if t else None for t in times)
    result = _read_result(files)
    state = info.state if info is not None else "UNKNOWN"
    if state == "COMPLETED" and result is not None:
        run.status = str(result.get("status", "error"))
        code = result.get("exit_code")
        run.exit_code = int(code) if isinstance(code, int) else None
        run.runtime_s = float(result.get("runtime_s", 0.0))
        run.message = str(result.get("message", ""))
    elif state == "COMPLETED":
        run.status, run.message = "error", "the job ended without recording a result"
    elif info is None:
        run.status, run.message = "error", "Slurm no longer knows the job and it recorded no result"
    else:
        run.status, run.message = slurm.slurm_status(state)
        run.message += f" (job {run.job_id}, Slurm state {state})"
    if files.staging.is_dir() or not files.collected.is_dir():
        remove_tree(files.collected, trash)
        report = collect_output(files.staging, files.collected, cap)
    else:  # collected by an earlier, interrupted runner (which then removed the staging folder)
        report = collect_output(files.collected, files.folder / ".recount", cap)
        remove_tree(files.folder / ".recount", trash)
    run.n_images, run.bytes, run.over_cap = report.n_images, report.bytes, report.over_cap
    run.refused = report.refused
    if run.status == "ok" and report.over_cap:
        run.status, run.message = "oversized", f"the output exceeds the cap of {cap} bytes"
    elif run.status == "ok" and report.n_images == 0:
        run.status, run.message = "silent", "exited 0 but wrote no output image"
    if report.refused:
        run.message = (run.message + "; " if run.message else "") + f"{len(report.refused)} entries refused"
    remove_tree(files.staging, trash)


def run_slurm_jobs(
    config: ChallengeConfig, opts: SlurmOptions, save: Callable[[], None] | None = None
) -> dict[str, list[tuple[ShardRun, JobFiles]]]:
    """Submit (or resume) every team's jobs, wait for them, and collect their outputs.

    Returns team -> [(shard run, its files)] in shard order. Raises :class:`slurm.SlurmError`
    before anything is submitted when Slurm cannot be reached.
    """
    slurm.check_slurm()
    unknown = sorted(set(opts.rerun) - {t.name for t in config.teams})
    if unknown:
        raise ValueError(f"--rerun names teams that are not in this run: {unknown}")
    work = config.output_dir
    state_file = work / "slurm" / "state.json"
    previous = _load_state(state_file)
    trash = work / ".trash"
    cap = parse_memory(config.limits.output_size)
    shards = shard_cases(config.input_dir, opts.cases_per_job)
    runs: dict[str, ShardRun] = {}
    files: dict[str, JobFiles] = {}

    def write_state() -> None:
        write_json_atomic(state_file, {"jobs": {k: asdict(r) for k, r in runs.items()}})
        if save is not None:
            save()

    for team in config.teams:
        for index, cases in enumerate(shards):
            key = f"{team.name}/{index}"
            fp = _fingerprint(team, cases, config, opts)
            files[key] = JobFiles(work / "slurm" / "jobs" / team.name / str(index))
            old = previous.get(key)
            reuse = old is not None and old.get("fingerprint") == fp and old.get("job_id")
            if reuse and old is not None and team.name not in opts.rerun:
                runs[key] = ShardRun(**{k: v for k, v in old.items() if k in ShardRun.__dataclass_fields__})
                continue
            runs[key] = ShardRun(team.name, index, cases, fp)
    for key, run in runs.items():
        if run.job_id is None:
            _submit(config, opts, run, files[key], shards, trash)
            write_state()
    resumed = sum(1 for r in runs.values() if r.done)
    if resumed:
        logger.info("%d of %d jobs finished in an earlier run; not submitted again", resumed, len(runs))
    _wait(runs, files, opts, cap, trash, write_state)
    by_team: dict[str, list[tuple[ShardRun, JobFiles]]] = {t.name: [] for t in config.teams}
    for key, run in runs.items():
        by_team[run.team].append((run, files[key]))
    return by_team


def _submit(config: ChallengeConfig, opts: SlurmOptions, run: ShardRun, files: JobFiles,
            shards: list[list[str]], trash: Path) -> None:
    team = next(t for t in config.teams if t.name == run.team)
    remove_tree(files.folder, trash)
    files.folder.mkdir(parents=True)
    inputs = _shard_input(config, config.output_dir, run.shard, run.cases, len(shards))
    gpu = opts.gpus_per_job > 0 and config.limits.gpu != "none"
    spec = container_spec(config.limits, {inputs: ("/input", "ro"), files.staging: ("/output", "rw")}, gpu)
    name = f"crossmoda-{run.team}-{run.shard}-{run.fingerprint[:8]}"
    argv = cli_argv(opts.engine, spec, team.image, name=name, verb="run")
    files.script.write_text(job_script(
        engine=opts.engine, name=name, image=team.image, run_argv=argv, files=files,
        time_limit_s=config.limits.time_limit_s, memory=config.limits.memory, max_log_bytes=MAX_LOG_BYTES))
    files.script.chmod(0o755)
    args = sbatch_args(job_name=f"crossmoda-{run.team}-{run.shard}", files=files,
                       time_limit_s=config.limits.time_limit_s, memory_bytes=spec.memory_bytes,
                       cpus=config.limits.cpus, gpus=opts.gpus_per_job if gpu else 0,
                       partition=opts.partition, account=opts.account, qos=opts.qos, extra=opts.extra_args)
    run.job_id = slurm.submit(files.script, args)
    logger.info("submitted %s shard %d (%d cases) as job %s", run.team, run.shard, len(run.cases), run.job_id)


def _wait(runs: dict[str, ShardRun], files: dict[str, JobFiles], opts: SlurmOptions, cap: int, trash: Path,
          write_state: Callable[[], None]) -> None:
    pending = {k for k, r in runs.items() if not r.done}
    unknown_polls: dict[str, int] = {}
    with tqdm(total=len(runs), initial=len(runs) - len(pending), desc="slurm jobs", unit="job") as bar:
        while pending:
            infos = slurm.query_jobs(str(runs[k].job_id) for k in pending)
            for key in sorted(pending):
                run = runs[key]
                info = infos.get(str(run.job_id))
                if info is None:
                    unknown_polls[key] = unknown_polls.get(key, 0) + 1
                    if unknown_polls[key] < 3:
                        continue
                elif not info.final:
                    continue
                _finish(run, info, files[key], cap, trash)
                logger.info("%s shard %d: job %s %s -> %s %s", run.team, run.shard, run.job_id,
                            run.slurm_state, run.status, run.message)
                pending.discard(key)
                bar.update(1)
                write_state()
            if pending:
                time.sleep(opts.poll_s)
