"""Run a case predictor over an input folder: crossMoDA folder mode or a grand-challenge job.

This module only handles files: discovery, per-case isolation of failures, output layout,
predictions tables and provenance. The model work is behind
:class:`~crossmoda.algorithm.inference.case_output.CasePredictor`; what is read and written
follows the model's task (:mod:`crossmoda.algorithm.inference.layout`).

Folder mode (crossMoDA container conventions)::

    2022: /input/<case>_hrT2.nii.gz -> /output/<case>_Label.nii.gz (1 VS, 2 cochlea; input geometry)
                                       /output/predictions.csv     (case,class: Koos)
    2023: /input/<case>_T2.nii.gz   -> /output/<case>.nii.gz       (1 extra-, 2 intra-meatal VS, 3 cochlea)
    both:                              /output/predictions.json    (probabilities, timings, errors)

A case image of the other task (``_T2`` for a 2022 model, ``_hrT2`` or a 2022 case name for a
2023 model) is a failure of that case with a message saying which model it needs.

Grand-challenge mode::

    2022: /input/inputs.json, /input/images/hrt2-mri/<any>.mha
        -> /output/images/vs-cochlea-segmentation/output.mha, /output/koos-grade.json
    2023: /input/inputs.json, /input/images/t2-mri/<any>.mha
        -> /output/images/vs-cochlea-segmentation/output.mha
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import SimpleITK as sitk
from tqdm.auto import tqdm

from crossmoda.algorithm.inference.case_output import CaseOutput, CasePredictor
from crossmoda.algorithm.inference.layout import LAYOUT_2022, TASK_LAYOUTS, TaskLayout
from crossmoda.core.cases import IMAGE_EXTENSIONS, discover_cases, parse_filename
from crossmoda.core.errors import CrossmodaError
from crossmoda.core.io import Geometry, read_image, write_label_map, write_label_map_like
from crossmoda.core.koos import write_koos_csv
from crossmoda.core.provenance import provenance, write_json_atomic
from crossmoda.core.untrusted import list_untrusted, read_untrusted_bytes

__all__ = [
    "GC_INPUT_SLUG",
    "GC_OUTPUT_SLUG",
    "Mode",
    "RunSummary",
    "detect_mode",
    "run_folder",
    "run_grand_challenge",
]

logger = logging.getLogger(__name__)

GC_INPUT_SLUG = LAYOUT_2022.gc_input_slug
GC_OUTPUT_SLUG = LAYOUT_2022.gc_output_slug
GC_KOOS_FILE = "koos-grade.json"
MAX_INPUTS_JSON_BYTES = 1 << 20
Mode = Literal["auto", "folder", "grand-challenge"]


@dataclass
class RunSummary:
    """Outcome of a run: per-case records and the cases that failed (case -> message)."""

    mode: str
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def detect_mode(input_dir: Path) -> Literal["folder", "grand-challenge"]:
    """``grand-challenge`` when ``inputs.json`` or ``images/<slug>/`` (any task's input socket) is
    present, else ``folder``."""
    if (input_dir / "inputs.json").is_file() or any(
        (input_dir / "images" / t.gc_input_slug).is_dir() for t in TASK_LAYOUTS.values()
    ):
        return "grand-challenge"
    return "folder"


def _predict_one(
    path: Path, predictor: CasePredictor, layout: TaskLayout = LAYOUT_2022
) -> tuple[sitk.Image, CaseOutput, float]:
    start = time.perf_counter()
    image = read_image(path, untrusted=True)
    output = predictor(image)
    geometry = Geometry.from_image(image)
    if output.labels.shape != geometry.shape:
        raise CrossmodaError(path, f"predictor gave shape {output.labels.shape}, input is {geometry.shape}")
    if layout.koos and output.koos_grade not in (1, 2, 3, 4):
        raise CrossmodaError(path, f"predictor returned Koos grade {output.koos_grade!r}")
    bad = layout.labels.invalid_values(output.labels)
    if bad:
        raise CrossmodaError(path, f"predictor wrote label values {bad}, not in {layout.task}")
    return image, output, time.perf_counter() - start


def _other_task_cases(ignored: list[tuple[Path, str]], layout: TaskLayout) -> dict[str, str]:
    """Case images among the ignored files that a model of ``layout`` must not predict: another
    task's modality (file name -> message naming the model it needs)."""
    refused = {}
    for path, _ in ignored:
        try:
            parsed = parse_filename(path)
        except CrossmodaError:
            continue
        problem = layout.case_problem(parsed)
        if problem is not None:
            refused[path.name] = problem
    return refused


def run_folder(
    input_dir: Path, output_dir: Path, predictor: CasePredictor, config: Any = None,
    layout: TaskLayout = LAYOUT_2022,
) -> RunSummary:
    """Predict every ``<case>_<modality>`` image of ``input_dir`` into ``output_dir`` (file names,
    labels and Koos output after ``layout``, the model's task).

    Every entry of ``input_dir`` is untrusted (:mod:`crossmoda.core.untrusted`): a case whose
    file is a symbolic link, a FIFO or another special file is never read, it is that case's
    error. A failing case (refused, unreadable, truncated, not 3D, a 2D or too coarse grid,
    non-finite, no canals found by a 2023 model, predictor error, an image or case name of the
    other task) is logged, recorded and skipped; the others are still processed and their
    outputs kept.
    """
    found = discover_cases(input_dir, layout.modality)
    refused = {case: f"{path.name} {reason}" for case, (path, reason) in found.refused.items()
               if case not in found.files}
    refused_paths = {path for path, _ in found.refused.values()}
    ignored = [(p, r) for p, r in found.ignored if p not in refused_paths]
    other = _other_task_cases(ignored, layout)
    summary = RunSummary(mode="folder", failures={**refused, **other},
                         ignored=[p.name for p, _ in ignored if p.name not in other])
    for name in summary.ignored:
        logger.info("ignoring %s (not a %s case image)", name, layout.modality)
    for case, message in refused.items():
        logger.error("case %s failed: %s", case, message)
    for name, message in other.items():
        logger.error("%s refused: %s", name, message)
    if not found.files and not refused:
        logger.error("no <case>_%s images in %s", layout.modality, input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    grades: dict[str, int | None] = {}
    bar = tqdm(found.files.items(), desc="cases", unit="case")
    for case, path in bar:
        bar.set_postfix_str(case)
        try:
            problem = layout.case_problem(parse_filename(path))
            if problem is not None:
                raise CrossmodaError(path, problem)
            image, out, seconds = _predict_one(path, predictor, layout)
            write_label_map_like(out.labels, path, output_dir / layout.output_name(case), layout.labels)
        except Exception as err:  # one case must never stop the others
            message = str(err) if isinstance(err, CrossmodaError) else f"{type(err).__name__}: {err}"
            logger.error("case %s failed: %s", case, message)
            summary.failures[case] = message
            continue
        grades[case] = out.koos_grade
        summary.cases[case] = {
            "input": path.name, "class": out.koos_grade, "probabilities": out.koos_probabilities,
            "seconds": seconds, "timings_s": out.timings_s, **out.extra,
        }
    if layout.koos:
        write_koos_csv(output_dir / "predictions.csv", grades)
    write_json_atomic(output_dir / "predictions.json", {
        "cases": summary.cases, "failures": summary.failures, "ignored": summary.ignored,
        "provenance": provenance("crossmoda-algorithm", config),
    })
    return summary


def _gc_input_image(input_dir: Path, layout: TaskLayout = LAYOUT_2022) -> Path:
    """The input image of a grand-challenge job (via ``inputs.json`` when it names one).

    The folder's entries are untrusted: a link or special file is refused, never read.

    Raises:
        CrossmodaError: no image, a refused entry, or only an input socket of the other task.
    """
    folder = input_dir / "images" / layout.gc_input_slug
    inputs_json = input_dir / "inputs.json"
    if inputs_json.is_file() or inputs_json.is_symlink():
        try:
            sockets = json.loads(read_untrusted_bytes(inputs_json, MAX_INPUTS_JSON_BYTES))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
            raise CrossmodaError(inputs_json, f"invalid JSON: {err}") from None
        for socket in sockets if isinstance(sockets, list) else []:
            interface = socket.get("interface") if isinstance(socket, dict) else None
            if not isinstance(interface, dict):
                continue
            relative = interface.get("relative_path")
            if interface.get("slug") == layout.gc_input_slug and isinstance(relative, str):
                folder = input_dir / relative
    if not folder.is_dir():
        for other in TASK_LAYOUTS.values():
            wrong = input_dir / "images" / other.gc_input_slug
            if other is not layout and wrong.is_dir():
                raise CrossmodaError(wrong, str(layout.gc_problem(other.gc_input_slug, wrong)))
    if not folder.resolve().is_relative_to(input_dir.resolve()):
        raise CrossmodaError(folder, "input path escapes the input folder")
    files, refused = list_untrusted(folder)
    for path, reason in refused:
        if path.name.lower().endswith(IMAGE_EXTENSIONS):
            raise CrossmodaError(path, reason)
    images = [p for p in files if p.name.lower().endswith(IMAGE_EXTENSIONS)]
    if not images:
        raise CrossmodaError(folder, f"no {layout.modality} image ({', '.join(IMAGE_EXTENSIONS)}) found")
    if len(images) > 1:
        logger.warning("several images in %s; using %s", folder, images[0].name)
    return images[0]


def run_grand_challenge(
    input_dir: Path, output_dir: Path, predictor: CasePredictor, config: Any = None,
    layout: TaskLayout = LAYOUT_2022,
) -> RunSummary:
    """Predict the single image of a grand-challenge algorithm job (sockets after ``layout``)."""
    summary = RunSummary(mode="grand-challenge")
    try:
        path = _gc_input_image(input_dir, layout)
        image, out, seconds = _predict_one(path, predictor, layout)
    except Exception as err:
        message = str(err) if isinstance(err, CrossmodaError) else f"{type(err).__name__}: {err}"
        logger.error("job failed: %s", message)
        summary.failures["job"] = message
        return summary
    seg = output_dir / "images" / layout.gc_output_slug / "output.mha"
    write_label_map(out.labels, image, seg, layout.labels)
    if layout.koos:
        write_json_atomic(output_dir / GC_KOOS_FILE, {
            "grade": out.koos_grade, "probabilities": out.koos_probabilities,
        })
    summary.cases[path.name] = {
        "class": out.koos_grade, "probabilities": out.koos_probabilities, "seconds": seconds,
        "timings_s": out.timings_s,
    }
    koos_note = f" and {output_dir / GC_KOOS_FILE}" if layout.koos else ""
    logger.info("wrote %s%s (%.1f s)", seg, koos_note, seconds)
    return summary
