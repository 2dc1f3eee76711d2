"""Provenance recorded in every output file: package version, git commit, resolved config."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from crossmoda import __version__

__all__ = [
    "git_commit", "creation_time", "provenance", "to_jsonable", "publish_atomic", "write_json_atomic",
    "write_text_atomic",
]


def git_commit(start: str | Path | None = None) -> str | None:
    """The git commit of the package checkout (``CROSSMODA_GIT_COMMIT`` wins), or ``None``."""
    env = os.environ.get("CROSSMODA_GIT_COMMIT")
    if env:
        return env
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def creation_time() -> str:
    """Now (UTC, ISO 8601), or the time in ``SOURCE_DATE_EPOCH`` when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.now(timezone.utc) if not epoch else datetime.fromtimestamp(int(epoch), timezone.utc)
    return when.isoformat(timespec="seconds")


def provenance(tool: str, config: Any = None, *, created: bool = True) -> dict[str, Any]:
    """The provenance block: tool, version, commit, time (UTC; see :func:`creation_time`; left
    out with ``created=False`` so that the same inputs give the same bytes), python, and config."""
    block: dict[str, Any] = {"tool": tool, "version": __version__, "git_commit": git_commit()}
    if created:
        block["created"] = creation_time()
    block.update({"python": platform.python_version(), "config": to_jsonable(config)})
    return block


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, paths, numpy scalars/arrays and mappings into JSON-ready values.

    Non-finite floats raise ``ValueError``: JSON cannot hold them.
    """
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        if not np.isfinite(obj):
            raise ValueError(f"non-finite value {obj!r} cannot go into JSON")
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_atomic(path: str | Path, write: Callable[[str], object], suffix: str | None = None) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temporary file beside it, then a rename.

    The file gets the usual permissions (``0o666 & ~umask``), not ``mkstemp``'s private 0600,
    so outputs written inside a container stay readable by other users. Nothing is left behind
    when ``write`` fails.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ext = p.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=ext, dir=p.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    return publish_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as strict JSON (no NaN/Infinity), atomically."""
    text = json.dumps(to_jsonable(data), indent=2, allow_nan=False, sort_keys=False)
    return write_text_atomic(path, text + "\n")
