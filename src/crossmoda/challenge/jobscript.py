"""The batch script of one Slurm job: run a team image on a node under the platform rules.

The script needs only bash, coreutils and the node's container CLI; it records its outcome in
``result.json`` (status, exit code, runtime, message) for the runner on the submit host.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crossmoda.challenge.platform import Engine

__all__ = ["JobFiles", "job_script", "sbatch_args"]


@dataclass(frozen=True)
class JobFiles:
    """Files of one job in its folder (on the shared file system)."""

    folder: Path

    @property
    def script(self) -> Path:
        return self.folder / "job.sh"

    @property
    def result(self) -> Path:
        return self.folder / "result.json"

    @property
    def container_log(self) -> Path:
        return self.folder / "container.log"

    @property
    def slurm_log(self) -> Path:
        return self.folder / "slurm.out"

    @property
    def staging(self) -> Path:
        return self.folder / "container-output"

    @property
    def collected(self) -> Path:
        return self.folder / "output"


_TEMPLATE = r"""#!/usr/bin/env bash
# crossmoda-challenge: one team container run (generated; see docs/organisers.md)
set -u
ENGINE={engine}
NAME={name}
IMAGE={image}
RESULT={result}
LOG={log}
STAGING={staging}
T0=$(date +%s.%N)
RUN_S=0
elapsed() {{ awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {{ printf "%.3f", b - a }}'; }}
result() {{  # status exit_code message; runtime_s: the container run, script_s: the whole script
  printf '{{"status": "%s", "exit_code": %s, "runtime_s": %s, "script_s": %s, ' "$1" "$2" "$RUN_S" \
    "$(elapsed "$T0")" > "$RESULT.tmp"
  printf '"message": "%s", "node": "%s"}}\n' "$3" "$(hostname -s)" >> "$RESULT.tmp"
  mv "$RESULT.tmp" "$RESULT"
}}
cleanup() {{ "$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true; }}
trap cleanup EXIT
trap '"$ENGINE" kill "$NAME" >/dev/null 2>&1; exit 143' TERM
rm -f "$RESULT"
if ! "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE not found on node $(hostname -s)" > "$LOG"
  result error null "image not found on node $(hostname -s)"
  exit 0
fi
mkdir -p "$STAGING" && chmod 777 "$STAGING"
cleanup
TR=$(date +%s.%N)
timeout --kill-after=10 {time_limit} {run_argv} 2>&1 | tail -c {max_log} > "$LOG"
rc=${{PIPESTATUS[0]}}
RUN_S=$(elapsed "$TR")
late=$(awk -v t="$RUN_S" 'BEGIN {{ print (t >= {time_limit}) ? 1 : 0 }}')
if [ "$rc" -eq 124 ] || {{ [ "$rc" -eq 137 ] && [ "$late" -eq 1 ]; }}; then
  "$ENGINE" kill "$NAME" >/dev/null 2>&1
  result timeout null "killed after the time limit of {time_limit} s"
  exit 0
fi
state=$("$ENGINE" inspect --format '{{{{.State.ExitCode}}}} {{{{.State.OOMKilled}}}}' "$NAME" 2>/dev/null)
if [ -z "$state" ]; then
  result error null "could not run the container (engine status $rc); see container.log"
  exit 0
fi
code=${{state%% *}}
if [ "${{state#* }}" = "true" ]; then
  result oom "$code" "killed for exceeding the memory limit of {memory}"
elif [ "$code" -ne 0 ]; then
  result crashed "$code" "exited with status $code"
else
  result ok 0 ""
fi
"""


def job_script(
    *, engine: Engine, name: str, image: str, run_argv: Sequence[str], files: JobFiles, time_limit_s: float,
    memory: str, max_log_bytes: int,
) -> str:
    """Text of the batch script (pure); ``run_argv`` is the ``<engine> run ...`` list from
    :func:`crossmoda.challenge.platform.cli_argv`."""
    q = shlex.quote
    return _TEMPLATE.format(
        engine=q(engine), name=q(name), image=q(image), result=q(str(files.result)),
        log=q(str(files.container_log)), staging=q(str(files.staging)),
        time_limit=math.ceil(time_limit_s), run_argv=shlex.join(run_argv), max_log=int(max_log_bytes),
        memory=q(memory).replace('"', ""),
    )


def sbatch_args(
    *, job_name: str, files: JobFiles, time_limit_s: float, memory_bytes: int, cpus: float | None, gpus: int,
    partition: str | None, account: str | None, qos: str | None, extra: Sequence[str],
) -> list[str]:
    """``sbatch`` options for one job (pure): its memory is the container's plus 256 MiB for the
    engine, its time the container's limit plus 5 minutes (the container is stopped first)."""
    minutes = math.ceil((time_limit_s + 300) / 60)
    mem_mb = math.ceil(memory_bytes / 1024**2) + 256
    args = [f"--job-name={job_name}", f"--output={files.slurm_log}", f"--chdir={files.folder}",
            f"--time={minutes}", f"--mem={mem_mb}M", f"--cpus-per-task={max(1, math.ceil(cpus or 1))}",
            "--nodes=1", "--ntasks=1"]
    if gpus > 0:
        args.append(f"--gres=gpu:{gpus}")
    if partition:
        args.append(f"--partition={partition}")
    if account:
        args.append(f"--account={account}")
    if qos:
        args.append(f"--qos={qos}")
    return args + list(extra)
