"""The one place that opens files a submission controls.

A folder named by the organiser (on the command line, in a config) may itself be a symbolic
link; its *entries* are untrusted: a team writes them. Policy:

* never follow a symbolic link (``O_NOFOLLOW``; a link is refused, not resolved),
* never open a special file (FIFO, device, socket): opened with ``O_NONBLOCK`` so a FIFO
  cannot block, then ``fstat`` must say "regular file",
* never read outside the folder (entries are listed with ``os.scandir`` of the folder itself,
  names with a path separator or ``..`` are refused),
* byte caps are enforced while reading or copying, never trusted from a header or ``stat``.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from crossmoda.core.errors import CrossmodaError

__all__ = [
    "UntrustedFileError",
    "CopyReport",
    "list_untrusted",
    "open_untrusted",
    "read_untrusted_bytes",
    "check_untrusted_file",
    "copy_untrusted_tree",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


class UntrustedFileError(CrossmodaError):
    """A submission-controlled path was refused (symlink, not a regular file, outside the
    folder, too large, unreadable). ``path`` names the file, ``problem`` the reason."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _refusal(mode: int) -> str:
    kind = _kind(mode)
    if kind == "a symbolic link":
        return "is a symbolic link (links are never followed)"
    if kind == "not a regular file":
        return "is not a regular file"
    return f"is {kind}, not a regular file"


