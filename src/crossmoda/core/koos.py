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
from crossmoda.core.untrusted import UntrustedFileError, read_untrusted_bytes

__all__ = [
    "GRADES", "POSTOP", "MAX_KOOS_CSV_BYTES", "parse_grade", "format_grade", "read_koos_csv",
    "write_koos_csv",
]

MAX_KOOS_CSV_BYTES = 16 * 1024 * 1024
"""Largest Koos table read (bytes)."""

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


def _decode_lines(raw: bytes, path: Path, row_errors: list[str] | None) -> str:
    """UTF-8 text of ``raw``; a line that is not UTF-8 is an error (or, with ``row_errors``, a
    recorded row error and a blank line, so line numbers stay right)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines = raw.split(b"\n")
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as err:
            problem = (f"line {number}: not UTF-8 text "
                       f"(byte 0x{line[err.start]:02x} at column {err.start + 1})")
            if row_errors is None or number == 1:
                raise KoosTableError(path, problem) from None
            row_errors.append(problem)
            out.append("")
    return "\n".join(out)


def read_koos_csv(
    path: str | Path, case_column: str = "case", class_column: str = "class",
    row_errors: list[str] | None = None, *, untrusted: bool = True,
) -> dict[str, int | None]:
    """Read a Koos table (``case,class``; header names case-insensitive) into case -> grade.

    Also reads ``infos_source_training.csv`` with ``case_column="crossmoda_name"`` and
    ``class_column="koos"``. Case names may carry a modality suffix, which is dropped. The file
    is opened as an untrusted file (no links, no special files, at most
    :data:`MAX_KOOS_CSV_BYTES`) unless ``untrusted=False`` (an organiser's table, which may be
    a link).

    Args:
        row_errors: When given, a bad row (bytes that are not UTF-8, a bad case name or grade,
            a case given twice) is recorded here as ``"line N: problem"`` and left out of the
            table (its case then counts as missing); without it the first bad row raises.

    Raises:
        KoosTableError: unreadable file (link, special file, too large), header not UTF-8,
            missing or duplicated columns; a bad row unless ``row_errors`` is given.
    """
    p = Path(path)
    try:
        raw = read_untrusted_bytes(p if untrusted else p.resolve(), MAX_KOOS_CSV_BYTES)
    except UntrustedFileError as err:
        raise KoosTableError(p, f"cannot read Koos table: {err.problem}") from None
    text = _decode_lines(raw, p, row_errors)
    reader = csv.DictReader(io.StringIO(text))
    names = [(f or "").strip().lower() for f in (reader.fieldnames or [])]
    wanted = (case_column.lower(), class_column.lower())
    twice = sorted({n for n in names if names.count(n) > 1 and n in wanted})
    if twice:
        raise KoosTableError(p, f"column(s) {twice} appear more than once in the header {reader.fieldnames}")
    fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
    if case_column.lower() not in fields or class_column.lower() not in fields:
        raise KoosTableError(
            p, f"needs columns {case_column!r} and {class_column!r}; found {reader.fieldnames}"
        )
    ccol, kcol = fields[case_column.lower()], fields[class_column.lower()]
    table: dict[str, int | None] = {}
    try:
        for row in reader:
            line = reader.line_num
            try:
                case, grade = _parse_row(row, ccol, kcol, line)
                if case in table:
                    raise ValueError(f"line {line}: case {case} appears twice")
            except ValueError as err:
                if row_errors is None:
                    raise KoosTableError(p, str(err)) from None
                row_errors.append(str(err))
                continue
            table[case] = grade
    except csv.Error as err:
        raise KoosTableError(p, f"line {reader.line_num}: malformed CSV ({err})") from None
    return table


def _parse_row(row: dict[str | None, str | None], ccol: str, kcol: str, line: int) -> tuple[str, int | None]:
    raw_case = str(row.get(ccol) or "").strip()
    name = raw_case.split(".")[0]
    for suffix in ("_hrT2", "_ceT1", "_T2", "_Label"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    try:
        case = str(parse_case(name))
    except CaseNameError:
        raise ValueError(f"line {line}: bad case name {raw_case[:80]!r}") from None
    try:
        grade = parse_grade(row.get(kcol))
    except ValueError as err:
        raise ValueError(f"line {line}: {str(err)[:200]}") from None
    return case, grade


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
