"""Turn a crossMoDA-layout data set into ``.npy`` crops for the torch-only training loop.

Source cases are cropped around the midpoint of their two labelled cochleas; target cases
(hrT2, or T2 for crossMoDA 2023 data) around the centre found by the localisation template,
which is built here from the unlabelled target images (iterated mean of template-sized patches
re-aligned by NCC).
See :mod:`crossmoda.algorithm.training.data` for the written layout.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from tqdm import tqdm

from crossmoda.algorithm.inference.frame import box_at, centre_from_labels, normalise, resample_box
from crossmoda.algorithm.inference.layout import layout_for
from crossmoda.algorithm.inference.localise import coarse_template_patch, localise
from crossmoda.algorithm.model.spec import PreprocessConfig, class_roles
from crossmoda.algorithm.training.run_index import INDEX_FILE
from crossmoda.core.cases import discover_cases, parse_case
from crossmoda.core.io import read_image
from crossmoda.core.labels import LABELS_2022, LABELS_2023
from crossmoda.core.provenance import provenance, write_json_atomic

__all__ = [
    "image_centre", "build_template", "merge_labels", "data_label_map", "target_modality", "prepare_data",
]

logger = logging.getLogger(__name__)


def image_centre(image: sitk.Image) -> tuple[float, float, float]:
    """World centre ``(x, y, z)`` mm of the image's voxel grid."""
    size = image.GetSize()
    pt = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in size])
    return (float(pt[0]), float(pt[1]), float(pt[2]))


def build_template(
    images: list[sitk.Image], cfg: PreprocessConfig, iterations: int = 2
) -> tuple[npt.NDArray[np.float32], list[tuple[float, float, float]]]:
    """Localisation template from unlabelled images cropped around the canals (``small`` preset).

    Starts from each image's centre, averages the template-sized low-resolution patches, then
    ``iterations`` times re-localises every image with the current template and re-averages.
    Returns the template ``cfg.template_shape`` in [0, 1] and the final centres (world mm).
    """
    if not images:
        raise ValueError("no images to build a template from")
    centres = [image_centre(im) for im in images]
    template = np.mean(
        [coarse_template_patch(im, c, cfg) for im, c in zip(images, centres, strict=True)], axis=0
    )
    for _ in range(iterations):
        centres = [localise(im, template.astype(np.float32), cfg)[0] for im in images]
        template = np.mean(
            [coarse_template_patch(im, c, cfg) for im, c in zip(images, centres, strict=True)], axis=0
        )
    return template.astype(np.float32), centres


def merge_labels(
    label: npt.NDArray[np.integer], aux: npt.NDArray[np.integer] | None, label_map: str = LABELS_2022.name
) -> npt.NDArray[np.uint8]:
    """Segmenter classes of ``label_map``: the ``_Label`` values as they are (2022: 1 VS,
    2 cochlea; 2023: 1 extra-, 2 intra-meatal VS, 3 cochlea), then brainstem and cerebellum from
    ``_Aux`` where no ``_Label`` value is set (2022: 3, 4; 2023: 4, 5)."""
    roles = class_roles(label_map)
    out = np.asarray(label, dtype=np.uint8).copy()
    if aux is not None:
        a = np.asarray(aux)
        free = out == 0
        out[free & (a == 1)] = roles.brainstem
        out[free & (a == 2)] = roles.cerebellum
    return out


def _crop(
    image: sitk.Image, centre: tuple[float, float, float], cfg: PreprocessConfig
) -> npt.NDArray[np.float16]:
    box = box_at(centre, cfg.spacing_mm, cfg.roi_shape)
    return normalise(resample_box(image, box), cfg.clip_percentiles).astype(np.float16)


def _crop_labels(
    label: sitk.Image, aux: sitk.Image | None, centre: tuple[float, float, float], cfg: PreprocessConfig,
    label_map: str,
) -> npt.NDArray[np.uint8]:
    box = box_at(centre, cfg.spacing_mm, cfg.roi_shape)
    lab = resample_box(label, box, label=True)
    ax = resample_box(aux, box, label=True) if aux is not None else None
    return merge_labels(lab, ax, label_map)


def _prepare_source(root: Path, out: Path, files: dict[str, Path], cfg: PreprocessConfig,
                    index: dict[str, Any]) -> None:
    """ceT1 crops centred on both cochleas, their labels (+ aux) and paired-truth target crops."""
    truth = root / "paired_truth"
    (out / "source").mkdir(parents=True, exist_ok=True)
    for case, path in tqdm(files.items(), desc="prepare source", dynamic_ncols=True):
        label = read_image(root / "source_training" / f"{case}_Label.nii.gz")
        aux_path = root / "source_training" / f"{case}_Aux.nii.gz"
        aux = read_image(aux_path) if aux_path.is_file() else None
        centre = centre_from_labels(label)
        np.save(out / "source" / f"{case}_image.npy", _crop(read_image(path), centre, cfg))
        labels = _crop_labels(label, aux, centre, cfg, index["label_map"])
        np.save(out / "source" / f"{case}_label.npy", labels)
        paired = truth / f"{case}_{target_modality(index['label_map'])}.nii.gz"
        if paired.is_file():
            np.save(out / "source" / f"{case}_truth_hrT2.npy", _crop(read_image(paired), centre, cfg))
            index["truth_hrT2"].append(case)
        index["splits"]["source"].append(case)
        index["centres"][case] = list(centre)


