"""Image IO with SimpleITK that keeps the full geometry and rejects bad input with typed errors.

Arrays are in SimpleITK's numpy order ``(z, y, x)``; :attr:`Geometry.spacing_mm` gives the
voxel spacing in that same array order, taken from the header (never from an affine diagonal,
which is wrong for oblique images).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from crossmoda.core.errors import (
    DimensionError,
    GeometryMismatchError,
    ImageReadError,
    ImageTooLargeError,
    LabelValueError,
    NonFiniteError,
)
from crossmoda.core.integrity import check_image_data
from crossmoda.core.labels import LabelMap
from crossmoda.core.provenance import publish_atomic
from crossmoda.core.untrusted import UntrustedFileError, check_untrusted_file

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "DEFAULT_MAX_EXTENT_MM",
    "MAX_VOXELS_ENV",
    "MAX_EXTENT_ENV",
    "Geometry",
    "compare_geometry",
    "check_same_geometry",
    "read_image",
    "read_array",
    "read_label_map",
    "array_to_image",
    "write_image",
    "write_label_map",
    "write_label_map_like",
]

MAX_VOXELS_ENV = "CROSSMODA_MAX_VOXELS"
MAX_EXTENT_ENV = "CROSSMODA_MAX_EXTENT_MM"


def _env_number(name: str, default: float) -> float:
    """A positive number from the environment, else ``default`` (bad values are reported by the
    command-line tools, :func:`crossmoda.core.cli.check_environment`, before any work)."""
    try:
        value = float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default
    return value if np.isfinite(value) and value > 0 else default


DEFAULT_MAX_VOXELS = int(_env_number(MAX_VOXELS_ENV, 1024 * 1024 * 512))
"""Default voxel cap (512 Mi voxels); ``CROSSMODA_MAX_VOXELS`` overrides it."""

DEFAULT_MAX_EXTENT_MM = _env_number(MAX_EXTENT_ENV, 1000.0)
"""Largest physical extent of an image along any axis (mm); ``CROSSMODA_MAX_EXTENT_MM`` overrides
it. A head MRI spans about 250 mm; an absurd spacing (50 mm voxels) would make every grid
resampled over the image's extent allocate tens of GB, so such headers are refused on reading."""


@dataclass(frozen=True)
class Geometry:
    """The physical grid of a 3D image, in SimpleITK (x, y, z) order.

    Attributes:
        size: Voxels along x, y, z.
        spacing: Voxel spacing in mm along x, y, z (header values).
        origin: World position of voxel (0, 0, 0) in mm (LPS, as ITK).
        direction: Row-major 3x3 direction cosine matrix.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    @classmethod
    def from_image(cls, image: sitk.Image | sitk.ImageFileReader) -> Geometry:
        """Geometry of an image (or of a reader after ``ReadImageInformation``)."""
        size = tuple(int(s) for s in image.GetSize())
        if len(size) != 3:
            raise ValueError(f"geometry needs a 3D image, got size {size}")
        return cls(
            size=(size[0], size[1], size[2]),
            spacing=tuple(float(s) for s in image.GetSpacing()),  # type: ignore[arg-type]
            origin=tuple(float(o) for o in image.GetOrigin()),  # type: ignore[arg-type]
            direction=tuple(float(d) for d in image.GetDirection()),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Numpy array shape ``(z, y, x)``."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Spacing in mm in numpy array order ``(z, y, x)``; pass this to metrics."""
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return float(np.prod(self.spacing))

    def apply(self, image: sitk.Image) -> sitk.Image:
        """Set spacing, origin and direction of ``image`` (same size required) and return it."""
        if tuple(image.GetSize()) != self.size:
            raise ValueError(f"image size {image.GetSize()} != geometry size {self.size}")
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "size": list(self.size),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": list(self.direction),
        }


def compare_geometry(
    a: Geometry, b: Geometry, *, spacing_tol: float = 1e-4, origin_tol_mm: float = 1e-3,
    direction_tol: float = 1e-4,
) -> list[str]:
    """List every difference between two geometries beyond tolerance (empty when equal).

    Spacing is compared relatively, origin absolutely in mm, direction element-wise.
    """
    diffs: list[str] = []
    if a.size != b.size:
        diffs.append(f"size {a.size} != {b.size}")
    for axis, (sa, sb) in enumerate(zip(a.spacing, b.spacing, strict=True)):
        if abs(sa - sb) > spacing_tol * max(abs(sa), abs(sb), 1e-12):
            diffs.append(f"spacing[{'xyz'[axis]}] {sa:.6g} != {sb:.6g} mm")
    for axis, (oa, ob) in enumerate(zip(a.origin, b.origin, strict=True)):
        if abs(oa - ob) > origin_tol_mm:
            diffs.append(f"origin[{'xyz'[axis]}] {oa:.6g} != {ob:.6g} mm")
    da, db = np.asarray(a.direction), np.asarray(b.direction)
    if da.shape != db.shape or np.max(np.abs(da - db)) > direction_tol:
        diffs.append(f"direction {np.round(da, 6).tolist()} != {np.round(db, 6).tolist()}")
    return diffs


