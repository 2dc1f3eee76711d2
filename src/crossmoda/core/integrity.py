"""Check that an image file holds all the voxel data its header declares.

ITK fills the missing part of a truncated integer image with zeros (or garbage) without an
error, so every image read is checked here first: the number of data bytes the header implies
(voxels x bytes per voxel) is compared with what the file holds (raw) or what its compressed
stream decompresses to. Decompression stops at the expected length, so the check never
inflates more than the header (already capped by the voxel limit) declares.

Formats: NIfTI-1/2 (``.nii``, ``.nii.gz``) and MetaImage (``.mha``, ``.mhd`` with a raw or
compressed data file). The data length of ``.nrrd`` files is left to ITK's reader; an untrusted
NRRD header that names a separate data file is refused.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from crossmoda.core.errors import ImageReadError
from crossmoda.core.untrusted import open_untrusted

__all__ = ["check_image_data", "MAX_HEADER_BYTES"]

MAX_HEADER_BYTES = 64 * 1024
"""Largest MetaImage text header read (bytes)."""

_CHUNK = 1 << 22
_OUT_CHUNK = 1 << 24
_TRAILING = 1 << 20
"""Decompressed bytes read past the declared data to reach the end of a compressed stream (its
checksum); a stream with more trailing data than this is not followed further."""
_MET_SIZES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}

Opener = Callable[[Path], AbstractContextManager[BinaryIO]]


def _plain_open(path: Path) -> AbstractContextManager[BinaryIO]:
    return open(path, "rb")


def _untrusted_open(path: Path) -> AbstractContextManager[BinaryIO]:
    return open_untrusted(path)


def check_image_data(path: Path, *, untrusted: bool = False) -> None:
    """Raise :class:`ImageReadError` when ``path``'s voxel data is shorter than its header says.

    With ``untrusted``, files are opened through :mod:`crossmoda.core.untrusted` (no links, no
    special files) and a MetaImage header may only name a data file by a plain name in its own
    folder.
    """
    opener: Opener = _untrusted_open if untrusted else _plain_open
    name = path.name.lower()
    try:
        if name.endswith(".nii.gz"):
            _check_nifti(path, opener, compressed=True)
        elif name.endswith(".nii"):
            _check_nifti(path, opener, compressed=False)
        elif name.endswith((".mha", ".mhd")):
            _check_meta(path, opener, untrusted)
        elif name.endswith((".nrrd", ".nhdr")) and untrusted:
            _check_nrrd_detached(path, opener)
    except (OSError, EOFError, zlib.error, struct.error) as err:
        raise ImageReadError(path, f"truncated or corrupt image data ({type(err).__name__}: {err})") from None


def _count(stream: BinaryIO, limit: int) -> int:
    """Bytes readable from ``stream``, reading at most ``limit``."""
    total = 0
    while total < limit:
        chunk = stream.read(min(_CHUNK, limit - total))
        if not chunk:
            break
        total += len(chunk)
    return total


def _nifti_layout(header: bytes, path: Path) -> tuple[int, int]:
    """(data offset, data bytes) of a NIfTI-1 or NIfTI-2 header (either byte order)."""
    for endian in ("<", ">"):
        sizeof_hdr = struct.unpack(endian + "i", header[:4])[0]
        if sizeof_hdr == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = max(int(struct.unpack(endian + "f", header[108:112])[0]), 352)
            break
        if sizeof_hdr == 540:
            if len(header) < 540:
                raise ImageReadError(path, "truncated NIfTI-2 header")
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = max(int(struct.unpack(endian + "q", header[168:176])[0]), 544)
            break
    else:
        raise ImageReadError(path, "not a NIfTI-1/2 header")
    ndim = int(dims[0])
    if not 1 <= ndim <= 7 or bitpix <= 0 or bitpix % 8:
        raise ImageReadError(path, f"invalid NIfTI header (dim[0] {ndim}, bitpix {bitpix})")
    n_voxels = 1
    for d in dims[1 : ndim + 1]:
        n_voxels *= max(int(d), 1)
    return offset, n_voxels * bitpix // 8


def _check_nifti(path: Path, opener: Opener, *, compressed: bool) -> None:
    with opener(path) as handle:
        inflater = _Inflater(handle) if compressed else None
        head = inflater.read(540) if inflater is not None else handle.read(540)
        if len(head) < 348:
            raise ImageReadError(path, f"truncated NIfTI header ({len(head)} bytes)")
        offset, nbytes = _nifti_layout(head, path)
        need = offset + nbytes
        if inflater is not None:
            have = len(head) + inflater.count(need + _TRAILING - len(head))
        else:
            have = len(head) + _count(handle, max(need - len(head), 0))
    if have < need:
        raise ImageReadError(
            path, f"truncated image data: the header declares {nbytes} data bytes at offset {offset}, "
                  f"the file holds {max(have - offset, 0)}"
        )


def _check_nrrd_detached(path: Path, opener: Opener) -> None:
    with opener(path) as handle:
        for _ in range(1000):
            line = handle.readline(4096)
            if not line.strip():
                return
            key = line.decode("latin-1").split(":", 1)[0].strip().lower()
            if key in ("data file", "datafile"):
                raise ImageReadError(path, "NRRD header names a separate data file; not read")


def _meta_header(handle: BinaryIO, path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    consumed = 0
    while True:
        line = handle.readline(4096)
        if not line:
            raise ImageReadError(path, "MetaImage header without ElementDataFile")
        consumed += len(line)
        if consumed > MAX_HEADER_BYTES:
            raise ImageReadError(path, f"MetaImage header longer than {MAX_HEADER_BYTES} bytes")
        key, sep, value = line.decode("latin-1").partition("=")
        if not sep:
            continue
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            return fields


def _check_meta(path: Path, opener: Opener, untrusted: bool) -> None:
    with opener(path) as handle:
        fields = _meta_header(handle, path)
        try:
            dims = [int(v) for v in fields.get("DimSize", "").split()]
            channels = int(fields.get("ElementNumberOfChannels", "1"))
        except ValueError:
            raise ImageReadError(path, "MetaImage header with a non-integer DimSize") from None
        size = _MET_SIZES.get(fields.get("ElementType", ""))
        if not dims or size is None or min(dims) < 1 or channels < 1:
            raise ImageReadError(path, f"invalid MetaImage header (DimSize {dims}, "
                                       f"ElementType {fields.get('ElementType')!r})")
        nbytes = size * channels
        for d in dims:
            nbytes *= d
        compressed = fields.get("CompressedData", "False").lower() == "true"
        data_file = fields["ElementDataFile"]
        if data_file.upper() == "LOCAL":
            have = _data_bytes(handle, nbytes, compressed)
        else:
            if untrusted and (Path(data_file).name != data_file or data_file in (".", "..")):
                raise ImageReadError(path, f"MetaImage data file {data_file!r} is not a plain name in "
                                           "the header's folder")
            if data_file.upper() == "LIST" or "%" in data_file:
                raise ImageReadError(path, f"MetaImage data file list {data_file!r} is not supported")
            with opener(path.parent / data_file) as data:
                skip = int(fields.get("HeaderSize", "0") or 0)
                if skip > 0:
                    data.seek(skip)
                elif skip == -1 and not compressed:
                    data.seek(max(os.fstat(data.fileno()).st_size - nbytes, 0))
                have = _data_bytes(data, nbytes, compressed)
    if have < nbytes:
        raise ImageReadError(path, f"truncated image data: the header declares {nbytes} data bytes "
                                   f"({'x'.join(map(str, dims))} voxels), the file holds {have}")


def _data_bytes(handle: BinaryIO, expected: int, compressed: bool) -> int:
    """Bytes of voxel data available from the current position (decompressed when needed)."""
    if not compressed:
        return _count(handle, expected)
    return _Inflater(handle).count(expected + _TRAILING)


class _Inflater:
    """Decompress a zlib or gzip stream (several gzip members allowed) in bounded chunks; a
    stream that ends before its end marker and checksum raises ``EOFError``."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.inflater = zlib.decompressobj(47)  # zlib or gzip header, as ITK and MetaIO accept
        self.pending = b""
        self.done = False

    def _next(self, limit: int) -> bytes:
        while not self.done:
            if self.inflater.unconsumed_tail:
                data = self.inflater.unconsumed_tail
            elif self.pending:
                data, self.pending = self.pending, b""
            else:
                data = self.handle.read(_CHUNK)
                if not data:
                    raise EOFError("compressed stream ends before its end marker and checksum")
            out = self.inflater.decompress(data, min(_OUT_CHUNK, limit))
            if self.inflater.eof:
                self.pending = self.inflater.unused_data or self.handle.read(_CHUNK)
                if self.pending:
                    self.inflater = zlib.decompressobj(47)  # next gzip member
                else:
                    self.done = True
            if out:
                return out
        return b""

    def read(self, size: int) -> bytes:
        """The next ``size`` decompressed bytes (fewer at the end of the stream)."""
        parts: list[bytes] = []
        got = 0
        while got < size:
            chunk = self._next(size - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def count(self, limit: int) -> int:
        """Decompressed bytes that follow, counting at most ``limit`` (output is discarded)."""
        got = 0
        while got < limit:
            chunk = self._next(limit - got)
            if not chunk:
                break
            got += len(chunk)
        return got