def list_untrusted(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Regular files directly in ``folder`` (sorted) and the refused entries with reasons.

    ``folder`` itself may be a symbolic link (it is the organiser's). Entries are judged with
    ``lstat`` (never followed): links, folders, FIFOs, devices and sockets are refused.
    Hidden entries (``.name``) are refused too, with the reason "hidden".

    Raises:
        UntrustedFileError: ``folder`` is not a directory or cannot be listed.
    """
    root = Path(folder)
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        raise UntrustedFileError(root, "folder not found") from None
    except NotADirectoryError:
        raise UntrustedFileError(root, "not a directory") from None
    except OSError as err:
        raise UntrustedFileError(root, f"cannot list folder ({err.strerror})") from None
    files: list[Path] = []
    refused: list[tuple[Path, str]] = []
    for entry in entries:
        path = root / entry.name
        if entry.name.startswith("."):
            refused.append((path, "hidden"))
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as err:
            refused.append((path, f"cannot stat ({err.strerror})"))
            continue
        if stat.S_ISREG(mode):
            files.append(path)
        else:
            refused.append((path, _refusal(mode)))
    return files, refused


def open_untrusted(path: Path, max_bytes: int | None = None) -> BinaryIO:
    """Open a submission-controlled file for binary reading, refusing anything but a regular file.

    The last path component is opened with ``O_NOFOLLOW`` (a link raises) and ``O_NONBLOCK``
    (a FIFO cannot hang the reader); ``fstat`` of the open descriptor must be a regular file.
    With ``max_bytes``, a file larger than that is refused (its size is read from the open
    descriptor, so it cannot change between check and read).

    Raises:
        UntrustedFileError: link, special file, missing, unreadable or too large.
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise UntrustedFileError(p, "file not found") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UntrustedFileError(p, "is a symbolic link (links are never followed)") from None
        if err.errno in (errno.ENXIO, errno.EISDIR):
            try:
                mode = os.lstat(p).st_mode
            except OSError:
                mode = 0
            raise UntrustedFileError(p, _refusal(mode)) from None
        raise UntrustedFileError(p, f"cannot open ({err.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedFileError(p, _refusal(st.st_mode))
        if max_bytes is not None and st.st_size > max_bytes:
            raise UntrustedFileError(p, f"{st.st_size} bytes exceed the cap of {max_bytes} bytes")
        # Back to blocking mode: regular files never block, but callers may expect it.
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_untrusted_bytes(path: Path, max_bytes: int) -> bytes:
    """The whole content of a submission-controlled regular file, at most ``max_bytes`` bytes.

    The cap is enforced on what is read too (a file that grows after opening is refused).

    Raises:
        UntrustedFileError: as :func:`open_untrusted`, or more than ``max_bytes`` bytes.
    """
    with open_untrusted(path, max_bytes=max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UntrustedFileError(Path(path), f"more than the cap of {max_bytes} bytes")
    return data


def check_untrusted_file(path: Path) -> None:
    """Raise :class:`UntrustedFileError` unless ``path`` opens as a regular file without
    following a link (use before handing the path to a library that opens it by name)."""
    with open_untrusted(path):
        pass


@dataclass
class CopyReport:
    """What :func:`copy_untrusted_tree` did.

    Attributes:
        copied: Copied files, relative to the source folder.
        refused: Entries not copied (relative path, reason): links, special files, the file
            that crossed the byte cap, unreadable entries.
        bytes: Bytes copied (the partially copied file that crossed the cap is removed and not
            counted).
        over_cap: True when the byte cap stopped the copy; the copy is then incomplete.
    """

    copied: list[Path] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    bytes: int = 0
    over_cap: bool = False


def copy_untrusted_tree(src: Path, dst: Path, max_total_bytes: int) -> CopyReport:
    """Copy regular files and folders of ``src`` into ``dst`` (created), never following a link.

    ``dst`` should be new or empty (files are created exclusively, never overwritten).
    ``src`` itself may be a link (the organiser's). Inside it, links, FIFOs, devices and sockets
    are refused and reported; folders are walked without following links (``lstat``). The copy
    stops as soon as ``max_total_bytes`` would be exceeded (counted on the bytes actually read),
    marking ``over_cap``. Files in ``dst`` are new files owned by the calling user with mode
    0o644 (folders 0o755): no ownership, permission bits or set-uid flags are carried over.

    Raises:
        UntrustedFileError: ``src`` is not a directory.
    """
    if max_total_bytes < 0:
        raise ValueError(f"max_total_bytes must be >= 0, got {max_total_bytes}")
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise UntrustedFileError(src, "not a directory")
    report = CopyReport()
    dst.mkdir(parents=True, exist_ok=True)
    _copy_dir(src, dst, Path(), report, max_total_bytes)
    if report.over_cap:
        logger.warning("%s: copy stopped at the cap of %d bytes", src, max_total_bytes)
    return report


def _copy_dir(src: Path, dst: Path, rel: Path, report: CopyReport, cap: int) -> None:
    try:
        entries = sorted(os.scandir(src / rel), key=lambda e: e.name)
    except OSError as err:
        report.refused.append((rel, f"cannot list folder ({err.strerror})"))
        return
    for entry in entries:
        if report.over_cap:
            return
        item = rel / entry.name
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as err:
            report.refused.append((item, f"cannot stat ({err.strerror})"))
            continue
        if stat.S_ISDIR(mode):
            (dst / item).mkdir(mode=0o755, exist_ok=True)
            _copy_dir(src, dst, item, report, cap)
        elif stat.S_ISREG(mode):
            _copy_file(src / item, dst / item, item, report, cap)
        else:
            report.refused.append((item, _refusal(mode)))


def _copy_file(source: Path, target: Path, item: Path, report: CopyReport, cap: int) -> None:
    try:
        handle = open_untrusted(source)
    except UntrustedFileError as err:
        report.refused.append((item, err.problem))
        return
    written = 0
    with handle:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as err:
            report.refused.append((item, f"cannot create the copy ({err.strerror})"))
            return
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = handle.read(min(_CHUNK, cap - report.bytes - written + 1))
                if not chunk:
                    break
                if report.bytes + written + len(chunk) > cap:
                    report.over_cap = True
                    break
                out.write(chunk)
                written += len(chunk)
    if report.over_cap:
        target.unlink(missing_ok=True)
        report.refused.append((item, f"copy stopped: the output exceeds the cap of {cap} bytes"))
        return
    report.bytes += written
    report.copied.append(item)
