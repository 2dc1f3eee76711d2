"""One callable per model folder: hrT2 image -> labels on its grid + Koos grade (2022 models), or
T2 image -> labels 1/2/3 on its grid (2023 models: the 2023 task has no Koos grading).

Joins the segmentation API (:mod:`crossmoda.algorithm.inference.predict`) and the Koos grader
(:mod:`crossmoda.algorithm.koos`) into the :class:`~crossmoda.algorithm.inference.case_output.CasePredictor`
the container runner drives. A model folder holds the segmenter files described in
:mod:`crossmoda.algorithm.inference.predict` plus ``koos_model.json`` (the grader, plain JSON).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from crossmoda.algorithm.inference.case_output import CaseOutput, CasePredictor
from crossmoda.algorithm.inference.predict import Model, load_model, predict_case
from crossmoda.algorithm.koos.model import KoosModel, load_koos_model, predict_koos
from crossmoda.algorithm.model.spec import KOOS_MODEL_FILE, ModelError
from crossmoda.core.io import Geometry
from crossmoda.core.labels import LABELS_2023

__all__ = ["Segment", "SegmentAndGrade", "make_case_predictor"]


class SegmentAndGrade:
    """Segment one hrT2 image, then grade its Koos from the predicted structures and the image."""

    def __init__(self, model: Model, koos: KoosModel, tta: bool = False) -> None:
        self.model = model
        self.koos = koos
        self.tta = tta

    def __call__(self, image: sitk.Image) -> CaseOutput:
        """Labels (1 VS, 2 cochlea) on the input grid, Koos grade and probabilities, timings."""
        pred = predict_case(image, self.model, tta=self.tta)
        start = time.perf_counter()
        array = sitk.GetArrayViewFromImage(image)
        koos = predict_koos(pred.labels, pred.aux, np.asarray(array, dtype=np.float32),
                            Geometry.from_image(image).spacing_mm, self.koos)
        timings = dict(pred.timings_s)
        timings["koos"] = time.perf_counter() - start
        timings["total"] = timings.get("total", 0.0) + timings["koos"]
        return CaseOutput(
            labels=pred.labels,
            koos_grade=koos.grade,
            koos_probabilities=list(koos.probabilities),
            timings_s=timings,
            extra={"vs_probability": pred.vs_probability, "localisation": pred.localisation,
                   "koos_features": koos.features},
        )


class Segment:
    """Segment one image without grading (a 2023 model: labels 1/2/3, no Koos task)."""

    def __init__(self, model: Model, tta: bool = False) -> None:
        self.model = model
        self.tta = tta

    def __call__(self, image: sitk.Image) -> CaseOutput:
        """Labels in the model's label map on the input grid, no Koos grade, timings."""
        pred = predict_case(image, self.model, tta=self.tta)
        return CaseOutput(labels=pred.labels, koos_grade=None, koos_probabilities=[],
                          timings_s=dict(pred.timings_s),
                          extra={"vs_probability": pred.vs_probability, "localisation": pred.localisation})


def make_case_predictor(
    model_dir: str | Path, device: str = "auto", tta: bool = False, cochlea_refine_mm: float | None = None
) -> tuple[CasePredictor, str]:
    """Load a model folder (segmenter + Koos grader) once; return the predictor and its device.
    ``cochlea_refine_mm`` overrides the model's post-processing setting when given. A 2023 model
    (``label_map`` ``crossmoda2023``) needs no Koos grader and gets a :class:`Segment`.

    Raises:
        ModelError: the folder is not a valid model for this code (the message says why).
    """
    root = Path(model_dir)
    model = load_model(root, device=device)
    if cochlea_refine_mm is not None:
        if cochlea_refine_mm < 0:
            raise ValueError(f"cochlea_refine_mm must be >= 0, got {cochlea_refine_mm}")
        model.spec.postprocess = replace(model.spec.postprocess, cochlea_refine_mm=cochlea_refine_mm)
    if model.spec.label_map == LABELS_2023.name:
        return Segment(model, tta=tta), str(model.device)
    koos_path = root / KOOS_MODEL_FILE
    if not koos_path.is_file():
        raise ModelError(root, f"{KOOS_MODEL_FILE} missing: the model folder has no Koos grader")
    try:
        koos = load_koos_model(koos_path)
    except (ValueError, KeyError, TypeError) as err:
        raise ModelError(koos_path, f"invalid Koos grader: {err}") from None
    return SegmentAndGrade(model, koos, tta=tta), str(model.device)
