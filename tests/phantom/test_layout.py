"""Layout of a generated data set against docs/contracts.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from crossmoda.core.cases import discover_cases, parse_case
from crossmoda.core.io import read_array, read_label_map
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.labels import AUX_LABELS, LABELS_2022
from crossmoda.phantom.config import PhantomConfig
from crossmoda.phantom.dataset import plan_cases

SPLITS = {"source_training": "ceT1", "target_training": "hrT2", "validation": "hrT2", "test": "hrT2"}


def _cases(root: Path, split: str) -> list[str]:
    return list(discover_cases(root / split, SPLITS[split]).files)


def test_every_split_has_its_files(dataset: Path) -> None:
    for split, modality in SPLITS.items():
        found = discover_cases(dataset / split, modality)
        assert len(found.files) == 4, split
        others = {"source_training": {"Label", "Aux"}}.get(split, set())
        assert all(p.name.split("_")[-1].split(".")[0] in {modality, *others} for p, _ in found.ignored)
    src = _cases(dataset, "source_training")
    for case in src:
        for mod in ("Label", "Aux"):
            assert (dataset / "source_training" / f"{case}_{mod}.nii.gz").is_file()
        assert (dataset / "paired_truth" / f"{case}_hrT2.nii.gz").is_file()
        assert not (dataset / "paired_truth" / f"{case}_ceT1.nii.gz").exists()
    for split in ("target_training", "validation", "test"):
        for case in _cases(dataset, split):
            for mod in ("ceT1", "Label", "Aux"):
                assert (dataset / "paired_truth" / f"{case}_{mod}.nii.gz").is_file()
            assert (dataset / "meta" / f"{case}.json").is_file()
            if split != "target_training":
                assert (dataset / f"{split}_labels" / f"{case}_Label.nii.gz").is_file()
    assert not (dataset / "target_training_labels").exists()
    assert (dataset / "phantom_config.json").is_file()


def test_names_numbers_sites_and_grades(dataset: Path) -> None:
    names = [c for split in SPLITS for c in _cases(dataset, split)]
    parsed = [parse_case(n) for n in names]
    assert all(p.edition == 2022 for p in parsed)
    numbers = [p.number for p in parsed]
    assert len(set(numbers)) == len(numbers) == 16
    by_number = sorted(parsed, key=lambda p: p.number)
    assert [p.site for p in by_number] == ["ldn", "etz"] * 8
    for split in ("validation", "test"):
        grades = read_koos_csv(dataset / f"{split}_labels" / "koos.csv")
        assert sorted(grades) == sorted(_cases(dataset, split))
        assert sorted(g for g in grades.values() if g is not None) == [1, 2, 3, 4]
    infos = read_koos_csv(dataset / "infos_source_training.csv", "crossmoda_name", "koos")
    assert sorted(v for v in infos.values() if v is not None) == [1, 2, 3, 4]
    with (dataset / "infos_source_training.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["crossmoda_name", "center", "group", "koos"]
    assert {r["center"] for r in rows} == {"London", "Tilburg"}
    for split in ("target_training",):
        metas = [json.loads((dataset / "meta" / f"{c}.json").read_text()) for c in _cases(dataset, split)]
        grades = [m["koos"] for m in metas]
        assert sorted(grades) == [1, 2, 3, 4]


def test_labels_images_and_geometry_agree(dataset: Path) -> None:
    for case in _cases(dataset, "validation"):
        img, geo = read_array(dataset / "validation" / f"{case}_hrT2.nii.gz")
        lab, lgeo = read_label_map(dataset / "validation_labels" / f"{case}_Label.nii.gz", LABELS_2022)
        truth_lab, _ = read_label_map(dataset / "paired_truth" / f"{case}_Label.nii.gz", LABELS_2022)
        aux, _ = read_label_map(dataset / "paired_truth" / f"{case}_Aux.nii.gz", AUX_LABELS)
        ce, cgeo = read_array(dataset / "paired_truth" / f"{case}_ceT1.nii.gz")
        assert img.dtype == np.int16 and img.shape == lab.shape == ce.shape
        assert geo == lgeo == cgeo
        assert np.array_equal(lab, truth_lab)
        assert set(np.unique(lab)) == {0, 1, 2} and set(np.unique(aux)) == {0, 1, 2}
        assert not np.any((lab == 1) & (aux > 0))
        meta = json.loads((dataset / "meta" / f"{case}.json").read_text())
        assert meta["geometry"]["size"] == list(geo.size)
        direction = np.asarray(geo.direction).reshape(3, 3)
        assert np.allclose(direction @ direction.T, np.eye(3), atol=1e-6)
        assert not np.allclose(direction, np.eye(3))  # oblique, as scanners write


def test_site_resolutions(dataset: Path) -> None:
    spacing = {}
    for split in SPLITS:
        for case in _cases(dataset, split):
            meta = json.loads((dataset / "meta" / f"{case}.json").read_text())
            key = (meta["site"], meta["grid_modality"])
            spacing[key] = tuple(round(s, 4) for s in meta["geometry"]["spacing"])
    assert spacing[("etz", "hrT2")] == (0.4, 0.4, 1.0)
    assert spacing[("etz", "ceT1")] == (0.8, 0.8, 1.5)
    assert spacing[("ldn", "ceT1")][0] in (0.4, 0.4297) and spacing[("ldn", "ceT1")][2] in (1.0, 1.5)
    assert spacing[("ldn", "hrT2")][0] in (0.5, 0.4688) and spacing[("ldn", "hrT2")][2] in (1.0, 1.5)


def test_plan_is_balanced_for_any_size() -> None:
    for n in (4, 5, 7, 11):
        cfg = PhantomConfig(source=n, target=n, validation=n, test=n, seed=9, postop_fraction=0.5)
        specs = plan_cases(cfg)
        for split in SPLITS:
            grades = [s.koos for s in specs if s.split == split]
            assert {1, 2, 3, 4} <= set(grades), (n, split, grades)
            assert len(grades) == n
        assert len({s.name for s in specs}) == 4 * n
    specs = plan_cases(PhantomConfig())
    assert [len([s for s in specs if s.split == k]) for k in SPLITS] == [40, 40, 10, 20]
    assert all(s.koos is not None for s in specs)
