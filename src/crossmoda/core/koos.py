"""Koos grades and ``case,class`` tables.

Grades are the integers 1-4 everywhere. ``post-operative`` (crossMoDA writes
``post-operative-london``) is the only other value; such cases are excluded from scoring and
are represented as :data:`POSTOP` (``None``) in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from crossmoda.core.cases import parse_case
from crossmoda.core.errors import CaseNameError, KoosTableError

__all__ = ["GRADES", "POSTOP", "parse_grade", "format_grade", "read_koos_csv", "write_koos_csv"]

GRADES: tuple[int, ...] = (1, 2, 3, 4)
POSTOP: None = None
_POSTOP_SPELLINGS = {"post-operative", "post-operative-london", "postoperative", "post_operative"}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def parse_grade(value: object) -> int | None:
    """Parse a Koos grade: 1-4 (also ``"3"``, ``"3.0"``, ``"III"``) or post-operative (``None``).

    Raises:
        ValueError: for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a Koos grade: {value!r}")
    if isinstance(value, (int, float)):
        if float(value) in GRADES:
            return int(value)
        raise ValueError(f"Koos grade must be 1-4, got {value!r}")
    text = str(value).strip().strip('"').strip()
    low = text.lower()
    if low in _POSTOP_SPELLINGS:
        return POSTOP
    if low in _ROMAN:
        return _ROMAN[low]
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"not a Koos grade: {value!r}") from None
    if number in GRADES:
        return int(number)
    raise ValueError(f"Koos grade must be 1-4, got {value!r}")


def format_grade(grade: int | None) -> str:
    """Table form of a grade: ``"1"``..``"4"`` or ``"post-operative"``."""
    if grade is None:
        return "post-operative"
    if grade not in GRADES:
        raise ValueError(f"Koos grade must be 1-4, got {grade!r}")
    return str(grade)


def read_koos_csv(
    path: str | Path, case_column: str = "case", class_column: str = "class"
) -> dict[str, int | None]:
    """Read a Koos table (``case,class``; header names case-insensitive) into case -> grade.

    Also reads ``infos_source_training.csv`` with ``case_column="crossmoda_name"`` and
    ``class_column="koos"``. Case names may carry a modality suffix, which is dropped.

    Raises:
        KoosTableError: missing file or columns, bad grade, bad or duplicate case name.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise KoosTableError(p, f"cannot read Koos table: {err.strerror or err}") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
    if case_column.lower() not in fields or class_column.lower() not in fields:
        raise KoosTableError(
            p, f"needs columns {case_column!r} and {class_column!r}; found {reader.fieldnames}"
        )
    ccol, kcol = fields[case_column.lower()], fields[class_column.lower()]
    table: dict[str, int | None] = {}
    for line, row in enumerate(reader, start=2):
        raw_case = (row.get(ccol) or "").strip()
        name = raw_case.split(".")[0]
        for suffix in ("_hrT2", "_ceT1", "_T2", "_Label"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        try:
            case = str(parse_case(name))
        except CaseNameError:
            raise KoosTableError(p, f"line {line}: bad case name {raw_case!r}") from None
        try:
            grade = parse_grade(row.get(kcol))
        except ValueError as err:
            raise KoosTableError(p, f"line {line}: {err}") from None
        if case in table:
            raise KoosTableError(p, f"line {line}: case {case} appears twice")
        table[case] = grade
    return table


def write_koos_csv(path: str | Path, grades: Mapping[str, int | None]) -> None:
    """Write ``case,class`` rows (sorted by case) with integer grades or ``post-operative``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(grades.items(), key=lambda kv: parse_case(kv[0]))
    with p.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case", "class"])
        for case, grade in rows:
            writer.writerow([case, format_grade(grade)])
