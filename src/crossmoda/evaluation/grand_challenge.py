"""grand-challenge.org evaluation mode: ``/input/predictions.json`` -> ``/output/metrics.json``.

Each job of ``predictions.json`` (``{"pk", "inputs", "outputs", "status"}``) is one algorithm run
on one case. The case is taken from the input image's name (``job["inputs"][i]["image"]["name"]``);
the segmentation from ``<input>/<pk>/output/images/vs-cochlea-segmentation/*.mha`` and the Koos
grade from the ``koos-grade`` output's inline value or ``<input>/<pk>/output/koos-grade.json``.

Everything in ``predictions.json`` is untrusted: ``pk`` must be a plain name, every path is
resolved (symlinks included) and must stay inside the input root, and file sizes are capped.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmoda.core.cases import IMAGE_EXTENSIONS, parse_case, parse_filename, split_extension
from crossmoda.core.errors import CaseNameError, KoosTableError
from crossmoda.core.koos import parse_grade, read_koos_csv
from crossmoda.evaluation.case import CaseConfig
from crossmoda.evaluation.runner import CaseJob, EvaluationError, build_report, discover_labels, write_outputs

__all__ = [
    "SEGMENTATION_SLUG",
    "KOOS_SLUG",
    "GrandChallengeInputs",
    "UnsafePathError",
    "safe_path",
    "parse_jobs",
    "evaluate_grand_challenge",
]

logger = logging.getLogger(__name__)

SEGMENTATION_SLUG = "vs-cochlea-segmentation"
KOOS_SLUG = "koos-grade"
MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest ``predictions.json`` read (bytes)."""
MAX_KOOS_BYTES = 64 * 1024
_PK_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UnsafePathError(ValueError):
    """A path from ``predictions.json`` leaves the input root or is not a plain name."""


@dataclass(frozen=True)
class GrandChallengeInputs:
    """Paths of grand-challenge mode (settable for tests)."""

    input_root: Path = Path("/input")
    ground_truth: Path = Path("/opt/ml/input/data/ground_truth")
    output: Path = Path("/output")


