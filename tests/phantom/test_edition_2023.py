"""The 2023 edition: layout and names, the extra-/intra-meatal split, the routine ``ukm`` site."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmoda.core.io import read_label_map
from crossmoda.core.labels import LABELS_2023
from crossmoda.phantom.acquisition import draw_acquisition
from crossmoda.phantom.case import CaseSpec, generate_case
from crossmoda.phantom.cli import main
from crossmoda.phantom.config import SITE_SPECS, PhantomConfig
from crossmoda.phantom.dataset import plan_cases
from crossmoda.phantom.preview import preview
from crossmoda.phantom.verify import grade_from_evidence, koos_evidence, voxel_world


@pytest.fixture(scope="module")
def ds2023(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four labelled source cases and four test cases over ldn, etz and ukm, via the CLI."""
    out = tmp_path_factory.mktemp("phantom2023") / "ds"
    assert main(["generate", str(out), "--edition", "2023", "--source", "4", "--target", "1",
                 "--validation", "0", "--test", "4", "--seed", "4", "--workers", "2", "--no-progress"]) == 0
    return out


def test_default_edition_is_2022() -> None:
    cfg = PhantomConfig()
    assert cfg.edition == 2022 and cfg.sites == ("ldn", "etz")
    specs = plan_cases(PhantomConfig(source=1, target=0, validation=0, test=1))
    assert specs[1].name == "crossmoda2022_etz_2"
    with pytest.raises(ValueError, match="edition"):
        PhantomConfig(edition=2021)


def test_layout_and_names(ds2023: Path) -> None:
    names = sorted(p.name for p in (ds2023 / "test").iterdir())
    assert names == ["crossmoda2023_etz_8_T2.nii.gz", "crossmoda2023_ldn_7_T2.nii.gz",
                     "crossmoda2023_ukm_6_T2.nii.gz", "crossmoda2023_ukm_9_T2.nii.gz"]
    assert (ds2023 / "target_training" / "crossmoda2023_etz_5_T2.nii.gz").is_file()
    assert (ds2023 / "source_training" / "crossmoda2023_ukm_3_ceT1.nii.gz").is_file()
    assert (ds2023 / "source_training" / "crossmoda2023_ukm_3_Label.nii.gz").is_file()
    assert (ds2023 / "paired_truth" / "crossmoda2023_ukm_3_T2.nii.gz").is_file()
    assert (ds2023 / "paired_truth" / "crossmoda2023_ukm_6_ceT1.nii.gz").is_file()
    assert not list(ds2023.rglob("*hrT2*"))
    infos = (ds2023 / "infos_source_training.csv").read_text()
    assert "crossmoda2023_ukm_3,UK multi-centre," in infos
    meta = json.loads((ds2023 / "meta" / "crossmoda2023_ukm_6.json").read_text())
    assert meta["edition"] == 2023 and meta["label_map"] == "crossmoda2023" and meta["grid_modality"] == "T2"
    keys = {"type", "field_T", "slice_thickness_mm", "slice_gap_mm", "orientation"}
    assert set(meta["acquisition"]) >= keys
    assert meta["split_plane"]["porus_lps"] == meta["porus_lps"]


def test_labels_split_at_the_porus_plane(ds2023: Path) -> None:
    for path in sorted((ds2023 / "test_labels").glob("*_Label.nii.gz")) + sorted(
            (ds2023 / "source_training").glob("*_Label.nii.gz")):
        case = path.name[: -len("_Label.nii.gz")]
        meta = json.loads((ds2023 / "meta" / f"{case}.json").read_text())
        label, geo = read_label_map(path, LABELS_2023)
        assert np.any(label == 3), case
        vols = meta["volumes_2023_mm3"]
        voxel = float(np.prod(geo.spacing))
        assert vols["intrameatal_vs"] == pytest.approx(np.count_nonzero(label == 2) * voxel, abs=0.01)
        if meta["koos"] is None:
            assert not np.any(np.isin(label, (1, 2))), case
            continue
        assert np.any(label == 2), case
        assert np.any(label == 1) == (meta["koos"] > 1), case  # Koos I: all intra-meatal
        porus = np.asarray(meta["split_plane"]["porus_lps"])
        normal = np.asarray(meta["split_plane"]["normal_lps"])
        tol = 0.5 * float(np.linalg.norm(geo.spacing)) + 0.1  # a voxel's centre vs its sub-slice majority
        along_intra = (voxel_world(geo, np.argwhere(label == 2)) - porus) @ normal
        assert along_intra.min() >= -tol, case
        if meta["koos"] > 1:
            along_extra = (voxel_world(geo, np.argwhere(label == 1)) - porus) @ normal
            assert np.median(along_extra) < 0.0, case  # mostly medial of the porus
        grade = grade_from_evidence(koos_evidence(label, np.zeros_like(label), geo, meta))
        assert grade is not None and (grade == 1) == (meta["koos"] == 1), case


