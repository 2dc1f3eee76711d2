"""Run a command with a time limit and kill its whole process group when the limit is hit."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ProcessResult", "run_group"]


@dataclass
class ProcessResult:
    """Exit status (``None`` when killed at the time limit) and captured output."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False


def run_group(argv: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> ProcessResult:
    """Run ``argv`` in a new session; at ``timeout_s`` SIGKILL the whole process group (children
    included, not only the parent), then collect what it printed.

    Raises:
        FileNotFoundError: the program does not exist.
    """
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return ProcessResult(None, out, err, timed_out=True)
    return ProcessResult(proc.returncode, out, err)
