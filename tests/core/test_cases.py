"""crossMoDA case names of every edition, and folder discovery with explicit filtering."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmoda.core.cases import CaseName, discover_cases, parse_case, parse_filename
from crossmoda.core.errors import CaseNameError


@pytest.mark.parametrize(
    ("filename", "edition", "site", "number", "modality", "ext"),
    [
        ("crossmoda2021_ldn_12_hrT2.nii.gz", 2021, "ldn", 12, "hrT2", ".nii.gz"),
        ("crossmoda2021_ldn_211_Label.nii.gz", 2021, "ldn", 211, "Label", ".nii.gz"),
        ("crossmoda2021_ldn_1_ceT1.nii.gz", 2021, "ldn", 1, "ceT1", ".nii.gz"),
        ("crossmoda_12_hrT2.nii.gz", None, None, 12, "hrT2", ".nii.gz"),
        ("crossmoda_12_Label.nii.gz", None, None, 12, "Label", ".nii.gz"),
        ("crossmoda2022_etz_242_hrT2.nii.gz", 2022, "etz", 242, "hrT2", ".nii.gz"),
        ("crossmoda2022_etz_7_ceT1.nii", 2022, "etz", 7, "ceT1", ".nii"),
        ("crossmoda2022_ldn_3_Label.mha", 2022, "ldn", 3, "Label", ".mha"),
        ("crossmoda2023_ukm_5_T2.nii.gz", 2023, "ukm", 5, "T2", ".nii.gz"),
        ("crossmoda2023_ukm_5.nii.gz", 2023, "ukm", 5, None, ".nii.gz"),
        ("crossmoda2023_etz_9_Label.nrrd", 2023, "etz", 9, "Label", ".nrrd"),
        ("crossmoda2022_ldn_4_Aux.nii.gz", 2022, "ldn", 4, "Aux", ".nii.gz"),
    ],
)
def test_parse_every_name_form(
    filename: str, edition: int | None, site: str | None, number: int, modality: str | None, ext: str
) -> None:
    parsed = parse_filename(filename)
    assert parsed.case == CaseName(number=number, edition=edition, site=site)
    assert parsed.modality == modality
    assert parsed.extension == ext
    assert parsed.case.filename(modality, ext) == filename


@pytest.mark.parametrize(
    "bad",
    ["crossmoda2022_xyz_1_hrT2.nii.gz", "crossmoda2022_ldn_hrT2.nii.gz", "crossmoda2022_ldn_1_PD.nii.gz",
     "case_1_hrT2.nii.gz", "crossmoda2022_ldn_1_hrT2.png", "crossmoda2022_ldn_1_hrT2"],
)
def test_bad_names_raise(bad: str) -> None:
    with pytest.raises(CaseNameError):
        parse_filename(bad)


def test_case_formatting_and_order() -> None:
    assert str(parse_case("crossmoda2022_etz_12")) == "crossmoda2022_etz_12"
    assert str(CaseName(12)) == "crossmoda_12"
    assert str(CaseName(3, 2021, "ldn")) == "crossmoda2021_ldn_3"
    with pytest.raises(CaseNameError):
        CaseName(3, None, "ldn")
    cases = [parse_case(c) for c in ("crossmoda2022_ldn_10", "crossmoda2022_ldn_9", "crossmoda2022_etz_2")]
    assert [c.number for c in sorted(cases)] == [2, 9, 10]


def test_discovery_filters_and_reports_strays(tmp_path: Path) -> None:
    for name in ("crossmoda2022_etz_242_hrT2.nii.gz", "crossmoda2022_etz_2_hrT2.nii.gz",
                 "crossmoda2022_etz_2_hrT2.mha", "crossmoda2022_etz_2_Label.nii.gz",
                 "notes.txt", ".DS_Store", "crossmoda2022_etz_3_hrT2.nii.gz.bak"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "subdir").mkdir()
    found = discover_cases(tmp_path, "hrT2")
    # matched by full case name: 242 and 2 are different cases (never "first integer" 2022)
    assert list(found.files) == ["crossmoda2022_etz_2", "crossmoda2022_etz_242"]
    assert found.files["crossmoda2022_etz_2"].name == "crossmoda2022_etz_2_hrT2.mha"
    assert set(found.duplicates) == {"crossmoda2022_etz_2"}
    ignored = {p.name for p, _ in found.ignored}
    assert ignored == {"crossmoda2022_etz_2_Label.nii.gz", "notes.txt", "subdir",
                       "crossmoda2022_etz_3_hrT2.nii.gz.bak"}


def test_discovery_of_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        discover_cases(tmp_path / "missing", "hrT2")


def test_discover_cases_refuses_links_and_special_files(tmp_path: Path) -> None:
    import os

    (tmp_path / "crossmoda2022_etz_1_Label.nii.gz").write_bytes(b"x")
    (tmp_path / "elsewhere.nii.gz").write_bytes(b"y")
    (tmp_path / "crossmoda2022_etz_2_Label.nii.gz").symlink_to(tmp_path / "elsewhere.nii.gz")
    os.mkfifo(tmp_path / "crossmoda2022_etz_3_Label.nii.gz")
    (tmp_path / "crossmoda2022_etz_4_hrT2.nii.gz").symlink_to(tmp_path / "elsewhere.nii.gz")
    found = discover_cases(tmp_path, "Label")
    assert list(found.files) == ["crossmoda2022_etz_1"]
    assert {c: r for c, (_, r) in found.refused.items()} == {
        "crossmoda2022_etz_2": "is a symbolic link (links are never followed)",
        "crossmoda2022_etz_3": "is a FIFO, not a regular file",
    }
    ignored = {p.name: r for p, r in found.ignored}
    assert "symbolic link" in ignored["crossmoda2022_etz_4_hrT2.nii.gz"]


def test_discover_cases_trusted_folder_follows_links_to_files(tmp_path: Path) -> None:
    (tmp_path / "real.nii.gz").write_bytes(b"x")
    (tmp_path / "crossmoda2022_etz_2_Label.nii.gz").symlink_to(tmp_path / "real.nii.gz")
    (tmp_path / "crossmoda2022_etz_3_Label.nii.gz").symlink_to(tmp_path / "missing.nii.gz")
    found = discover_cases(tmp_path, "Label", trusted=True)
    assert list(found.files) == ["crossmoda2022_etz_2"]
    assert "symbolic link" in found.refused["crossmoda2022_etz_3"][1]
    assert discover_cases(tmp_path, "Label").files == {}