def test_ukm_acquisitions_cover_routine_protocols() -> None:
    acqs = [draw_acquisition(SITE_SPECS["ukm"], "hrT2", seed) for seed in range(60)]
    kinds = {a.protocol.name for a in acqs}
    assert kinds == {"3D", "2D TSE"}
    assert {a.field_T for a in acqs} == {1.5, 3.0}
    assert any(a.tilt_deg != 0.0 for a in acqs) and any(a.tilt_deg == 0.0 for a in acqs)
    two_d = [a for a in acqs if a.protocol.name == "2D TSE"]
    assert all(3.0 <= t <= 5.0 for a in two_d for t in a.protocol.slice_mm)
    assert any(a.gap_mm > 0.5 for a in two_d)
    inplane = {v for a in acqs for v in a.protocol.inplane_mm}
    assert min(inplane) == 0.4 and max(inplane) == 1.0
    fovs = {a.fov_mm for a in acqs}
    assert min(f for f in fovs if f is not None) < 180 and max(f for f in fovs if f is not None) > 220
    fixed = draw_acquisition(SITE_SPECS["ldn"], "hrT2", 1)
    assert not fixed.routine and fixed.gap_mm == 0.0 and fixed.tilt_deg == 0.0


def test_thick_slice_case_with_gap_keeps_its_tumour() -> None:
    seed = next(s for s in range(200) if draw_acquisition(SITE_SPECS["ukm"], "hrT2", s).gap_mm > 0.5
                and draw_acquisition(SITE_SPECS["ukm"], "hrT2", s).protocol.slice_mm[-1] == 5.0)
    result = generate_case(CaseSpec("crossmoda2023_ukm_1", 0, "test", "ukm", 1, seed=seed, edition=2023))
    acq = result.meta["acquisition"]
    dz = result.geometry.spacing[2]
    assert acq["type"] == "2D TSE"
    assert dz == pytest.approx(acq["slice_thickness_mm"] + acq["slice_gap_mm"], abs=1e-3)
    assert 3.0 <= acq["slice_thickness_mm"] <= 5.0 and 0.4 <= result.geometry.spacing[0] <= 1.0
    assert np.any(result.label == 2) and not np.any(result.label == 1)  # Koos I survives thick slices


def test_ukm_postoperative_cases_keep_every_grade() -> None:
    specs = plan_cases(PhantomConfig(source=0, target=0, validation=0, test=24, seed=1, edition=2023))
    ukm = [s for s in specs if s.site == "ukm"]
    assert sum(s.koos is None for s in ukm) == round(0.2 * len(ukm))
    assert all(s.koos is not None for s in specs if s.site != "ukm")
    assert sorted({s.koos for s in specs if s.koos is not None}) == [1, 2, 3, 4]


def test_same_config_gives_identical_bytes_including_config(tmp_path: Path) -> None:
    args = ["--edition", "2023", "--source", "0", "--target", "0", "--validation", "0", "--test", "3",
            "--seed", "9", "--workers", "1", "--no-progress"]
    assert main(["generate", str(tmp_path / "a"), *args]) == 0
    assert main(["generate", str(tmp_path / "b"), *args]) == 0
    a, b = ({str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
            for root in (tmp_path / "a", tmp_path / "b"))
    assert "phantom_config.json" in a and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert "created" not in json.loads(a["phantom_config.json"])["provenance"]


def test_preview_2023_has_three_panels(ds2023: Path, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    out = preview(ds2023, tmp_path / "p.png", case="crossmoda2023_ukm_6")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    height, width = mpimg.imread(out).shape[:2]
    assert width > 2 * height  # three panels side by side
