"""Score team outputs with ``crossmoda-evaluate`` and rank them with ``crossmoda-rank``.

Both tools are called through their command lines (the agreed interface, docs/contracts.md),
either as console scripts of this environment or inside their images under the same platform
rules as the algorithms (no network, inputs read-only): organisers who do not trust the
submissions' files score them in a container.

A team's predictions are never scored (or mounted) where the team wrote them: they are first
copied into a fresh organiser-owned folder with :func:`crossmoda.core.untrusted.copy_untrusted_tree`
(regular files and folders only, links refused, a byte cap enforced while copying), so a link
to the ground truth, another team's output or a host file is never followed. A local run is
started in its own process group, and the whole group is killed on timeout.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmoda.challenge.config import Limits, Scoring
from crossmoda.challenge.containers import MAX_LOG_BYTES, run_container
from crossmoda.core.untrusted import UntrustedFileError, copy_untrusted_tree

__all__ = ["MAX_PREDICTION_BYTES", "ToolRun", "evaluate_team", "rank_teams", "console_script"]

MAX_PREDICTION_BYTES = 4 * 1024**3
"""Largest total size of a team's predictions copied for scoring (bytes)."""

logger = logging.getLogger(__name__)


@dataclass
class ToolRun:
    """Outcome of one evaluation or ranking run."""

    ok: bool
    runtime_s: float
    log_file: Path
    message: str = ""


def console_script(name: str) -> str:
    """Path of console script ``name``: next to this Python first, then on ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"console script {name!r} not found (is crossmoda installed here?)")
    return found


def _run_local(argv: Sequence[str], log_file: Path, time_limit_s: float) -> ToolRun:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            output, _ = proc.communicate()
            log_file.write_bytes((output or b"")[-MAX_LOG_BYTES:])
            return ToolRun(False, time.monotonic() - t0, log_file, f"timed out after {time_limit_s:g} s")
        except BaseException:
            _kill_group(proc)
            raise
    log_file.write_bytes(output[-MAX_LOG_BYTES:])
    ok = proc.returncode == 0
    return ToolRun(ok, time.monotonic() - t0, log_file, "" if ok else f"exited with status {proc.returncode}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process group of ``proc`` (the tool and every worker it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _stage_predictions(
    predictions: Path, koos_predictions: Path | None, staging: Path, max_bytes: int
) -> tuple[Path, Path | None, str]:
    """Copy a team's predictions into ``staging``; returns (folder, Koos table, problem or "").

    A Koos table inside the team's folder is taken from the copy (absent when it was a link);
    one outside it (the organiser's empty table) is used as is.
    """
    folder = staging / "predictions"
    if not predictions.is_dir():
        folder.mkdir(parents=True)
        return folder, koos_predictions, ""
    try:
        report = copy_untrusted_tree(predictions, folder, max_bytes)
    except UntrustedFileError as err:
        return folder, None, f"predictions not copied: {err}"
    for item, reason in report.refused:
        logger.warning("%s: %s %s; not scored", predictions, item, reason)
    if report.over_cap:
        return folder, None, f"predictions exceed the cap of {max_bytes} bytes"
    koos = koos_predictions
    if koos_predictions is not None:
        try:
            relative = koos_predictions.relative_to(predictions)
        except ValueError:
            relative = None
        if relative is not None:
            koos = folder / relative  # may be absent: the evaluation then reports it
    return folder, koos, ""


def _run_image(
    client: Any, image: str, args: Sequence[str], mounts: dict[Path, tuple[str, str]], output: Path,
    log_file: Path, time_limit_s: float,
) -> ToolRun:
    limits = Limits(time_limit_s=time_limit_s, memory="4g", gpu="none", tmp_size="1g", shm_size="256m")
    run = run_container(
        client, image, mounts=mounts, limits=limits, log_file=log_file, command=list(args),
        output_dir=output, require_images=False,
    )
    return ToolRun(run.ok, run.runtime_s, log_file, run.message)


def evaluate_team(
    predictions: Path,
    ground_truth: Path,
    output: Path,
    *,
    koos_predictions: Path | None,
    koos_truth: Path | None,
    scoring: Scoring,
    log_file: Path,
    client: Any = None,
    max_bytes: int = MAX_PREDICTION_BYTES,
) -> ToolRun:
    """Run the evaluation of one team's ``predictions`` folder into ``output`` (``metrics.json``).

    ``koos_predictions`` and ``koos_truth`` are passed together or not at all. The predictions
    are scored from an organiser-owned copy (links refused, at most ``max_bytes``); a team over
    the cap is not scored (the run fails, and the caller scores it as missing).
    """
    output.mkdir(parents=True, exist_ok=True)
    koos = koos_predictions is not None and koos_truth is not None
    staging = Path(tempfile.mkdtemp(prefix="crossmoda-scoring-"))
    staging.chmod(0o755)  # readable by a container running as another user
    try:
        staged, staged_koos, problem = _stage_predictions(predictions, koos_predictions, staging, max_bytes)
        if problem:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.write_text(problem + "\n", encoding="utf-8")
            logger.warning("%s: %s", predictions, problem)
            return ToolRun(False, 0.0, log_file, problem)
        if scoring.evaluation_image is None:
            argv = [console_script("crossmoda-evaluate"), "--predictions", str(staged),
                    "--ground-truth", str(ground_truth), "--output", str(output)]
            if koos:
                argv += ["--koos-predictions", str(staged_koos), "--koos-truth", str(koos_truth)]
            return _run_local([*argv, *scoring.evaluation_args], log_file, scoring.time_limit_s)
        mounts: dict[Path, tuple[str, str]] = {
            staged: ("/predictions", "ro"), ground_truth: ("/ground-truth", "ro"), output: ("/output", "rw"),
        }
        args = ["--predictions", "/predictions", "--ground-truth", "/ground-truth", "--output", "/output"]
        if koos and staged_koos is not None and koos_truth is not None:
            if staged_koos.is_relative_to(staged):
                koos_arg = "/predictions/" + staged_koos.relative_to(staged).as_posix()
            else:
                mounts[staged_koos] = ("/koos/predictions.csv", "ro")
                koos_arg = "/koos/predictions.csv"
            mounts[koos_truth] = ("/koos/truth.csv", "ro")
            args += ["--koos-predictions", koos_arg, "--koos-truth", "/koos/truth.csv"]
        return _run_image(client, scoring.evaluation_image, [*args, *scoring.evaluation_args], mounts,
                          output, log_file, scoring.time_limit_s)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def rank_teams(
    scores: Path, output: Path, *, scoring: Scoring, log_file: Path, client: Any = None
) -> ToolRun:
    """Rank the teams of ``scores`` (``<team>/metrics.json`` folders) into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    if scoring.ranking_image is None:
        argv = [console_script("crossmoda-rank"), str(scores), "--output", str(output)]
        return _run_local([*argv, *scoring.ranking_args], log_file, scoring.time_limit_s)
    mounts = {scores: ("/scores", "ro"), output: ("/output", "rw")}
    args = ["/scores", "--output", "/output", *scoring.ranking_args]
    return _run_image(client, scoring.ranking_image, args, mounts, output, log_file, scoring.time_limit_s)
