"""Score team outputs with ``crossmoda-evaluate`` and rank them with ``crossmoda-rank``.

Both tools are called through their command lines (the agreed interface, docs/contracts.md),
either as console scripts of this environment or inside their images under the same platform
rules as the algorithms (no network, inputs read-only): organisers who do not trust the
submissions' files score them in a container.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmoda.challenge.config import Limits, Scoring
from crossmoda.challenge.containers import MAX_LOG_BYTES, run_container

__all__ = ["ToolRun", "evaluate_team", "rank_teams", "console_script"]

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
    try:
        out = subprocess.run(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=time_limit_s, check=False
        )
    except subprocess.TimeoutExpired as err:
        log_file.write_bytes((err.output or b"")[-MAX_LOG_BYTES:])
        return ToolRun(False, time.monotonic() - t0, log_file, f"timed out after {time_limit_s:g} s")
    log_file.write_bytes(out.stdout[-MAX_LOG_BYTES:])
    ok = out.returncode == 0
    return ToolRun(ok, time.monotonic() - t0, log_file, "" if ok else f"exited with status {out.returncode}")


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
) -> ToolRun:
    """Run the evaluation of one team's ``predictions`` folder into ``output`` (``metrics.json``).

    ``koos_predictions`` and ``koos_truth`` are passed together or not at all.
    """
    output.mkdir(parents=True, exist_ok=True)
    koos = koos_predictions is not None and koos_truth is not None
    if scoring.evaluation_image is None:
        argv = [console_script("crossmoda-evaluate"), "--predictions", str(predictions),
                "--ground-truth", str(ground_truth), "--output", str(output)]
        if koos:
            argv += ["--koos-predictions", str(koos_predictions), "--koos-truth", str(koos_truth)]
        return _run_local([*argv, *scoring.evaluation_args], log_file, scoring.time_limit_s)
    mounts: dict[Path, tuple[str, str]] = {
        predictions: ("/predictions", "ro"), ground_truth: ("/ground-truth", "ro"), output: ("/output", "rw"),
    }
    args = ["--predictions", "/predictions", "--ground-truth", "/ground-truth", "--output", "/output"]
    if koos and koos_predictions is not None and koos_truth is not None:
        mounts[koos_predictions] = ("/koos/predictions.csv", "ro")
        mounts[koos_truth] = ("/koos/truth.csv", "ro")
        args += ["--koos-predictions", "/koos/predictions.csv", "--koos-truth", "/koos/truth.csv"]
    return _run_image(client, scoring.evaluation_image, [*args, *scoring.evaluation_args], mounts, output,
                      log_file, scoring.time_limit_s)


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