def _prepare_target(root: Path, out: Path, files: dict[str, Path], cfg: PreprocessConfig,
                    index: dict[str, Any]) -> None:
    """The localisation template, target crops at the localised centres and paired-truth label
    crops."""
    truth = root / "paired_truth"
    (out / "target").mkdir(parents=True, exist_ok=True)
    images = {
        case: read_image(path) for case, path in tqdm(files.items(), desc="read target", dynamic_ncols=True)
    }
    template, centres = build_template(list(images.values()), cfg)
    np.save(out / "template_hrT2.npy", template)
    for (case, image), centre in tqdm(
        zip(images.items(), centres, strict=True),
        total=len(images),
        desc="prepare target",
        dynamic_ncols=True,
    ):
        np.save(out / "target" / f"{case}_image.npy", _crop(image, centre, cfg))
        lab_path = truth / f"{case}_Label.nii.gz"
        if lab_path.is_file():
            aux_path = truth / f"{case}_Aux.nii.gz"
            aux = read_image(aux_path) if aux_path.is_file() else None
            np.save(
                out / "target" / f"{case}_truth_label.npy",
                _crop_labels(read_image(lab_path), aux, centre, cfg, index["label_map"]),
            )
            index["truth_label"].append(case)
        index["splits"]["target"].append(case)
        index["centres"][case] = list(centre)


_DATA_FILES = (("source_training", "ceT1"), ("target_training", "hrT2"), ("target_training", "T2"))


def data_label_map(root: Path) -> str:
    """The label map of a crossMoDA-layout data set, from its case names: ``crossmoda2023`` when
    every source and target case is a ``crossmoda2023_*`` case, ``crossmoda2022`` when none is
    (2021/2022 names). ``T2`` target images count as 2023 cases.

    Raises:
        ValueError: a mix of 2023 and earlier cases (the label maps differ: label 2 is the
            cochlea in 2022 and the intra-meatal tumour in 2023).
    """
    found: dict[str, list[str]] = {LABELS_2022.name: [], LABELS_2023.name: []}
    for split, modality in _DATA_FILES:
        if not (root / split).is_dir():
            continue
        for case, path in discover_cases(root / split, modality).files.items():
            is_2023 = modality == "T2" or parse_case(case).edition == 2023
            found[LABELS_2023.name if is_2023 else LABELS_2022.name].append(f"{split}/{path.name}")
    if found[LABELS_2022.name] and found[LABELS_2023.name]:
        raise ValueError(
            f"{root}: mixes crossMoDA 2023 cases ({', '.join(found[LABELS_2023.name][:3])}, ...) with "
            f"earlier ones ({', '.join(found[LABELS_2022.name][:3])}, ...); their label maps differ "
            "(2022: 1 VS, 2 cochlea; 2023: 1 extra-meatal VS, 2 intra-meatal VS, 3 cochlea): "
            "train on one edition's cases"
        )
    return LABELS_2023.name if found[LABELS_2023.name] else LABELS_2022.name


def target_modality(label_map: str) -> str:
    """The target images' modality suffix (the task's input): ``T2`` for crossMoDA 2023 data,
    else ``hrT2``."""
    return layout_for(label_map).modality


def prepare_data(
    data_dir: str | Path, out_dir: str | Path, cfg: PreprocessConfig, *, max_cases: int | None = None
) -> dict[str, Any]:
    """Write source/target crops, paired-truth crops (when present) and the localisation template.

    The label map (:func:`data_label_map`) decides the target modality and the segmenter
    classes of the label crops (:func:`merge_labels`). Returns the index written to
    ``out_dir/index.json`` (read back as :class:`~crossmoda.algorithm.training.run_index.RunIndex`).
    """
    root, out = Path(data_dir), Path(out_dir)
    label_map = data_label_map(root)
    modality = target_modality(label_map)
    src = discover_cases(root / "source_training", "ceT1").files
    tgt = discover_cases(root / "target_training", modality).files
    if max_cases is not None:
        src = dict(list(src.items())[:max_cases])
        tgt = dict(list(tgt.items())[:max_cases])
    if not src or not tgt:
        raise FileNotFoundError(
            f"{root}: needs source_training/*_ceT1 and target_training/*_{modality} images")
    index: dict[str, Any] = {
        "label_map": label_map,
        "splits": {"source": [], "target": []},
        "centres": {},
        "truth_hrT2": [],
        "truth_label": [],
    }
    _prepare_source(root, out, src, cfg, index)
    _prepare_target(root, out, tgt, cfg, index)
    index["provenance"] = provenance(
        "crossmoda-train prepare", {"data": str(root), "preprocess": cfg, "max_cases": max_cases}
    )
    write_json_atomic(out / INDEX_FILE, index)
    return index
