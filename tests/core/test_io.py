"""Image IO: geometry-preserving round trips and typed errors for every kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from crossmoda.core.errors import (
    DimensionError,
    GeometryMismatchError,
    ImageReadError,
    ImageTooLargeError,
    LabelValueError,
    NonFiniteError,
)
from crossmoda.core.io import (
    Geometry,
    check_same_geometry,
    compare_geometry,
    read_array,
    read_image,
    read_label_map,
    write_image,
    write_label_map,
)
from crossmoda.core.labels import LABELS_2022, LABELS_2023


def _rotation(ax: float, ay: float, az: float) -> tuple[float, ...]:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return tuple(float(v) for v in (rz @ ry @ rx).ravel())


OBLIQUE = Geometry(
    size=(23, 17, 11),
    spacing=(0.41, 0.55, 1.5),
    origin=(-12.25, 33.5, -71.0),
    direction=_rotation(0.3, -0.2, 0.7),
)


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".mha", ".nrrd"])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8])
def test_oblique_round_trip_is_bit_identical(tmp_path: Path, ext: str, dtype: type) -> None:
    rng = np.random.default_rng(0)
    array = (rng.random(OBLIQUE.shape) * 100).astype(dtype)
    path = write_image(array, tmp_path / f"img{ext}", OBLIQUE)
    back, geometry = read_array(path)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    assert compare_geometry(geometry, OBLIQUE, spacing_tol=1e-6, origin_tol_mm=1e-5, direction_tol=1e-6) == []
    # the spacing comes from the header, in array (z, y, x) order, not from an affine diagonal
    assert geometry.spacing_mm == pytest.approx((1.5, 0.55, 0.41), rel=1e-6)


def test_label_map_written_on_reference_geometry(tmp_path: Path) -> None:
    reference = sitk.Image(list(OBLIQUE.size), sitk.sitkFloat32)
    OBLIQUE.apply(reference)
    labels = np.zeros(OBLIQUE.shape, np.uint8)
    labels[3:5, 4:9, 6:10] = 1
    labels[7, 2, 3] = 2
    path = write_label_map(labels, reference, tmp_path / "crossmoda2022_ldn_1_Label.nii.gz", LABELS_2022)
    with path.open("rb") as fh:
        assert fh.read(2) == b"\x1f\x8b", "label maps are written compressed"
    back, geometry = read_label_map(path, LABELS_2022)
    np.testing.assert_array_equal(back, labels)
    check_same_geometry(geometry, OBLIQUE)


def test_geometry_mismatch_names_every_difference() -> None:
    other = Geometry(size=(23, 17, 12), spacing=(0.41, 0.6, 1.5), origin=(-12.25, 33.5, -70.0),
                     direction=OBLIQUE.direction)
    diffs = compare_geometry(OBLIQUE, other)
    assert any(d.startswith("size") for d in diffs)
    assert any(d.startswith("spacing[y]") for d in diffs)
    assert any(d.startswith("origin[z]") for d in diffs)
    assert not any(d.startswith("direction") for d in diffs)
    with pytest.raises(GeometryMismatchError, match="spacing\\[y\\] 0.55 != 0.6"):
        check_same_geometry(OBLIQUE, other, "pred.nii.gz")


def test_tolerance_accepts_tiny_float_noise() -> None:
    noisy = Geometry(OBLIQUE.size, tuple(s * (1 + 1e-7) for s in OBLIQUE.spacing),  # type: ignore[arg-type]
                     tuple(o + 1e-6 for o in OBLIQUE.origin), OBLIQUE.direction)  # type: ignore[arg-type]
    assert compare_geometry(OBLIQUE, noisy) == []


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "nope.nii.gz")


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageReadError) as info:
        read_image(bad)
    assert info.value.path == bad
    assert str(bad) in str(info.value)


def test_truncated_file(tmp_path: Path) -> None:
    path = write_image(np.ones(OBLIQUE.shape, np.float32), tmp_path / "full.nii", OBLIQUE)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(truncated)


@pytest.mark.parametrize("shape", [(5, 6), (2, 3, 4, 5)])
def test_not_3d(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "wrongdim.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros(shape, np.float32), isVector=False), str(path))
    with pytest.raises(DimensionError, match="expected a 3D image"):
        read_image(path)


def test_vector_image_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rgb.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.uint8), isVector=True), str(path))
    with pytest.raises(DimensionError, match="scalar"):
        read_image(path)


def test_non_finite_voxels(tmp_path: Path) -> None:
    array = np.zeros(OBLIQUE.shape, np.float32)
    array[1, 2, 3] = np.nan
    array[2, 2, 3] = np.inf
    path = write_image(array, tmp_path / "nan.nii.gz", OBLIQUE)
    with pytest.raises(NonFiniteError, match="2 non-finite"):
        read_image(path)
    assert read_image(path, allow_nonfinite=True).GetSize() == OBLIQUE.size


def test_label_values_outside_map(tmp_path: Path) -> None:
    labels = np.zeros(OBLIQUE.shape, np.uint8)
    labels[0, 0, 0] = 3
    path = write_image(labels, tmp_path / "lab.nii.gz", OBLIQUE)
    with pytest.raises(LabelValueError, match=r"values \[3\]"):
        read_label_map(path, LABELS_2022)
    read_label_map(path, LABELS_2023)  # 3 is the cochlea in 2023


def test_non_integer_labels(tmp_path: Path) -> None:
    labels = np.zeros(OBLIQUE.shape, np.float32)
    labels[0, 0, 0] = 0.5
    path = write_image(labels, tmp_path / "lab.nii.gz", OBLIQUE)
    with pytest.raises(LabelValueError, match="non-integer"):
        read_label_map(path, LABELS_2022)


def test_refuses_to_write_invalid_labels(tmp_path: Path) -> None:
    with pytest.raises(LabelValueError):
        write_label_map(np.full(OBLIQUE.shape, 7, np.uint8), OBLIQUE, tmp_path / "x.nii.gz", LABELS_2022)


def test_voxel_cap_checked_before_decompression(tmp_path: Path) -> None:
    path = write_image(np.zeros(OBLIQUE.shape, np.uint8), tmp_path / "big.nii.gz", OBLIQUE)
    n = int(np.prod(OBLIQUE.size))
    with pytest.raises(ImageTooLargeError, match=f"{n} voxels"):
        read_image(path, max_voxels=n - 1)
    read_image(path, max_voxels=n)


def test_atomic_write_leaves_no_partial_files(tmp_path: Path) -> None:
    write_image(np.zeros(OBLIQUE.shape, np.uint8), tmp_path / "a.nii.gz", OBLIQUE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz"]


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".mha"])
def test_label_map_like_reference_file_is_bit_exact(tmp_path: Path, ext: str) -> None:
    from crossmoda.core.io import write_label_map_like

    ref = write_image(np.ones(OBLIQUE.shape, np.float32), tmp_path / f"ref_hrT2{ext}", OBLIQUE)
    labels = np.zeros(OBLIQUE.shape, np.uint8)
    labels[2:4, 3:7, 5:9] = 1
    labels[6, 1, 2] = 2
    out = write_label_map_like(labels, ref, tmp_path / f"crossmoda2022_ldn_1_Label{ext}", LABELS_2022)
    back, geometry = read_label_map(out, LABELS_2022)
    np.testing.assert_array_equal(back, labels)
    assert geometry == Geometry.from_image(read_image(ref))  # exact equality, no tolerance
    with pytest.raises(LabelValueError):
        write_label_map_like(labels + 5, ref, tmp_path / f"bad{ext}", LABELS_2022)