def check_same_geometry(
    image: Geometry, reference: Geometry, path: str | Path | None = None, **tolerances: float
) -> None:
    """Raise :class:`GeometryMismatchError` naming every difference of ``image`` from ``reference``."""
    diffs = compare_geometry(image, reference, **tolerances)
    if diffs:
        raise GeometryMismatchError(path, "geometry differs from reference: " + "; ".join(diffs))


def read_image(
    path: str | Path, *, max_voxels: int = DEFAULT_MAX_VOXELS, allow_nonfinite: bool = False,
    untrusted: bool = False, max_extent_mm: float = DEFAULT_MAX_EXTENT_MM,
) -> sitk.Image:
    """Read a 3D scalar image (``.nii``, ``.nii.gz``, ``.mha``, ``.nrrd``), validating it.

    The header is read first, so the voxel cap and the extent bound apply before any pixel
    data is decompressed. The data length is then checked against the header for every voxel
    type (:func:`crossmoda.core.integrity.check_image_data`): a truncated file is an error, never
    an image padded with zeros. With ``untrusted`` (a file a submission controls), a symbolic
    link or special file is refused without being read (:mod:`crossmoda.core.untrusted`).

    Raises:
        ImageReadError: missing, unreadable, truncated or unsupported file; with ``untrusted``,
            a link or special file.
        DimensionError: not a 3D scalar image.
        ImageTooLargeError: more voxels than ``max_voxels``, or a physical extent (size x
            spacing) beyond ``max_extent_mm`` along an axis.
        NonFiniteError: NaN/Inf voxels (unless ``allow_nonfinite``).
    """
    p = Path(path)
    if untrusted:
        try:
            check_untrusted_file(p)
        except UntrustedFileError as err:
            raise ImageReadError(p, err.problem) from None
    elif not p.is_file():
        raise ImageReadError(p, "file not found")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageReadError(p, f"cannot read image header ({_first_line(err)})") from None
    size = tuple(reader.GetSize())
    if reader.GetDimension() != 3 or len(size) != 3:
        raise DimensionError(p, f"expected a 3D image, got {reader.GetDimension()}D size {size}")
    if reader.GetNumberOfComponents() != 1:
        raise DimensionError(
            p, f"expected a scalar image, got {reader.GetNumberOfComponents()} components per voxel"
        )
    n_voxels = int(np.prod(size, dtype=np.int64))
    if n_voxels > max_voxels:
        raise ImageTooLargeError(p, f"{n_voxels} voxels {size} exceed the cap of {max_voxels}")
    if min(size) < 1:
        raise DimensionError(p, f"empty image of size {size}")
    spacing = tuple(float(v) for v in reader.GetSpacing())
    if not all(np.isfinite(v) and v > 0 for v in spacing):
        raise ImageReadError(p, f"invalid voxel spacing {spacing} mm (must be finite and > 0)")
    extent = [n * v for n, v in zip(size, spacing, strict=True)]
    if max(extent) > max_extent_mm:
        raise ImageTooLargeError(
            p, f"physical extent {'x'.join(f'{e:.0f}' for e in extent)} mm (size {size}, spacing "
               f"{spacing} mm) exceeds {max_extent_mm:g} mm along an axis"
        )
    check_image_data(p, untrusted=untrusted)
    try:
        image = reader.Execute()
    except RuntimeError as err:
        raise ImageReadError(
            p, f"cannot read voxel data, truncated or corrupt ({_first_line(err)})"
        ) from None
    if not allow_nonfinite and image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        bad = _count_nonfinite(p, image)
        if bad:
            raise NonFiniteError(p, f"{bad} non-finite (NaN or infinite) voxels")
    return image


