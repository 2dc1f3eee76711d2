"""One mechanism for the chain's stages: skip when done, resume, finish; rank-aware.

A stage owns ``RUN/<name>/``; ``done.json`` there marks it finished (its content is the stage's
summary). Interrupted stages resume from their own checkpoints (the training loops keep them).
Under ``torch.distributed`` every rank runs the stage's training; only rank 0 writes the model
folder, validates and writes ``done.json``, and the other ranks wait at a barrier. Whether a stage
is done is decided by rank 0 (:func:`from_main`), so every rank takes the same branch even when a
file appears between two ranks' looks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from crossmoda.algorithm.training.distributed import barrier, broadcast_from_main, is_main
from crossmoda.core.provenance import write_json_atomic

__all__ = ["DONE_FILE", "stage_done", "run_stage", "on_main", "from_main"]

logger = logging.getLogger(__name__)

DONE_FILE = "done.json"

T = TypeVar("T")


def stage_done(stage_dir: Path) -> dict[str, Any] | None:
    """The summary of a finished stage, or ``None`` when it has not finished."""
    marker = stage_dir / DONE_FILE
    return dict(json.loads(marker.read_text(encoding="utf-8"))) if marker.is_file() else None


def on_main(step: Callable[[], Any]) -> Any:
    """Run ``step`` on rank 0 only (``None`` elsewhere), then hold every rank at a barrier."""
    result = step() if is_main() else None
    barrier()
    return result


def from_main(look: Callable[[], T]) -> T:
    """``look()`` as rank 0 sees it, on every rank (``look()`` single-process)."""
    return cast(T, broadcast_from_main(look() if is_main() else None))


def run_stage(run_dir: Path, name: str, body: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body(RUN/<name>)`` unless the stage is done, then record its summary in ``done.json``.

    ``body`` runs on every rank; it must write shared files through :func:`on_main`.
    """
    stage_dir = run_dir / name
    info = from_main(lambda: stage_done(stage_dir))
    if info is not None:
        logger.info("%s: done, skipping", name)
        return info
    stage_dir.mkdir(parents=True, exist_ok=True)
    info = body(stage_dir)
    on_main(lambda: write_json_atomic(stage_dir / DONE_FILE, info))
    return info
