"""Typed errors for bad input. Every error names the offending file and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CrossmodaError",
    "ImageReadError",
    "DimensionError",
    "NonFiniteError",
    "LabelValueError",
    "ImageTooLargeError",
    "GeometryMismatchError",
    "CaseNameError",
    "KoosTableError",
]


class CrossmodaError(Exception):
    """Base class of every error raised for bad input by this package."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class ImageReadError(CrossmodaError):
    """The file is missing, unreadable, truncated or in an unsupported format."""


class DimensionError(CrossmodaError):
    """The image is not 3D (2D, 4D, or a vector image)."""


class NonFiniteError(CrossmodaError):
    """The image holds NaN or infinite voxels."""


class LabelValueError(CrossmodaError):
    """A label map holds values outside its label map (or non-integer values)."""


class ImageTooLargeError(CrossmodaError):
    """The header declares more voxels than the configured cap (decompression-bomb guard)."""


class GeometryMismatchError(CrossmodaError):
    """Two images do not share a grid within tolerance."""


class CaseNameError(CrossmodaError):
    """A file name does not follow the crossMoDA naming convention."""


class KoosTableError(CrossmodaError):
    """A Koos table is malformed (missing columns, bad grades, duplicate cases)."""