def _count_nonfinite(path: Path, image: sitk.Image) -> int:
    """Non-finite voxels of a float image. ITK's NIfTI reader silently turns NaN into 0, so
    NIfTI files are checked on their raw data with nibabel."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        import nibabel as nib

        try:
            raw = np.asanyarray(nib.load(str(path)).dataobj)  # type: ignore[attr-defined]
        except Exception as err:  # any nibabel failure means the file is unreadable
            raise ImageReadError(path, f"cannot read voxel data ({err})") from None
        return int(raw.size - np.count_nonzero(np.isfinite(raw)))
    view = sitk.GetArrayViewFromImage(image)
    return int(view.size - np.count_nonzero(np.isfinite(view)))


def read_array(
    path: str | Path, *, max_voxels: int = DEFAULT_MAX_VOXELS, dtype: npt.DTypeLike | None = None,
    untrusted: bool = False,
) -> tuple[npt.NDArray[Any], Geometry]:
    """Read an image as a ``(z, y, x)`` array and its geometry (validated as :func:`read_image`)."""
    image = read_image(path, max_voxels=max_voxels, untrusted=untrusted)
    array = sitk.GetArrayFromImage(image)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array, Geometry.from_image(image)


def read_label_map(
    path: str | Path, label_map: LabelMap, *, max_voxels: int = DEFAULT_MAX_VOXELS
) -> tuple[npt.NDArray[np.uint8], Geometry]:
    """Read a label image, check its values against ``label_map``; return ``uint8 (z, y, x)``.

    Float label images are accepted when every value is an integer.

    Raises:
        LabelValueError: non-integer values or values outside the label map.
        (and the errors of :func:`read_image`)
    """
    array, geometry = read_array(path, max_voxels=max_voxels)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.array_equal(array, np.round(array)):
            raise LabelValueError(path, "label image holds non-integer values")
    invalid = label_map.invalid_values(array)
    if invalid:
        raise LabelValueError(
            path,
            f"values {invalid[:10]} are not in label map {label_map.name!r} "
            f"(allowed {sorted(label_map.allowed_values)})",
        )
    return array.astype(np.uint8, copy=False), geometry


def array_to_image(array: npt.NDArray[Any], geometry: Geometry) -> sitk.Image:
    """A SimpleITK image of ``array`` (``(z, y, x)``) placed on ``geometry``."""
    if tuple(array.shape) != geometry.shape:
        raise ValueError(f"array shape {array.shape} != geometry shape (z, y, x) {geometry.shape}")
    return geometry.apply(sitk.GetImageFromArray(np.ascontiguousarray(array)))


def write_image(
    image: sitk.Image | npt.NDArray[Any], path: str | Path, geometry: Geometry | None = None,
    *, compress: bool = True,
) -> Path:
    """Write an image atomically (temporary file then rename); arrays need a ``geometry``."""
    if isinstance(image, np.ndarray):
        if geometry is None:
            raise ValueError("writing an array needs its geometry")
        image = array_to_image(image, geometry)
    elif geometry is not None:
        image = geometry.apply(sitk.Image(image))
    p = Path(path)
    _, ext = _split_ext(p.name)
    itk_image = image
    return publish_atomic(p, lambda tmp: sitk.WriteImage(itk_image, tmp, useCompression=compress), ext)


def write_label_map(
    labels: npt.NDArray[np.integer], reference: Geometry | sitk.Image, path: str | Path,
    label_map: LabelMap | None = None,
) -> Path:
    """Write a ``uint8`` label map on the reference's exact geometry, compressed.

    Raises:
        LabelValueError: when ``label_map`` is given and ``labels`` holds other values.
    """
    geometry = reference if isinstance(reference, Geometry) else Geometry.from_image(reference)
    if label_map is not None:
        invalid = label_map.invalid_values(labels)
        if invalid:
            raise LabelValueError(path, f"refusing to write values {invalid} outside {label_map.name!r}")
    return write_image(np.asarray(labels, dtype=np.uint8), path, geometry, compress=True)


def write_label_map_like(
    labels: npt.NDArray[np.integer], reference_path: str | Path, path: str | Path,
    label_map: LabelMap | None = None,
) -> Path:
    """Write a label map on the geometry of the image file ``reference_path``, bit-exactly.

    NIfTI stores the direction as a float32 quaternion, so a direction read by ITK does not
    survive a write/read cycle bit for bit. For a NIfTI reference and NIfTI output the reference's
    header (qform, sform, pixdim) is copied with nibabel instead, so the output's geometry reads
    back identical to the input's. Other formats go through :func:`write_label_map`.
    """
    ref, out = Path(reference_path), Path(path)
    nifti = (".nii", ".nii.gz")
    if not (ref.name.lower().endswith(nifti) and out.name.lower().endswith(nifti)):
        return write_label_map(labels, read_image(ref, allow_nonfinite=True), out, label_map)
    import nibabel as nib

    if label_map is not None:
        invalid = label_map.invalid_values(labels)
        if invalid:
            raise LabelValueError(out, f"refusing to write values {invalid} outside {label_map.name!r}")
    header: Any = nib.load(str(ref)).header.copy()  # type: ignore[attr-defined]
    data = np.asarray(labels, dtype=np.uint8).transpose(2, 1, 0)  # (z, y, x) -> NIfTI (x, y, z)
    if tuple(header.get_data_shape()[:3]) != data.shape:
        raise ValueError(f"labels (x, y, z) {data.shape} != reference {header.get_data_shape()}")
    header.set_data_dtype(np.uint8)
    header.set_slope_inter(1.0, 0.0)
    image = nib.Nifti1Image(data, None, header=header)
    image.set_qform(header.get_qform(), int(header["qform_code"]))
    image.set_sform(header.get_sform(), int(header["sform_code"]))
    _, ext = _split_ext(out.name)
    return publish_atomic(out, lambda tmp: nib.save(image, tmp), ext)


def _split_ext(name: str) -> tuple[str, str]:
    lower = name.lower()
    for ext in (".nii.gz", ".nii", ".mha", ".nrrd", ".nhdr", ".mhd"):
        if lower.endswith(ext):
            return name[: -len(ext)], name[-len(ext) :]
    raise ValueError(f"{name!r}: unsupported image extension")


def _first_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "ERROR" in ln.upper() or "exception" in ln.lower()]
    return (useful or lines or ["unknown error"])[-1][:300]
