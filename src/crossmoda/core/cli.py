"""Shared helpers of the console scripts: logging, argument types, environment values, and the
rule "a bad value is a one-line message and exit status 2, never a traceback".

Use :func:`run_cli` as the body of ``main``::

    def main(argv=None) -> int:
        return run_cli("crossmoda-evaluate", lambda: _main(argv))

Argument types (:func:`finite_float`, :func:`positive_float`, :func:`positive_int`, ...) make
argparse print ``prog: error: argument --x: ...`` and exit 2 for a bad value.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from crossmoda.core.errors import CrossmodaError

__all__ = [
    "UsageError",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "setup_logging",
    "run_cli",
    "finite_float",
    "positive_float",
    "non_negative_float",
    "fraction",
    "probability",
    "positive_int",
    "non_negative_int",
    "env_int",
    "env_float",
    "check_environment",
    "check_writable_dir",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

logger = logging.getLogger(__name__)


class UsageError(CrossmodaError):
    """A bad command-line value, environment value or output folder (exit status 2)."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        super().__init__(path, problem)


def setup_logging(verbose: bool = False, fmt: str = "%(levelname)s %(name)s: %(message)s",
                  quiet_level: int = logging.INFO) -> None:
    """Configure the root logger once: DEBUG with ``verbose``, else ``quiet_level``."""
    logging.basicConfig(level=logging.DEBUG if verbose else quiet_level, format=fmt)


def run_cli(prog: str, body: Callable[[], int],
            usage_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run a console script's ``body`` and turn bad input into a one-line message.

    :class:`UsageError`, :class:`~crossmoda.core.errors.CrossmodaError` and ``usage_errors``
    give ``prog: message`` on stderr and exit status 2; ``KeyboardInterrupt`` gives 130.
    Anything else is a bug and keeps its traceback.
    """
    handled: tuple[type[BaseException], ...] = (CrossmodaError, *usage_errors)
    try:
        return body()
    except handled as err:
        message = " ".join(str(err).split()) or type(err).__name__
        sys.stderr.write(f"{prog}: error: {message}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def finite_float(text: str) -> float:
    """argparse type: a finite number (no nan, inf)."""
    value = _number(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1]")
    return value


def probability(text: str) -> float:
    """argparse type: a number in the open interval (0, 1) (significance levels)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1)")
    return value


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def env_int(name: str, default: int | None = None, minimum: int = 1) -> int | None:
    """Integer environment variable ``name`` (``default`` when unset or empty).

    Raises:
        UsageError: not an integer, or below ``minimum``.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"environment variable {name}={text!r} is not an integer") from None
    if value < minimum:
        raise UsageError(f"environment variable {name}={text!r} must be >= {minimum}")
    return value


def env_float(name: str, default: float | None = None, positive: bool = True) -> float | None:
    """Finite float environment variable ``name`` (``default`` when unset or empty).

    Raises:
        UsageError: not a finite number (or not > 0 with ``positive``).
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"environment variable {name}={text!r} is not a number") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise UsageError(f"environment variable {name}={text!r} must be a finite number"
                         f"{' > 0' if positive else ''}")
    return value


def check_environment() -> None:
    """Validate the package's environment variables (voxel cap, extent bound, worker count).

    Raises:
        UsageError: naming the first bad variable.
    """
    from crossmoda.core.io import MAX_EXTENT_ENV, MAX_VOXELS_ENV

    env_int(MAX_VOXELS_ENV)
    env_float(MAX_EXTENT_ENV)
    env_int("CROSSMODA_EVAL_WORKERS")


def check_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create ``path`` (and parents) if needed and check a file can be created in it.

    Call it before the work starts, so an unusable output folder is found in a second, not
    after an hour of scoring.

    Raises:
        UsageError: a parent is a file, the folder is a file, or it is not writable.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{what} {p} exists and is not a folder")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{what} {p} cannot be created: {parent} is a file")
            break
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-check-"):
            pass
    except OSError as err:
        raise UsageError(f"{what} {p} is not writable ({err.strerror or err})") from None
    return p