@dataclass
class ParsedJobs:
    """Case -> segmentation file / Koos grade / problem, and jobs that could not be used."""

    segmentation: dict[str, Path | None] = field(default_factory=dict)
    koos: dict[str, int | None] = field(default_factory=dict)
    problems: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    errors: list[dict[str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def safe_path(root: Path, *parts: str) -> Path:
    """``root/parts...`` resolved (symlinks followed); raises :class:`UnsafePathError` outside ``root``."""
    base = root.resolve()
    for part in parts:
        if not isinstance(part, str) or Path(part).is_absolute() or "\x00" in part:
            raise UnsafePathError(f"unsafe path component {part!r}")
    target = base.joinpath(*parts).resolve()
    if target != base and not target.is_relative_to(base):
        raise UnsafePathError(f"{'/'.join(parts)!r} resolves outside the input root")
    return target


def _case_of(job: dict[str, Any]) -> str:
    names = []
    for socket in job.get("inputs") or []:
        image = socket.get("image") if isinstance(socket, dict) else None
        if isinstance(image, dict) and isinstance(image.get("name"), str):
            names.append(image["name"])
    for name in names:
        try:
            return str(parse_filename(name).case)
        except CaseNameError:
            try:
                stem = split_extension(name)[0] if name.lower().endswith(IMAGE_EXTENSIONS) else name
                return str(parse_case(stem))
            except CaseNameError:
                continue
    raise ValueError(f"no input image with a crossMoDA case name (input names: {names})")


def _output(job: dict[str, Any], slug: str) -> dict[str, Any] | None:
    for socket in job.get("outputs") or []:
        if isinstance(socket, dict) and (socket.get("interface") or {}).get("slug") == slug:
            return socket
    return None


def _segmentation_file(root: Path, pk: str, job: dict[str, Any]) -> Path:
    socket = _output(job, SEGMENTATION_SLUG)
    relative = (socket or {}).get("interface", {}).get("relative_path") or f"images/{SEGMENTATION_SLUG}"
    folder = safe_path(root, pk, "output", *str(relative).split("/"))
    if not folder.is_dir():
        raise FileNotFoundError(f"no segmentation folder {pk}/output/{relative}")
    images = sorted(p for p in folder.iterdir() if p.name.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise FileNotFoundError(f"no image in {pk}/output/{relative}")
    chosen = safe_path(root, *images[0].relative_to(root.resolve()).parts)
    if not chosen.is_file():
        raise FileNotFoundError(f"{chosen.name} is not a regular file")
    return chosen


def _koos_grade(root: Path, pk: str, job: dict[str, Any]) -> int:
    socket = _output(job, KOOS_SLUG)
    value = socket.get("value") if socket else None
    if value is None:
        relative = (socket or {}).get("interface", {}).get("relative_path") or f"{KOOS_SLUG}.json"
        path = safe_path(root, pk, "output", *str(relative).split("/"))
        if not path.is_file():
            raise FileNotFoundError(f"no Koos output {pk}/output/{relative}")
        if path.stat().st_size > MAX_KOOS_BYTES:
            raise ValueError(f"Koos output {path.name} larger than {MAX_KOOS_BYTES} bytes")
        value = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(value, dict):
        value = value.get("grade")
    grade = parse_grade(value)
    if grade is None:
        raise ValueError("Koos prediction must be a grade 1-4, got post-operative")
    return grade


def parse_jobs(root: Path, jobs: Any) -> ParsedJobs:
    """Map the jobs of ``predictions.json`` to cases, safely; problems are recorded, not raised."""
    out = ParsedJobs()
    if not isinstance(jobs, list):
        raise EvaluationError("predictions.json must hold a list of jobs")
    for index, job in enumerate(jobs):
        pk = job.get("pk") if isinstance(job, dict) else None
        label = f"job {index} (pk {pk!r})"
        if not isinstance(job, dict) or not isinstance(pk, str) or not _PK_RE.match(pk) or pk in (".", ".."):
            out.errors.append({"case": None, "file": None, "error": f"{label}: invalid job or pk, ignored"})
            continue
        try:
            case = _case_of(job)
        except ValueError as err:
            out.errors.append({"case": None, "file": None, "error": f"{label}: {err}"})
            continue
        if case in out.segmentation or case in out.problems:
            out.notes.append(f"{case}: several jobs; {label} ignored")
            continue
        status = job.get("status")
        if status != "Succeeded":
            out.problems[case] = (f"algorithm job {pk} did not succeed (status {status!r})", None)
            continue
        try:
            out.segmentation[case] = _segmentation_file(root, pk, job)
        except (OSError, UnsafePathError) as err:
            out.problems[case] = (f"algorithm job {pk}: {err}", None)
        try:
            out.koos[case] = _koos_grade(root, pk, job)
        except (OSError, ValueError, UnsafePathError) as err:
            out.errors.append({"case": case, "file": None, "error": f"Koos output of job {pk}: {err}"})
    return out


def evaluate_grand_challenge(
    paths: GrandChallengeInputs, config: CaseConfig, workers: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Evaluate a grand-challenge ``predictions.json``; write ``metrics.json`` (+ ``metrics.csv``).

    Raises:
        EvaluationError: no ``predictions.json``, unreadable JSON, or no ground truth.
    """
    pj = paths.input_root / "predictions.json"
    if not pj.is_file():
        raise EvaluationError(f"{pj} not found")
    if pj.stat().st_size > MAX_JSON_BYTES:
        raise EvaluationError(f"{pj} is larger than {MAX_JSON_BYTES} bytes")
    try:
        jobs = json.loads(pj.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EvaluationError(f"{pj}: not valid JSON ({err})") from None
    if not paths.ground_truth.is_dir():
        raise EvaluationError(f"ground-truth folder {paths.ground_truth} does not exist")
    truth = discover_labels(paths.ground_truth)
    if not truth.files:
        raise EvaluationError(f"no ground-truth label maps in {paths.ground_truth}")
    parsed = parse_jobs(paths.input_root, jobs)
    case_jobs = []
    for case, ref in truth.files.items():
        problem = parsed.problems.get(case)
        case_jobs.append(CaseJob(case, ref, parsed.segmentation.get(case),
                                 problem=problem[0] if problem else None,
                                 problem_file=problem[1] if problem else None))
    seen = {*parsed.segmentation, *parsed.problems}
    extra = sorted((c for c in seen if c not in truth.files), key=parse_case)
    errors = list(parsed.errors)
    koos_ref = None
    koos_csv = paths.ground_truth / "koos.csv"
    if koos_csv.is_file():
        try:
            koos_ref = read_koos_csv(koos_csv)
        except KoosTableError as err:
            errors.append({"case": None, "file": str(koos_csv), "error": f"Koos reference: {err.problem}"})
    report = build_report(
        case_jobs, config, workers=workers, extra=extra, errors=errors, koos_reference=koos_ref,
        koos_prediction=parsed.koos, notes=parsed.notes, progress=progress,
    )
    run_config = {"mode": "grand-challenge", "input_root": paths.input_root,
                  "ground_truth": paths.ground_truth, "workers": workers}
    return write_outputs(paths.output, report, config, run_config)
