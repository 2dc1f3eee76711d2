"""Per-case inputs of the grader on disk, feature tables, and their CSV files.

A :class:`KoosCase` names one case's label file (and optional auxiliary and image files) and its
reference grade. :func:`phantom_cases` lists them for a ``crossmoda-phantom`` data set (ground
truth labels); :func:`prediction_cases` for a folder of segmenter predictions.
:func:`feature_rows` computes the features of many cases (optionally in worker processes) and
:func:`write_feature_csv` writes them, with predictions when given, for inspection.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from crossmoda.algorithm.koos.anatomy import FrameConfig, structures_from_arrays
from crossmoda.algorithm.koos.features import FEATURE_NAMES, compute_features
from crossmoda.core.cases import discover_cases
from crossmoda.core.io import Geometry, read_array
from crossmoda.core.koos import read_koos_csv

__all__ = [
    "KoosCase",
    "CaseFeatures",
    "phantom_cases",
    "prediction_cases",
    "case_features",
    "feature_rows",
    "write_feature_csv",
    "read_feature_csv",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KoosCase:
    """Files of one case.

    Attributes:
        case: Case name.
        labels: ``_Label`` file: 1 VS, 2 cochlea (with ``aux``) or the segmenter's combined map
            (1 VS, 2 cochlea, 3 brainstem, 4 cerebellum; ``aux=None``).
        aux: ``_Aux`` file (1 brainstem, 2 cerebellum) on the same grid, or ``None``.
        image: hrT2 (or pseudo-hrT2) on the same grid, or ``None`` (image features are then 0).
        grade: Reference grade 1-4, ``None`` when unknown or post-operative.
    """

    case: str
    labels: Path
    aux: Path | None = None
    image: Path | None = None
    grade: int | None = None


@dataclass(frozen=True)
class CaseFeatures:
    """Features of one case plus the estimated porus and canal axis in world mm (LPS)."""

    case: str
    grade: int | None
    features: dict[str, float]
    porus_world: tuple[float, float, float]
    axis_world: tuple[float, float, float]
    frame_method: str


def _grades(path: Path, case_column: str, class_column: str) -> dict[str, int | None]:
    return read_koos_csv(path, case_column, class_column) if path.is_file() else {}


def phantom_cases(data_dir: str | Path, split: str, image_dir: str | Path | None = None) -> list[KoosCase]:
    """Ground-truth cases of a phantom data set (layout in ``docs/contracts.md``).

    ``source_training``: ``_Label`` + ``_Aux`` from ``source_training/``, grades from
    ``infos_source_training.csv``, image the true hrT2 on the ceT1 grid from ``paired_truth/``
    (or ``<image_dir>/<case>_hrT2.nii.gz``, e.g. pseudo-hrT2, when given). ``validation``/``test``/
    ``target_training``: labels from ``<split>_labels/`` (else ``paired_truth/``), ``_Aux`` from
    ``paired_truth/``, image from ``<split>/``, grades from ``<split>_labels/koos.csv``.
    Cases without a label file are skipped with a warning.
    """
    root = Path(data_dir)
    truth = root / "paired_truth"
    out: list[KoosCase] = []
    if split == "source_training":
        grades = _grades(root / "infos_source_training.csv", "crossmoda_name", "koos")
        labels = discover_cases(root / split, "Label").files
        for case, path in labels.items():
            aux = root / split / f"{case}_Aux.nii.gz"
            img_root = Path(image_dir) if image_dir is not None else truth
            img = img_root / f"{case}_hrT2.nii.gz"
            out.append(KoosCase(case, path, aux if aux.is_file() else None, img if img.is_file() else None,
                                grades.get(case)))
        return out
    label_dir = root / f"{split}_labels"
    grades = _grades(label_dir / "koos.csv", "case", "class")
    if not label_dir.is_dir():
        label_dir = truth
    images = discover_cases(root / split, "hrT2").files if (root / split).is_dir() else {}
    for case, path in discover_cases(label_dir, "Label").files.items():
        if case not in images:
            continue
        aux = truth / f"{case}_Aux.nii.gz"
        out.append(KoosCase(case, path, aux if aux.is_file() else None, images[case], grades.get(case)))
    if not out:
        logger.warning("no labelled cases found for split %s in %s", split, root)
    return out


def prediction_cases(
    label_dir: str | Path, image_dir: str | Path | None, grades: Mapping[str, int | None],
    image_modality: str = "hrT2",
) -> list[KoosCase]:
    """Cases from a folder of segmenter predictions, graded from ``grades``.

    Each ``<case>_Label.nii.gz`` is the combined map (labels 1-4), or 1 VS / 2 cochlea when a
    ``<case>_Aux.nii.gz`` (1 brainstem, 2 cerebellum) sits beside it, as ``predict_case`` gives.
    Images ``<case>_<image_modality>.nii.gz`` come from ``image_dir`` (optional).
    """
    images = discover_cases(image_dir, image_modality).files if image_dir is not None else {}
    aux = discover_cases(label_dir, "Aux").files
    return [KoosCase(case, path, aux.get(case), images.get(case), grades.get(case))
            for case, path in discover_cases(label_dir, "Label").files.items()]


def _world(geometry: Geometry, point_mm: np.ndarray, direction: bool = False) -> tuple[float, float, float]:
    """Voxel-mm point (z, y, x) -> world (LPS) point; a direction is only rotated."""
    xyz = np.asarray(point_mm, dtype=np.float64)[::-1]
    rot = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3)
    world = rot @ xyz + (0.0 if direction else np.asarray(geometry.origin))
    return (float(world[0]), float(world[1]), float(world[2]))


def case_features(case: KoosCase, frame: FrameConfig | None = None) -> CaseFeatures:
    """Read one case's files and compute its features (see :func:`compute_features`)."""
    labels, geometry = read_array(case.labels)
    aux = read_array(case.aux)[0] if case.aux is not None else None
    image = read_array(case.image, dtype=np.float32)[0] if case.image is not None else None
    structures = structures_from_arrays(labels, aux)
    feats, fr = compute_features(structures, geometry.spacing_mm, image, frame)
    return CaseFeatures(case.case, case.grade, feats, _world(geometry, fr.porus),
                        _world(geometry, fr.axis, direction=True), fr.method)


