"""Run an evaluation: score case jobs in parallel, aggregate, and write ``metrics.json``/``.csv``.

The output layout is the one agreed in ``docs/contracts.md`` (read by the ranking).
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from crossmoda.core.cases import Discovery, discover_cases, parse_case
from crossmoda.core.cli import env_int
from crossmoda.core.errors import KoosTableError
from crossmoda.core.koos import read_koos_csv
from crossmoda.core.metrics_spec import METRICS
from crossmoda.core.provenance import provenance, write_json_atomic, write_text_atomic
from crossmoda.evaluation.case import CaseConfig, CaseResult, evaluate_case, worst_values
from crossmoda.evaluation.koos import koos_metrics
from crossmoda.evaluation.pool import run_isolated

__all__ = [
    "WORKERS_ENV",
    "CaseJob",
    "Report",
    "EvaluationError",
    "resolve_workers",
    "discover_labels",
    "RunStats",
    "run_jobs",
    "aggregate",
    "build_report",
    "write_outputs",
    "load_koos",
]

logger = logging.getLogger(__name__)

WORKERS_ENV = "CROSSMODA_EVAL_WORKERS"
"""Environment variable capping the number of worker processes."""


class EvaluationError(Exception):
    """No valid evaluation is possible (e.g. no ground truth); the message says why."""


@dataclass(frozen=True)
class CaseJob:
    """One case to score.

    Attributes:
        case: Case name.
        reference: Ground-truth label file.
        prediction: Prediction label file, or ``None`` when there is none.
        problem: Why the prediction is unusable before reading it (failed job, unsafe path...).
    """

    case: str
    reference: Path
    prediction: Path | None
    problem: str | None = None
    problem_file: str | None = None


@dataclass
class Report:
    """Everything written to ``metrics.json`` (see ``docs/contracts.md``)."""

    results: list[CaseResult]
    columns: list[str]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    errors: list[dict[str, str | None]] = field(default_factory=list)
    koos_reference: Mapping[str, int | None] | None = None
    koos_prediction: Mapping[str, int | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    retried: int = 0


def resolve_workers(requested: int | None = None) -> int:
    """Worker count: ``requested``, else ``$CROSSMODA_EVAL_WORKERS``, else the CPU count (max 8)."""
    if requested is None:
        requested = env_int(WORKERS_ENV, default=min(os.cpu_count() or 1, 8))
    return max(1, int(requested or 1))


def discover_labels(folder: Path, *, trusted: bool = False) -> Discovery:
    """Label files of ``folder``: ``<case>_Label.<ext>`` first, then 2023-style ``<case>.<ext>``.

    ``trusted`` (the organiser's ground truth) accepts entries that are links to regular files;
    otherwise (predictions) links are refused (:func:`crossmoda.core.cases.discover_cases`).
    """
    found = discover_cases(folder, "Label", trusted=trusted)
    bare = discover_cases(folder, None, trusted=trusted)
    for case, entry in bare.refused.items():
        found.refused.setdefault(case, entry)
    for case, path in bare.files.items():
        if case in found.files:
            found.duplicates.setdefault(case, [found.files[case]]).append(path)
        else:
            found.files[case] = path
    ignored_bare = {p for p, _ in bare.ignored}
    found.ignored = [(p, r) for p, r in found.ignored if p in ignored_bare]
    found.files = dict(sorted(found.files.items(), key=lambda kv: parse_case(kv[0])))
    return found


def _run_one(job: CaseJob, config: CaseConfig) -> CaseResult:
    if job.problem is not None:
        result = CaseResult(case=job.case, values=worst_values(config), error=job.problem)
        result.error_file = job.problem_file
        return result
    return evaluate_case(job.case, job.prediction, job.reference, config)


@dataclass
class RunStats:
    """What :func:`run_jobs` had to do besides scoring: cases retried after a worker died, and
    the cases whose worker died (scored worst with an error)."""

    retried: int = 0
    died: list[str] = field(default_factory=list)


def _worker_died(job: CaseJob, config: CaseConfig) -> CaseResult:
    return CaseResult(case=job.case, values=worst_values(config),
                      error="the evaluation worker died on this case (killed, e.g. out of memory, "
                            "or crashed); scored worst", error_file=str(job.prediction or job.reference))


def run_jobs(
    jobs: Sequence[CaseJob], config: CaseConfig, workers: int = 1, progress: bool = True,
    stats: RunStats | None = None,
) -> list[CaseResult]:
    """Score every job (in ``workers`` processes when > 1), in job order, with a progress bar.

    A worker that dies (e.g. killed for memory) fails only its own case: the other unfinished
    cases are retried in a fresh pool (:mod:`crossmoda.evaluation.pool`); ``stats`` receives
    how many were retried and which died.
    """
    stats = stats if stats is not None else RunStats()
    if workers <= 1 or len(jobs) <= 1:
        return [_run_one(j, config) for j in tqdm(jobs, desc="cases", unit="case", disable=not progress)]
    bar = tqdm(total=len(jobs), desc="cases", unit="case", disable=not progress)

    def tick() -> None:
        bar.update(1)

    run = run_isolated(functools.partial(_run_one, config=config), jobs, workers,
                       on_death=lambda i: _worker_died(jobs[i], config), progress=tick)
    bar.close()
    stats.retried += run.retried
    stats.died += [jobs[i].case for i in run.died]
    if run.retried:
        logger.warning("%d cases retried after an evaluation worker died; failed with it: %s",
                       run.retried, [jobs[i].case for i in run.died])
    return [run.results[i] for i in range(len(jobs))]


def aggregate(results: Sequence[CaseResult], columns: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per column: mean, std (sample, ddof=1; 0 for one case), median, 25pc, 75pc over all cases
    (failed and missing cases included with their worst values)."""
    out: dict[str, dict[str, float]] = {}
    for col in columns:
        v = np.asarray([r.values[col] for r in results], dtype=np.float64)
        if v.size == 0:
            continue
        out[col] = {
            "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "median": float(np.median(v)),
            "25pc": float(np.percentile(v, 25)),
            "75pc": float(np.percentile(v, 75)),
        }
    return out


def load_koos(
    reference: Path | None, prediction: Path | None, errors: list[dict[str, str | None]]
) -> tuple[dict[str, int | None] | None, dict[str, int | None]]:
    """Read the Koos tables; a bad reference table disables Koos scoring, a bad prediction table
    (unreadable, duplicated columns) scores every case as missing, a bad prediction row (not
    UTF-8, bad case or grade) scores its case as missing. Problems are appended to ``errors``."""
    ref: dict[str, int | None] | None = None
    pred: dict[str, int | None] = {}
    if reference is not None:
        try:
            ref = read_koos_csv(reference, untrusted=False)
        except KoosTableError as err:
            errors.append({"case": None, "file": str(reference), "error": f"Koos reference: {err.problem}"})
    if ref is not None and prediction is not None:
        rows: list[str] = []
        try:
            pred = read_koos_csv(prediction, row_errors=rows)
        except KoosTableError as err:
            errors.append(
                {"case": None, "file": str(prediction), "error": f"Koos predictions: {err.problem}"}
            )
        errors.extend({"case": None, "file": str(prediction), "error": f"Koos predictions: {row}"}
                      for row in rows)
    return ref, pred


def build_report_dict(report: Report, config: CaseConfig, run_config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` content."""
    metric_names = [m for m in config.metrics]
    aggregates: dict[str, Any] = aggregate(report.results, report.columns)
    koos_block: dict[str, Any] = {}
    koos_lists: dict[str, list[str]] = {}
    if report.koos_reference is not None:
        kr = koos_metrics(report.koos_reference, report.koos_prediction)
        koos_block = kr.per_case
        if kr.metrics:
            aggregates["Koos"] = kr.metrics
            metric_names += ["MA_MAE", "macro_F1", "accuracy"]
        koos_lists = {"koos_missing": kr.missing, "koos_extra": kr.extra, "koos_excluded": kr.excluded}
    errors = [
        {"case": r.case, "file": r.error_file, "error": r.error}
        for r in report.results
        if r.error is not None and r.case not in report.missing
    ] + report.errors
    return {
        "case": {r.case: r.values for r in report.results},
        "aggregates": aggregates,
        "koos": koos_block,
        "metric_specs": {m: METRICS[m].to_dict() for m in metric_names},
        "missing": report.missing,
        "extra": report.extra,
        "errors": errors,
        **koos_lists,
        "notes": report.notes,
        "retried_cases": report.retried,
        "seconds": {r.case: round(r.seconds, 4) for r in report.results},
        "provenance": provenance("crossmoda-evaluate", {**run_config, "case_config": config.to_dict()}),
    }


def build_report(
    jobs: Sequence[CaseJob], config: CaseConfig, *, workers: int, extra: Sequence[str] = (),
    errors: Sequence[dict[str, str | None]] = (), koos_reference: Mapping[str, int | None] | None = None,
    koos_prediction: Mapping[str, int | None] | None = None, notes: Sequence[str] = (),
    progress: bool = True,
) -> Report:
    """Score ``jobs`` and collect a :class:`Report`; raises :class:`EvaluationError` when empty."""
    if not jobs:
        raise EvaluationError("no ground-truth cases to evaluate")
    stats = RunStats()
    results = run_jobs(jobs, config, workers=workers, progress=progress, stats=stats)
    notes = list(notes)
    if stats.retried:
        notes.append(f"{stats.retried} cases were retried after an evaluation worker died; "
                     f"the worker died on {stats.died}")
    return Report(
        results=results, columns=config.columns(),
        missing=[j.case for j in jobs if j.prediction is None and j.problem is None],
        extra=list(extra), errors=list(errors), koos_reference=koos_reference,
        koos_prediction=dict(koos_prediction or {}), notes=notes, retried=stats.retried,
    )


def write_outputs(
    output: Path, report: Report, config: CaseConfig, run_config: Mapping[str, Any],
    json_name: str = "metrics.json",
) -> dict[str, Any]:
    """Write ``metrics.json`` and ``metrics.csv`` atomically into ``output``; return the JSON dict."""
    data = build_report_dict(report, config, run_config)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["case", *report.columns])
    for r in report.results:
        writer.writerow([r.case, *(repr(float(r.values[c])) for c in report.columns)])
    write_text_atomic(output / "metrics.csv", buf.getvalue())
    write_json_atomic(output / json_name, data)
    return data
