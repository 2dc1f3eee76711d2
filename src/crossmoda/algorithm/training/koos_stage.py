"""The chain's Koos stage: the final model's predictions, post-processed as inference does,
become the training inputs of the Koos grader (:mod:`crossmoda.algorithm.koos.train`)."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from crossmoda.algorithm.inference.frame import box_at
from crossmoda.algorithm.inference.postprocess import clean_labels
from crossmoda.algorithm.inference.predict import load_model, predict_case, predict_crop
from crossmoda.algorithm.model.spec import KOOS_MODEL_FILE
from crossmoda.algorithm.training.config import TrainConfig
from crossmoda.algorithm.training.run_index import RunIndex
from crossmoda.algorithm.training.stages import from_main, on_main, run_stage, stage_done
from crossmoda.core.labels import LABELS_2023

__all__ = ["write_koos_inputs", "run_koos"]

logger = logging.getLogger(__name__)


def write_koos_inputs(data_dir: Path, run_dir: Path, device: str) -> dict[str, Path]:
    """Predictions of ``RUN/model`` for the Koos grader: source cases on their (pseudo-)hrT2 crops
    (combined map 1-4 + the crop image, crop grid; cleaned by
    :func:`~crossmoda.algorithm.inference.postprocess.clean_labels` with the crop, the cochlea
    refined as at inference) and validation cases through :func:`predict_case` (``_Label`` +
    ``_Aux`` on the input grid)."""
    import SimpleITK as sitk

    from crossmoda.core.cases import discover_cases
    from crossmoda.core.io import read_image, write_image

    data = run_dir / "data"
    index = RunIndex.read(data)
    model = load_model(run_dir / "model", device=device)
    pre = model.spec.preprocess
    out = {
        "labels": run_dir / "koos_inputs" / "source_labels",
        "images": run_dir / "koos_inputs" / "source_images",
        "validation_labels": run_dir / "koos_inputs" / "validation_labels",
    }
    image_split = "pseudo" if (data / "pseudo").is_dir() else "source"
    for case in index.source:
        crop = np.load(data / image_split / f"{case}_image.npy").astype(np.float32)
        labels = clean_labels(predict_crop(model, crop), pre.spacing_mm, image=crop,
                              spec=model.spec.postprocess).combined()
        ref = box_at(index.centres[case], pre.spacing_mm, pre.roi_shape).reference()
        for array, folder, name in ((labels, out["labels"], "Label"), (crop, out["images"], "hrT2")):
            img = sitk.GetImageFromArray(array)
            img.CopyInformation(ref)
            write_image(img, folder / f"{case}_{name}.nii.gz")
    val_dir = data_dir / "validation"
    val_images = discover_cases(val_dir, "hrT2").files if val_dir.is_dir() else {}
    for case, path in val_images.items():
        pred = predict_case(read_image(path), model)
        write_image(pred.label_image(), out["validation_labels"] / f"{case}_Label.nii.gz")
        write_image(pred.aux_image(), out["validation_labels"] / f"{case}_Aux.nii.gz")
    return out


def _fit(stage: Path, data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    from crossmoda.algorithm.koos.train import KoosTrainConfig, train_koos

    t0 = time.perf_counter()
    inputs = write_koos_inputs(data_dir, run_dir, cfg.device)
    val = inputs["validation_labels"] if inputs["validation_labels"].is_dir() else None
    summary = train_koos(KoosTrainConfig(data=data_dir, output=stage, labels=inputs["labels"],
                                         images=inputs["images"], validation_labels=val, seed=cfg.seed))
    shutil.copyfile(stage / KOOS_MODEL_FILE, run_dir / "model" / KOOS_MODEL_FILE)
    wanted = ("feature_set", "feature_selection_cv_ma_mae", "cross_validation", "validation")
    keep: dict[str, Any] = {k: summary[k] for k in wanted if k in summary}
    return {"seconds": time.perf_counter() - t0, **keep}


def run_koos(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Stage 4: fit the Koos grader on the final model's predictions (rank 0);
    ``RUN/koos/koos_model.json`` is copied into ``RUN/model``. Skipped with a log line when the
    data set has no source grades (``infos_source_training.csv``) and for crossMoDA 2023 models
    (the 2023 task has no Koos grade)."""
    if cfg.label_map == LABELS_2023.name:
        logger.info("koos: the crossMoDA 2023 task has no Koos grade, skipping")
        return {"skipped": "crossmoda2023 task (no Koos grade)"}
    if from_main(lambda: stage_done(run_dir / "koos") is None
                 and not (data_dir / "infos_source_training.csv").is_file()):
        logger.info("koos: %s has no infos_source_training.csv (grades), skipping", data_dir)
        return {"skipped": "no source grades"}
    return run_stage(run_dir, "koos",
                     lambda stage: on_main(lambda: _fit(stage, data_dir, run_dir, cfg)) or {})
