"""grand-challenge.org evaluation mode: ``/input/predictions.json`` -> ``/output/metrics.json``.

Each job of ``predictions.json`` (``{"pk", "inputs", "outputs", "status"}``) is one algorithm run
on one case. The case is taken from the input image's name (``job["inputs"][i]["image"]["name"]``);
the segmentation from ``<input>/<pk>/output/images/vs-cochlea-segmentation/*.mha`` and the Koos
grade from the ``koos-grade`` output's inline value or ``<input>/<pk>/output/koos-grade.json``.

Everything in ``predictions.json`` is untrusted: ``pk`` must be a plain name, every path is
resolved (symlinks included) and must stay inside the input root, files are opened through
:mod:`crossmoda.core.untrusted` (links and special files refused), sizes are capped, and a job of
the wrong shape or with several segmentation images is that job's error.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmoda.core.cases import IMAGE_EXTENSIONS, parse_case, parse_filename, split_extension
from crossmoda.core.errors import CaseNameError, CrossmodaError, KoosTableError
from crossmoda.core.koos import parse_grade, read_koos_csv
from crossmoda.core.untrusted import UntrustedFileError, list_untrusted, read_untrusted_bytes
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


class JobFormatError(ValueError):
    """A job of ``predictions.json`` does not have the documented shape."""


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JobFormatError(f"{what} must be an object, got {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise JobFormatError(f"{what} must be a list, got {type(value).__name__}")
    return value


def _case_of(job: dict[str, Any]) -> str:
    names = []
    for socket in _list(job.get("inputs"), "inputs"):
        image = socket.get("image") if isinstance(socket, dict) else None
        if isinstance(image, dict) and isinstance(image.get("name"), str):
            names.append(image["name"][:300])
    for name in names:
        try:
            return str(parse_filename(name).case)
        except CaseNameError:
            try:
                stem = split_extension(name)[0] if name.lower().endswith(IMAGE_EXTENSIONS) else name
                return str(parse_case(stem))
            except CaseNameError:
                continue
    raise JobFormatError(f"no input image with a crossMoDA case name (input names: {names[:5]})")


def _output(job: dict[str, Any], slug: str) -> dict[str, Any] | None:
    for socket in _list(job.get("outputs"), "outputs"):
        if not isinstance(socket, dict):
            raise JobFormatError(f"an output must be an object, got {type(socket).__name__}")
        interface = socket.get("interface")
        if interface is None:
            continue
        if _dict(interface, "an output's interface").get("slug") == slug:
            return socket
    return None


def _relative(socket: dict[str, Any] | None, default: str) -> list[str]:
    interface = _dict(socket.get("interface"), "interface") if socket else {}
    relative = interface.get("relative_path") or default
    if not isinstance(relative, str):
        raise JobFormatError(f"relative_path must be a string, got {type(relative).__name__}")
    return relative.split("/")


def _segmentation_file(root: Path, pk: str, job: dict[str, Any]) -> Path:
    parts = _relative(_output(job, SEGMENTATION_SLUG), f"images/{SEGMENTATION_SLUG}")
    folder = safe_path(root, pk, "output", *parts)
    relative = "/".join(parts)
    if not folder.is_dir():
        raise FileNotFoundError(f"no segmentation folder {pk}/output/{relative}")
    files, refused = list_untrusted(folder)
    bad = [(p, r) for p, r in refused if p.name.lower().endswith(IMAGE_EXTENSIONS) and r != "hidden"]
    if bad:
        raise UntrustedFileError(bad[0][0], f"{bad[0][1]}; not read")
    images = [p for p in files if p.name.lower().endswith(IMAGE_EXTENSIONS)]
    if not images:
        raise FileNotFoundError(f"no image in {pk}/output/{relative}")
    if len(images) > 1:
        raise JobFormatError(f"{len(images)} images in {pk}/output/{relative} "
                             f"({[p.name for p in images[:5]]}); exactly one expected")
    return images[0]


def _koos_grade(root: Path, pk: str, job: dict[str, Any]) -> int:
    socket = _output(job, KOOS_SLUG)
    value = socket.get("value") if socket else None
    if value is None:
        parts = _relative(socket, f"{KOOS_SLUG}.json")
        path = safe_path(root, pk, "output", *parts)
        if not path.exists():
            raise FileNotFoundError(f"no Koos output {pk}/output/{'/'.join(parts)}")
        raw = read_untrusted_bytes(path, MAX_KOOS_BYTES)
        value = json.loads(raw.decode("utf-8"))
    if isinstance(value, dict):
        value = value.get("grade")
    if isinstance(value, (dict, list)):
        raise JobFormatError(f"Koos grade must be a number or a string, got {type(value).__name__}")
    grade = parse_grade(value)
    if grade is None:
        raise ValueError("Koos prediction must be a grade 1-4, got post-operative")
    return grade


_JOB_ERRORS = (OSError, ValueError, TypeError, AttributeError, RecursionError, CrossmodaError)


def parse_jobs(root: Path, jobs: Any) -> ParsedJobs:
    """Map the jobs of ``predictions.json`` to cases, safely; problems are recorded, not raised.

    A job of the wrong shape (``"inputs": 5``, an interface that is a string, ...) is that
    job's error. Links and special files in a job's output folder are refused, never read.
    """
    out = ParsedJobs()
    if not isinstance(jobs, list):
        out.errors.append({"case": None, "file": "predictions.json",
                           "error": f"predictions.json must hold a list of jobs, got {type(jobs).__name__}"})
        return out
    for index, job in enumerate(jobs):
        pk = job.get("pk") if isinstance(job, dict) else None
        label = f"job {index} (pk {str(pk)[:80]!r})"
        if not isinstance(job, dict) or not isinstance(pk, str) or not _PK_RE.match(pk) or pk in (".", ".."):
            out.errors.append({"case": None, "file": None, "error": f"{label}: invalid job or pk, ignored"})
            continue
        try:
            case = _case_of(job)
        except _JOB_ERRORS as err:
            out.errors.append({"case": None, "file": None, "error": f"{label}: {_short(err)}"})
            continue
        if case in out.segmentation or case in out.problems:
            out.notes.append(f"{case}: several jobs; {label} ignored")
            continue
        status = job.get("status")
        if status != "Succeeded":
            out.problems[case] = (f"algorithm job {pk} did not succeed (status {str(status)[:80]!r})", None)
            continue
        try:
            out.segmentation[case] = _segmentation_file(root, pk, job)
        except _JOB_ERRORS as err:
            where = str(err.path) if isinstance(err, CrossmodaError) and err.path else None
            out.problems[case] = (f"algorithm job {pk}: {_short(err)}", where)
        try:
            out.koos[case] = _koos_grade(root, pk, job)
        except _JOB_ERRORS as err:
            out.errors.append({"case": case, "file": None,
                               "error": f"Koos output of job {pk}: {_short(err)}"})
    return out


def _short(err: BaseException) -> str:
    text = err.problem if isinstance(err, CrossmodaError) else str(err)
    if isinstance(err, CrossmodaError) and err.path is not None:
        text = f"{err.path.name}: {text}"
    return " ".join(text.split())[:300] or type(err).__name__


def _load_jobs(pj: Path) -> tuple[Any, str | None]:
    """The parsed ``predictions.json``, or ``None`` and the reason it is unusable."""
    try:
        raw = read_untrusted_bytes(pj, MAX_JSON_BYTES)
        return json.loads(raw.decode("utf-8")), None
    except UntrustedFileError as err:
        return None, err.problem
    except RecursionError:
        return None, "nested too deeply to parse"
    except (UnicodeDecodeError, ValueError) as err:
        return None, f"not valid JSON ({_short(err)})"


def evaluate_grand_challenge(
    paths: GrandChallengeInputs, config: CaseConfig, workers: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Evaluate a grand-challenge ``predictions.json``; write ``metrics.json`` (+ ``metrics.csv``).

    An unreadable, malformed or too deeply nested ``predictions.json`` scores every case as
    missing, with the reason in ``errors``.

    Raises:
        EvaluationError: no ``predictions.json`` or no ground truth.
    """
    pj = paths.input_root / "predictions.json"
    if not pj.exists() and not pj.is_symlink():
        raise EvaluationError(f"{pj} not found")
    jobs, unusable = _load_jobs(pj)
    if not paths.ground_truth.is_dir():
        raise EvaluationError(f"ground-truth folder {paths.ground_truth} does not exist")
    truth = discover_labels(paths.ground_truth, trusted=True)
    if not truth.files:
        raise EvaluationError(f"no ground-truth label maps in {paths.ground_truth}")
    if unusable is not None:  # every case is scored as missing, and metrics.json says why
        parsed = ParsedJobs(errors=[{"case": None, "file": str(pj),
                                     "error": f"predictions.json: {unusable}"}])
    else:
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
            koos_ref = read_koos_csv(koos_csv, untrusted=False)
        except KoosTableError as err:
            errors.append({"case": None, "file": str(koos_csv), "error": f"Koos reference: {err.problem}"})
    report = build_report(
        case_jobs, config, workers=workers, extra=extra, errors=errors, koos_reference=koos_ref,
        koos_prediction=parsed.koos, notes=parsed.notes, progress=progress,
    )
    run_config = {"mode": "grand-challenge", "input_root": paths.input_root,
                  "ground_truth": paths.ground_truth, "workers": workers}
    return write_outputs(paths.output, report, config, run_config)
