"""The challenge's leaderboard report: the ranking joined with each team's run record.

Writes ``leaderboard.json`` and ``leaderboard.md`` next to the ranking tool's own report.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmoda.challenge.containers import ContainerRun
from crossmoda.core.provenance import write_json_atomic, write_text_atomic

__all__ = ["TeamResult", "read_leaderboard_csv", "build_report", "write_report", "log_tail"]

LOG_TAIL_LINES = 20


@dataclass
class TeamResult:
    """Everything known about one team after the run.

    Attributes:
        team: Team name.
        run: The algorithm container's outcome.
        scored_as_missing: True when its outputs were discarded (every case scored worst).
        evaluation_ok: Whether the evaluation of its outputs succeeded (else scored as missing).
        evaluation_message: Why the evaluation failed, if it did.
    """

    team: str
    run: ContainerRun
    scored_as_missing: bool
    evaluation_ok: bool = True
    evaluation_message: str = ""


def read_leaderboard_csv(path: Path) -> dict[str, tuple[int, float]]:
    """Team -> (rank, score) from the ranking's ``leaderboard.csv`` (columns ``team,rank,score`` first)."""
    table: dict[str, tuple[int, float]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            table[row["team"]] = (int(float(row["rank"])), float(row["score"]))
    return table


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """Last ``lines`` lines of a log file (decoded leniently); empty when there is none."""
    if path is None or not path.is_file():
        return ""
    text = path.read_bytes()[-64_000:].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def build_report(
    results: list[TeamResult], ranks: dict[str, tuple[int, float]] | None, *, ranking_message: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The leaderboard as data: teams ordered by rank (unranked teams last), and the failures."""
    rows = []
    for r in results:
        rank, score = ranks.get(r.team, (None, None)) if ranks is not None else (None, None)
        rows.append({
            "team": r.team,
            "rank": rank,
            "score": score,
            "status": r.run.status,
            "exit_code": r.run.exit_code,
            "runtime_s": round(r.run.runtime_s, 3),
            "n_outputs": r.run.n_outputs,
            "scored_as_missing": r.scored_as_missing,
            "evaluation_ok": r.evaluation_ok,
            "image": r.run.image,
            "image_id": r.run.image_id,
            "gpu": r.run.gpu,
            "message": r.run.message,
            "log_file": None if r.run.log_file is None else str(r.run.log_file),
        })
    rows.sort(key=lambda row: (row["rank"] is None, row["rank"] or 0, row["team"]))
    failures = [
        {
            "team": r.team,
            "status": r.run.status if not r.run.ok else "evaluation-failed",
            "message": r.run.message if not r.run.ok else r.evaluation_message,
            "exit_code": r.run.exit_code,
            "runtime_s": round(r.run.runtime_s, 3),
            "scored_as_missing": r.scored_as_missing or not r.evaluation_ok,
            "log_tail": log_tail(r.run.log_file),
        }
        for r in results
        if not r.run.ok or not r.evaluation_ok
    ]
    return {
        "leaderboard": rows,
        "failures": failures,
        "ranking": {"ok": ranks is not None, "message": ranking_message},
        **(extra or {}),
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def to_markdown(report: dict[str, Any]) -> str:
    """``leaderboard.md``: the table, then one section per failed submission with its log tail."""
    lines = ["# crossMoDA challenge leaderboard", ""]
    if not report["ranking"]["ok"]:
        lines += [f"**Ranking failed**: {report['ranking']['message']}", ""]
    lines += [
        "| rank | team | score | status | runtime (s) | exit | outputs |",
        "|---:|---|---:|---|---:|---:|---:|",
    ]
    for row in report["leaderboard"]:
        status = row["status"] + (" (scored as missing)" if row["scored_as_missing"] else "")
        lines.append(
            f"| {_fmt(row['rank'])} | {row['team']} | {_fmt(row['score'], 4)} | {status} | "
            f"{_fmt(row['runtime_s'], 1)} | {_fmt(row['exit_code'])} | {row['n_outputs']} |"
        )
    lines += ["", "Score: mean over cases of the per-case cumulative rank (lower is better); see "
              "`ranking/` for the full report.", ""]
    if report["failures"]:
        lines += ["## Failed submissions", ""]
        for f in report["failures"]:
            note = " - every case scored as missing (worst values)." if f["scored_as_missing"] else ""
            lines += [f"### {f['team']}: {f['status']}", "", f"{f['message']}{note}", ""]
            if f["log_tail"]:
                lines += ["```", f["log_tail"], "```", ""]
    else:
        lines += ["All submissions ran successfully.", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``leaderboard.json`` and ``leaderboard.md`` into ``folder``; return both paths."""
    js = write_json_atomic(folder / "leaderboard.json", report)
    md = write_text_atomic(folder / "leaderboard.md", to_markdown(report))
    return js, md