def _case_features_star(args: tuple[KoosCase, FrameConfig | None]) -> CaseFeatures:
    return case_features(*args)


def feature_rows(
    cases: Sequence[KoosCase], frame: FrameConfig | None = None, workers: int = 1,
    desc: str = "koos features",
) -> list[CaseFeatures]:
    """Features of every case, in input order, with a progress bar (``workers`` processes)."""
    jobs = [(c, frame) for c in cases]
    if workers <= 1 or len(jobs) <= 1:
        return [case_features(*j) for j in tqdm(jobs, desc=desc, unit="case")]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_case_features_star, jobs), total=len(jobs), desc=desc, unit="case"))


def write_feature_csv(
    path: str | Path, rows: Iterable[CaseFeatures],
    predictions: Mapping[str, tuple[int, Sequence[float]]] | None = None,
) -> Path:
    """Write ``case,grade,<features>,porus_{x,y,z}_mm,frame[,predicted,p1..p4]`` (one row per case)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = ["case", "grade", *FEATURE_NAMES, "porus_x_mm", "porus_y_mm", "porus_z_mm", "frame"]
    if predictions is not None:
        header += ["predicted", "p1", "p2", "p3", "p4"]
    with p.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for r in rows:
            line: list[Any] = [r.case, "" if r.grade is None else r.grade]
            line += [f"{r.features[n]:.6g}" for n in FEATURE_NAMES]
            line += [f"{v:.3f}" for v in r.porus_world] + [r.frame_method]
            if predictions is not None:
                grade, proba = predictions[r.case]
                line += [grade, *(f"{v:.4f}" for v in proba)]
            writer.writerow(line)
    return p


def read_feature_csv(path: str | Path) -> list[tuple[str, int | None, dict[str, float]]]:
    """Read ``(case, grade, features)`` back from :func:`write_feature_csv` output."""
    out: list[tuple[str, int | None, dict[str, float]]] = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            grade = int(row["grade"]) if row.get("grade") else None
            out.append((row["case"], grade, {n: float(row[n]) for n in FEATURE_NAMES}))
    return out
