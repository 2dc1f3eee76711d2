"""What a team container leaves behind: its /output, copied out safely, and its logs, bounded.

A container writes into a *staging* folder (mounted at ``/output``), owned by whatever user the
image runs as. The runner never reads it in place: :func:`collect_output` copies its regular
files into the team's ``output`` folder with :func:`~crossmoda.core.untrusted.copy_untrusted_tree`
(links, FIFOs and devices refused, a byte cap enforced while copying), then the staging folder is
removed with :func:`remove_tree`, which never fails a rerun on files the organiser cannot delete
(they are handed to a cleaner, else moved aside into ``<work>/.trash``).
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crossmoda.core.untrusted import UntrustedFileError, copy_untrusted_tree

__all__ = ["OutputReport", "collect_output", "remove_tree", "tail_bytes", "BoundedLog", "count_images"]

logger = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".nii.gz", ".nii", ".mha")


def count_images(paths: Iterable[Path]) -> int:
    """Number of ``.nii.gz``, ``.nii`` or ``.mha`` names among ``paths``."""
    return sum(1 for p in paths if p.name.lower().endswith(OUTPUT_SUFFIXES))


@dataclass
class OutputReport:
    """Result of copying one container's output.

    Attributes:
        n_images: Images copied.
        bytes: Bytes copied.
        over_cap: The output exceeded the cap; the copy is incomplete.
        refused: ``"<relative path>: <reason>"`` for every entry not copied (links, special files).
    """

    n_images: int = 0
    bytes: int = 0
    over_cap: bool = False
    refused: list[str] = field(default_factory=list)


def collect_output(staging: Path, output: Path, max_bytes: int) -> OutputReport:
    """Copy the regular files of ``staging`` into ``output`` (created), at most ``max_bytes``.

    Never follows a link and never raises for what the container wrote; a missing staging
    folder is an empty output.
    """
    output.mkdir(parents=True, exist_ok=True)
    if not staging.is_dir() or staging.is_symlink():
        return OutputReport()
    try:
        copy = copy_untrusted_tree(staging, output, max_bytes)
    except UntrustedFileError as err:
        return OutputReport(refused=[f".: {err}"])
    refused = [f"{path}: {reason}" for path, reason in copy.refused]
    for line in refused:
        logger.warning("%s: not copied: %s", staging, line)
    return OutputReport(n_images=count_images(copy.copied), bytes=copy.bytes, over_cap=copy.over_cap,
                        refused=refused)


def remove_tree(path: Path, trash: Path, cleaner: Callable[[Path], None] | None = None) -> None:
    """Remove ``path``; when files in it cannot be deleted (written by another user, e.g. a
    container's root), call ``cleaner(path)`` (e.g. a throwaway container that deletes as that
    user), and if it is still there, move it into ``trash`` with a warning. Never raises for
    permission problems inside ``path``; the name ``path`` is free afterwards.
    """
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    try:
        shutil.rmtree(path)
        return
    except OSError as err:
        logger.debug("rmtree %s: %s", path, err)
    if cleaner is not None:
        try:
            cleaner(path)
        except Exception as err:  # a cleaner is best effort; moving aside is the fallback
            logger.debug("cleaner for %s: %s", path, err)
        try:
            shutil.rmtree(path)
            return
        except OSError as err:
            logger.debug("rmtree after cleaner %s: %s", path, err)
    trash.mkdir(parents=True, exist_ok=True)
    target = trash / f"{path.name}-{uuid.uuid4().hex[:8]}"
    os.replace(path, target)
    logger.warning("could not delete files in %s (owned by another user); moved to %s", path, target)


def tail_bytes(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of file ``path`` (seeking, never reading the whole file)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        return handle.read(max_bytes)


class BoundedLog:
    """Keeps the last ``max_bytes`` of a stream fed in chunks (memory bounded by the cap plus
    one chunk)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        if len(chunk) > self.max_bytes:
            self.dropped += len(chunk) - self.max_bytes
            chunk = chunk[-self.max_bytes:]
        self._chunks.append(chunk)
        self._size += len(chunk)
        while self._size - len(self._chunks[0]) >= self.max_bytes:
            first = self._chunks.popleft()
            self._size -= len(first)
            self.dropped += len(first)

    def value(self) -> bytes:
        data = b"".join(self._chunks)
        return data[-self.max_bytes:]
