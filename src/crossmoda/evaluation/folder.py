"""Folder mode: ``--predictions DIR --ground-truth DIR --output DIR``.

Predictions are matched to references by full case name (``<case>_Label.<ext>`` or 2023-style
``<case>.<ext>``), never by position or by the first integer in a name. The predictions folder
is untrusted (:mod:`crossmoda.core.untrusted`): an entry named like a case that is a symbolic
link or special file is that case's error (scored worst, named in ``errors``), never read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmoda.evaluation.case import CaseConfig
from crossmoda.evaluation.runner import (
    CaseJob,
    EvaluationError,
    build_report,
    discover_labels,
    load_koos,
    write_outputs,
)

__all__ = ["FolderInputs", "evaluate_folder"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderInputs:
    """Inputs of folder mode.

    Attributes:
        predictions: Folder of predicted label maps.
        ground_truth: Folder of reference label maps (and, by default, ``koos.csv``).
        output: Folder receiving ``metrics.json`` and ``metrics.csv``.
        koos_predictions: ``case,class`` CSV; default ``predictions/predictions.csv`` if present.
        koos_truth: ``case,class`` CSV; default ``ground_truth/koos.csv`` if present.
    """

    predictions: Path
    ground_truth: Path
    output: Path
    koos_predictions: Path | None = None
    koos_truth: Path | None = None


def _default(path: Path | None, fallback: Path) -> Path | None:
    if path is not None:
        return path
    return fallback if fallback.is_file() else None


def evaluate_folder(
    inputs: FolderInputs, config: CaseConfig, workers: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Evaluate a folder of predictions against a folder of references; write the outputs.

    Returns:
        The ``metrics.json`` content.

    Raises:
        EvaluationError: when no valid evaluation is possible (no ground-truth folder or cases).
    """
    if not inputs.ground_truth.is_dir():
        raise EvaluationError(f"ground-truth folder {inputs.ground_truth} does not exist")
    truth = discover_labels(inputs.ground_truth, trusted=True)
    if not truth.files:
        raise EvaluationError(
            f"no ground-truth label maps (<case>_Label.nii.gz, .mha, ...) in {inputs.ground_truth}"
        )
    notes: list[str] = []
    errors: list[dict[str, str | None]] = []
    if inputs.predictions.is_dir():
        preds = discover_labels(inputs.predictions)
    else:
        preds = None
        errors.append({"case": None, "file": str(inputs.predictions), "error": "predictions folder missing"})
    pred_files = preds.files if preds is not None else {}
    if preds is not None:
        for case, paths in preds.duplicates.items():
            notes.append(f"{case}: several prediction files {[p.name for p in paths]}; used {paths[0].name}")
        for path, reason in preds.ignored:
            if path.name not in ("predictions.csv", "predictions.json"):
                notes.append(f"ignored {path.name}: {reason}")
    refused = preds.refused if preds is not None else {}
    jobs = []
    for case, ref in truth.files.items():
        if case in refused:  # a link or special file named like the case: never read
            path, reason = refused[case]
            jobs.append(CaseJob(case, ref, None, problem=f"prediction: {path.name} {reason}; not read",
                                problem_file=str(path)))
        else:
            jobs.append(CaseJob(case, ref, pred_files.get(case)))
    extra = [c for c in {**pred_files, **refused} if c not in truth.files]
    koos_truth = _default(inputs.koos_truth, inputs.ground_truth / "koos.csv")
    koos_pred = _default(inputs.koos_predictions, inputs.predictions / "predictions.csv")
    koos_ref, koos_prediction = load_koos(koos_truth, koos_pred, errors)
    if koos_ref is not None and koos_pred is None:
        notes.append("no Koos predictions given: every Koos case is scored as missing")
    report = build_report(
        jobs, config, workers=workers, extra=extra, errors=errors, koos_reference=koos_ref,
        koos_prediction=koos_prediction, notes=notes, progress=progress,
    )
    run_config = {
        "mode": "folder", "predictions": inputs.predictions, "ground_truth": inputs.ground_truth,
        "koos_predictions": koos_pred, "koos_truth": koos_truth, "workers": workers,
    }
    data = write_outputs(inputs.output, report, config, run_config)
    logger.info("wrote %s (%d cases, %d missing, %d errors)", inputs.output / "metrics.json",
                len(report.results), len(data["missing"]), len(data["errors"]))
    return data
