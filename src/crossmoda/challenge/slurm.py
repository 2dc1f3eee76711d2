"""Talk to Slurm through its own commands (``sbatch``, ``scontrol``, ``sacct``), nothing else.

Job states come from ``sacct`` when the cluster has accounting, else from ``scontrol show job``
(jobs stay listed for ``MinJobAge``) and, for jobs already purged, from a ``jobcomp/filetxt`` log.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crossmoda.challenge.process import run_group

__all__ = ["SlurmError", "JobInfo", "check_slurm", "submit", "query_jobs", "FINAL_STATES", "slurm_status",
           "parse_scontrol", "parse_sacct"]

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 60.0
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL",
                          "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"})

_SLURM_STATUS = {
    "TIMEOUT": ("timeout", "Slurm stopped the job at its time limit"),
    "OUT_OF_MEMORY": ("oom", "Slurm killed the job for exceeding its memory"),
    "CANCELLED": ("error", "the job was cancelled"),
    "NODE_FAIL": ("error", "the node running the job failed"),
    "PREEMPTED": ("error", "the job was preempted"),
    "BOOT_FAIL": ("error", "the node could not boot"),
    "DEADLINE": ("error", "the job missed its deadline"),
    "REVOKED": ("error", "the job was revoked"),
    "FAILED": ("crashed", "the job script failed"),
}


class SlurmError(RuntimeError):
    """Slurm cannot be reached or refused a command."""


@dataclass(frozen=True)
class JobInfo:
    """State of one job (``state`` is Slurm's base state, e.g. ``COMPLETED``; times may be None)."""

    job_id: str
    state: str
    exit_code: str = ""
    reason: str = ""
    submit: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def slurm_status(state: str) -> tuple[str, str]:
    """Runner status and reason for a final Slurm state other than COMPLETED (whose status is
    what the job itself recorded)."""
    return _SLURM_STATUS.get(state, ("error", f"the job ended in Slurm state {state}"))


def _run(argv: Sequence[str]) -> str:
    try:
        res = run_group(argv, COMMAND_TIMEOUT_S)
    except FileNotFoundError as err:
        raise SlurmError(f"{argv[0]} not found: is Slurm installed on this host?") from err
    if res.timed_out:
        raise SlurmError(f"`{' '.join(argv)}` did not answer within {COMMAND_TIMEOUT_S:g} s")
    if res.returncode != 0:
        detail = " | ".join(line.strip() for line in res.stderr.strip().splitlines()[-3:])
        raise SlurmError(f"`{' '.join(argv)}` failed ({res.returncode}): {detail[-500:]}")
    return res.stdout


def check_slurm() -> None:
    """Raise :class:`SlurmError` unless ``sbatch`` exists and the controller answers."""
    for cmd in ("sbatch", "scontrol", "squeue"):
        if shutil.which(cmd) is None:
            raise SlurmError(f"{cmd} not found on PATH: the Slurm backend needs Slurm's client commands")
    out = _run(["scontrol", "ping"])
    if "UP" not in out:
        raise SlurmError(f"the Slurm controller is not answering: {out.strip()}")


def submit(script: Path, args: Sequence[str]) -> str:
    """``sbatch --parsable ARGS SCRIPT``; returns the job id."""
    out = _run(["sbatch", "--parsable", *args, str(script)]).strip()
    job_id = out.split(";")[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch printed {out!r}, not a job id")
    return job_id


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _base_state(text: str) -> str:
    return text.split()[0].rstrip("+") if text else "UNKNOWN"


_KV = re.compile(r"(\w+)=(\S*)")


def parse_scontrol(text: str) -> dict[str, JobInfo]:
    """Jobs in ``scontrol show job -o`` or jobcomp/filetxt lines (``Key=Value`` fields)."""
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        fields = dict(_KV.findall(line))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        jobs[fields["JobId"]] = JobInfo(
            fields["JobId"], _base_state(fields["JobState"]), fields.get("ExitCode", ""),
            fields.get("Reason", ""), _time(fields.get("SubmitTime", "")), _time(fields.get("StartTime", "")),
            _time(fields.get("EndTime", "")))
    return jobs


def parse_sacct(text: str) -> dict[str, JobInfo]:
    """Jobs in ``sacct -n -P -X -o JobID,State,ExitCode,Submit,Start,End`` output."""
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 6 or not parts[0].isdigit():
            continue
        jobs[parts[0]] = JobInfo(parts[0], _base_state(parts[1]), parts[2], "", _time(parts[3]),
                                 _time(parts[4]), _time(parts[5]))
    return jobs


def _jobcomp_file() -> Path | None:
    try:
        out = _run(["scontrol", "show", "config"])
    except SlurmError:
        return None
    conf = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", out, flags=re.M))
    if conf.get("JobCompType", "").endswith("filetxt") and conf.get("JobCompLoc", "").startswith("/"):
        return Path(conf["JobCompLoc"])
    return None


def query_jobs(job_ids: Iterable[str]) -> dict[str, JobInfo]:
    """States of ``job_ids`` (those Slurm no longer knows are left out)."""
    ids = sorted(set(job_ids), key=int)
    if not ids:
        return {}
    found: dict[str, JobInfo] = {}
    if shutil.which("sacct") is not None:
        try:
            found = parse_sacct(_run(["sacct", "-n", "-P", "-X", "-j", ",".join(ids),
                                      "-o", "JobID,State,ExitCode,Submit,Start,End"]))
        except SlurmError as err:  # no accounting storage: "Slurm accounting storage is disabled"
            logger.debug("sacct: %s", err)
    missing = [i for i in ids if i not in found]
    if missing:
        res = run_group(["scontrol", "show", "job", "-o"], COMMAND_TIMEOUT_S)
        if res.returncode == 0:
            listed = parse_scontrol(res.stdout)
            found.update({i: listed[i] for i in missing if i in listed})
    missing = [i for i in ids if i not in found]
    if missing:
        jobcomp = _jobcomp_file()
        if jobcomp is not None and jobcomp.is_file():
            listed = parse_scontrol(jobcomp.read_text(encoding="utf-8", errors="replace"))
            found.update({i: listed[i] for i in missing if i in listed})
    return found
