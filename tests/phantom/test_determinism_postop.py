"""Byte-identical output for one seed (serial and parallel), post-operative cases, preview, full preset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crossmoda.core.io import read_label_map
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.labels import LABELS_2022
from crossmoda.phantom.case import CaseSpec, generate_case
from crossmoda.phantom.config import SITE_SPECS, PhantomConfig
from crossmoda.phantom.dataset import generate_dataset
from crossmoda.phantom.preview import preview


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "phantom_config.json"}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    cfg = PhantomConfig(source=2, target=1, validation=1, test=0, seed=5)
    generate_dataset(tmp_path / "a", PhantomConfig(**{**cfg.__dict__, "workers": 1}), progress=False)
    generate_dataset(tmp_path / "b", PhantomConfig(**{**cfg.__dict__, "workers": 2}), progress=False)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) > 15 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    generate_dataset(tmp_path / "c", PhantomConfig(**{**cfg.__dict__, "seed": 6}), progress=False)
    c = _files(tmp_path / "c")
    key = "source_training/crossmoda2022_ldn_1_ceT1.nii.gz"
    assert a[key] != c[key]


def test_postoperative_cases(tmp_path: Path) -> None:
    cfg = PhantomConfig(source=6, target=0, validation=0, test=2, seed=2, postop_fraction=0.5, workers=2)
    summary = generate_dataset(tmp_path, cfg, progress=False)
    post = [c for c in summary.cases if c["koos"] is None]
    assert len(post) == 2 + 1  # min(3, 6 - 4) source; 1 of the 2 test cases
    infos = (tmp_path / "infos_source_training.csv").read_text()
    assert infos.count("post-operative-london") == 2
    grades = read_koos_csv(tmp_path / "infos_source_training.csv", "crossmoda_name", "koos")
    assert sorted(g for g in grades.values() if g is not None) == [1, 2, 3, 4]
    assert list(read_koos_csv(tmp_path / "test_labels" / "koos.csv").values()).count(None) == 1
    assert "post-operative" in (tmp_path / "test_labels" / "koos.csv").read_text()
    for row in post:
        meta = json.loads((tmp_path / "meta" / f"{row['name']}.json").read_text())
        assert meta["postoperative"] and meta["koos"] is None and meta["volumes_mm3"]["vs"] == 0.0
        folder = "source_training" if row["split"] == "source_training" else "test_labels"
        lab, _ = read_label_map(tmp_path / folder / f"{row['name']}_Label.nii.gz", LABELS_2022)
        assert not np.any(lab == 1) and np.any(lab == 2)


def test_preview_png(dataset: Path, tmp_path: Path) -> None:
    out = preview(dataset, tmp_path / "p.png", n_cases=2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from crossmoda.phantom.cli import main

    case = sorted(p.stem for p in (dataset / "meta").glob("*.json"))[0]
    assert main(["preview", str(dataset), "--case", case, "--output", str(tmp_path / "q.png")]) == 0
    assert (tmp_path / "q.png").stat().st_size > 10_000


def test_full_preset_whole_field_of_view() -> None:
    spec = CaseSpec("crossmoda2022_etz_2", 1, "source_training", "etz", 4, seed=11, preset="full")
    result = generate_case(spec)
    prot = SITE_SPECS["etz"].ceT1
    nz, ny, nx = result.label.shape
    assert (ny, nx) == (256, 256) and prot.slices[0] <= nz <= prot.slices[1]
    assert result.geometry.spacing == (0.8, 0.8, 1.5)
    assert np.count_nonzero(result.label == 1) > 0 and np.count_nonzero(result.label == 2) > 0
    assert np.count_nonzero(result.aux == 2) * 0.96 > 50_000  # cerebellum (mm^3) in view
    corner = result.images["ceT1"][:, :10, :10]
    assert corner.mean() < 0.1 * result.images["ceT1"][result.tissue == 3].mean()  # air outside the head
