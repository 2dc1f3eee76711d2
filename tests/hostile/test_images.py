"""Image reads: truncation (every voxel type, NIfTI and MetaImage), bombs, NaN, geometry, links."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from crossmoda.core.errors import ImageReadError, ImageTooLargeError, NonFiniteError
from crossmoda.core.integrity import check_image_data
from crossmoda.core.io import read_array, read_image
from tests.hostile.conftest import errors_by_case, evaluate

DTYPES = [np.int8, np.uint8, np.int16, np.float32]
FORMATS = [(".nii", False), (".nii.gz", True), (".mha", False), (".mha", True), (".mhd", False),
           (".mhd", True)]
FRACTIONS = [0.999, 0.9, 0.5, 0.1]


def _write(path: Path, dtype: type, compress: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 3, (16, 24, 30)).astype(dtype)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path), useCompression=compress)
    return array


def _data_file(path: Path) -> Path:
    """The file holding the voxel data (the header itself, or an .mhd's .raw/.zraw)."""
    if path.suffix != ".mhd":
        return path
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("ElementDataFile"):
            return path.parent / line.split("=", 1)[1].strip()
    raise AssertionError("no ElementDataFile")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("ext", "compress"), FORMATS, ids=lambda v: str(v))
def test_truncated_images_are_errors(tmp_path: Path, dtype: type, ext: str, compress: bool) -> None:
    path = tmp_path / f"img{ext}"
    array = _write(path, dtype, compress)
    np.testing.assert_array_equal(read_array(path)[0], array)  # the intact file reads back
    data_file = _data_file(path)
    data = data_file.read_bytes()
    for fraction in FRACTIONS:
        data_file.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(ImageReadError, match="truncated|corrupt|header"):
            read_image(path)


def test_gzip_nifti_with_a_short_but_valid_stream(tmp_path: Path) -> None:
    """A well-formed gzip stream that holds fewer voxels than the header declares."""
    path = tmp_path / "img.nii.gz"
    _write(path, np.int16, True)
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(ImageReadError, match="truncated image data"):
        read_image(path)


def test_truncated_prediction_scores_worst_and_truncated_reference_is_named(
    challenge_data: dict[str, Path],
) -> None:
    pred = challenge_data["pred"] / "crossmoda2022_etz_1_Label.nii.gz"
    raw = gzip.decompress(pred.read_bytes())
    pred.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    ref = challenge_data["gt"] / "crossmoda2022_etz_2_Label.nii.gz"
    ref.write_bytes(ref.read_bytes()[: ref.stat().st_size // 2])
    rc, m = evaluate(challenge_data)
    assert rc == 0
    errors = errors_by_case(m)
    assert "prediction: truncated" in errors["crossmoda2022_etz_1"]
    assert "reference:" in errors["crossmoda2022_etz_2"]
    assert m["case"]["crossmoda2022_etz_1"]["VS_Dice"] == 0.0
    assert m["case"]["crossmoda2022_ldn_3"]["VS_Dice"] > 0.3


def test_mhd_data_file_outside_the_folder_is_refused_when_untrusted(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    path = tmp_path / "team" / "img.mhd"
    _write(path, np.uint8, False)
    raw = _data_file(path)
    raw.rename(tmp_path / "outside.raw")
    header = path.read_text().replace(f"ElementDataFile = {raw.name}", "ElementDataFile = ../outside.raw")
    path.write_text(header)
    check_image_data(path)  # an organiser's file may point anywhere
    with pytest.raises(ImageReadError, match="plain name"):
        read_image(path, untrusted=True)


def test_untrusted_image_link_is_refused_not_read(tmp_path: Path) -> None:
    real = tmp_path / "real.nii.gz"
    _write(real, np.uint8, True)
    link = tmp_path / "link.nii.gz"
    link.symlink_to(real)
    read_image(link)  # an organiser's link is followed
    with pytest.raises(ImageReadError, match="symbolic link"):
        read_image(link, untrusted=True)


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nii.gz"
    sitk.WriteImage(sitk.Image(400, 400, 400, sitk.sitkUInt8), str(path), useCompression=True)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageTooLargeError, match="exceed the cap"):
        read_image(path, max_voxels=1_000_000)


def test_nan_voxels_are_refused(tmp_path: Path) -> None:
    array = np.zeros((4, 5, 6), np.float32)
    array[1, 2, 3] = np.nan
    for ext in (".nii.gz", ".mha"):
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / f"nan{ext}"))
        with pytest.raises(NonFiniteError):
            read_image(tmp_path / f"nan{ext}")


def test_absurd_spacing_is_bounded_before_allocation(tmp_path: Path) -> None:
    image = sitk.Image(200, 120, 80, sitk.sitkUInt8)
    image.SetSpacing((50.0, 50.0, 50.0))  # 10 m x 6 m x 4 m
    sitk.WriteImage(image, str(tmp_path / "wide.nii.gz"))
    with pytest.raises(ImageTooLargeError, match="physical extent"):
        read_image(tmp_path / "wide.nii.gz")
    sitk.WriteImage(image, str(tmp_path / "neg.mha"), useCompression=False)
    data = (tmp_path / "neg.mha").read_bytes()
    assert b"ElementSpacing = 50 50 50" in data
    (tmp_path / "neg.mha").write_bytes(data.replace(b"ElementSpacing = 50 50 50", b"ElementSpacing = -1 1 1"))
    with pytest.raises(ImageReadError):
        read_image(tmp_path / "neg.mha")


def test_geometry_mismatch_is_that_cases_error(challenge_data: dict[str, Path]) -> None:
    from tests.evaluation.helpers import geometry, label_pair, write_labels

    p, r = label_pair(seed=0)
    write_labels(challenge_data["pred"] / "crossmoda2022_etz_1_Label.nii.gz", p,
                 geometry(r.shape, spacing_xyz=(0.5, 0.6, 3.0)))
    rc, m = evaluate(challenge_data)
    assert rc == 0 and "spacing" in errors_by_case(m)["crossmoda2022_etz_1"]


def test_untrusted_nrrd_naming_a_data_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.raw"
    secret.write_bytes(bytes(24))
    header = ("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 3 4\nencoding: raw\n"
              f"data file: {secret}\n\n")
    (tmp_path / "img.nrrd").write_text(header)
    assert read_image(tmp_path / "img.nrrd").GetSize() == (2, 3, 4)  # an organiser's file
    with pytest.raises(ImageReadError, match="separate data file"):
        read_image(tmp_path / "img.nrrd", untrusted=True)
