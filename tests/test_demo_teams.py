"""The 2023 demo's perturbed-reference stand-ins: exactly the stated perturbations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossmoda.core.io import Geometry, read_label_map, write_label_map
from crossmoda.core.labels import LABELS_2023
from crossmoda.demo_teams import eroded, split_shifted, write_perturbed_team


def _reference() -> np.ndarray:
    ref = np.zeros((3, 9, 12), np.uint8)
    ref[1, 2:5, 1:6] = 1  # extra-meatal: 3 x 5 in-plane
    ref[1, 2:5, 6:10] = 2  # intra-meatal: 3 x 4, lateral of x = 6
    ref[1, 7, 10] = 3  # a one-voxel cochlea
    return ref


def test_eroded_shrinks_in_plane_and_keeps_what_would_vanish() -> None:
    out = eroded(_reference())
    assert np.argwhere(out == 1).tolist() == [[1, 3, 2], [1, 3, 3], [1, 3, 4]]
    assert np.argwhere(out == 2).tolist() == [[1, 3, 7], [1, 3, 8]]
    assert np.argwhere(out == 3).tolist() == [[1, 7, 10]]  # would vanish: kept


def test_split_shifted_moves_the_boundary_two_voxels_and_grows_the_cochlea() -> None:
    out = split_shifted(_reference())
    assert np.count_nonzero(out == 1) == 15 + 6 and np.count_nonzero(out == 2) == 12 - 6
    assert np.all(out[1, 2:5, 6:8] == 1) and np.all(out[1, 2:5, 8:10] == 2)
    assert np.count_nonzero(out == 3) == 1 + 4  # its 4 in-plane neighbours (y 6, 8; x 9, 11)


def test_koos1_reference_keeps_no_extra_meatal_part() -> None:
    ref = _reference()
    ref[ref == 1] = 2
    assert not np.any(split_shifted(ref) == 1)


def test_written_with_2023_output_names(tmp_path: Path) -> None:
    geo = Geometry(size=(12, 9, 3), spacing=(0.5, 0.5, 4.0), origin=(0.0, 0.0, 0.0),
                   direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    write_label_map(_reference(), geo, tmp_path / "gt" / "crossmoda2023_ukm_3_Label.nii.gz", LABELS_2023)
    written = write_perturbed_team(tmp_path / "gt", tmp_path / "team", "perturbed-reference-eroded")
    assert [p.name for p in written] == ["crossmoda2023_ukm_3.nii.gz"]
    label, out_geo = read_label_map(written[0], LABELS_2023)
    assert out_geo.spacing == geo.spacing and np.array_equal(label, eroded(_reference()))
