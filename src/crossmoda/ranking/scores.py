"""Per-case score tables: load them (CSV, Parquet, folder of teams) and apply the missing-value policy.

Accepted inputs:

* a *wide* table, one row per (team, case) and one column per metric
  (``Case,VS_Dice,VS_ASSD,Cochlea_Dice,Cochlea_ASSD,Team`` as the crossMoDA organisers publish it);
* a *long* table, one row per (team, case, metric) with ``metric`` and ``value`` columns
  (challengeR's layout);
* a folder of team folders, each with the evaluation's ``metrics.json`` (the folder name is the
  team; see ``docs/contracts.md``). These also carry the per-case Koos grades.

Column names are matched case-insensitively. Metric columns are the columns whose name ends in a
metric registered in :mod:`crossmoda.core.metrics_spec`; the direction and the worst value of a
metric come only from there.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmoda.core.errors import CrossmodaError
from crossmoda.core.metrics_spec import CHALLENGE_COLUMNS, MetricSpec, column_spec

__all__ = [
    "MissingPolicy",
    "ScoreTableError",
    "ColumnNames",
    "ScoreTable",
    "MissingReport",
    "load_scores",
    "scores_from_frame",
    "apply_missing_policy",
]

logger = logging.getLogger(__name__)

MissingPolicy = Literal["worst", "drop", "error"]
KoosBlock = dict[str, dict[str, int | None]]


class ScoreTableError(CrossmodaError):
    """A score table or a team's ``metrics.json`` is malformed."""


@dataclass(frozen=True)
class ColumnNames:
    """Names of the identifying columns (matched case-insensitively)."""

    case: str = "case"
    team: str = "team"
    metric: str = "metric"
    value: str = "value"


@dataclass
class ScoreTable:
    """Per-case scores of every team.

    Attributes:
        teams: Team names, shape (T,), sorted.
        cases: Case names, shape (C,), sorted.
        columns: Metric columns, shape (M,), e.g. ``VS_Dice``.
        values: Scores, shape (T, C, M); NaN where a team has no value for a case.
        koos: Team -> case -> ``{"reference", "prediction"}`` (folder input only).
        evaluation_missing: Team -> cases its evaluation listed as missing or failed (already
            scored with worst values there; folder input only).
        source: Where the table came from.
    """

    teams: list[str]
    cases: list[str]
    columns: list[str]
    values: npt.NDArray[np.float64]
    koos: dict[str, KoosBlock] = field(default_factory=dict)
    evaluation_missing: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        expected = (len(self.teams), len(self.cases), len(self.columns))
        if self.values.shape != expected:
            raise ValueError(f"values have shape {self.values.shape}, expected {expected}")

    @property
    def specs(self) -> list[MetricSpec]:
        """The metric spec of every column, shape (M,)."""
        return [column_spec(c) for c in self.columns]

    def select(self, columns: list[str]) -> ScoreTable:
        """The same table restricted to ``columns``."""
        idx = [self.columns.index(c) for c in columns]
        return replace(self, columns=list(columns), values=self.values[:, :, idx])

    def to_long(self) -> pd.DataFrame:
        """Long frame with columns ``team, case, metric, value``."""
        t, c, m = np.meshgrid(np.arange(len(self.teams)), np.arange(len(self.cases)),
                              np.arange(len(self.columns)), indexing="ij")
        return pd.DataFrame({
            "team": np.asarray(self.teams, dtype=object)[t.ravel()],
            "case": np.asarray(self.cases, dtype=object)[c.ravel()],
            "metric": np.asarray(self.columns, dtype=object)[m.ravel()],
            "value": self.values.ravel(),
        })


@dataclass
class MissingReport:
    """What the missing-value policy did.

    Attributes:
        policy: The policy applied.
        missing: Team -> column -> number of values missing before the policy (only nonzero).
        dropped_cases: Cases removed (policy ``drop``).
    """

    policy: str
    missing: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped_cases: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        """Number of values that were missing before the policy."""
        return sum(sum(v.values()) for v in self.missing.values())


def _find_column(frame: pd.DataFrame, name: str, what: str, path: Path | None) -> str:
    matches = [c for c in frame.columns if str(c).lower() == name.lower()]
    if len(matches) != 1:
        found = "none" if not matches else f"several: {matches}"
        raise ScoreTableError(path, f"{what} column {name!r} (case-insensitive): {found}; "
                                    f"columns are {list(frame.columns)}")
    return str(matches[0])


def _is_metric(column: str) -> bool:
    try:
        column_spec(column)
    except KeyError:
        return False
    return True


def scores_from_frame(frame: pd.DataFrame, names: ColumnNames = ColumnNames(),
                      columns: list[str] | None = None, source: str = "",
                      path: Path | None = None, extra_teams: tuple[str, ...] = ()) -> ScoreTable:
    """Build a :class:`ScoreTable` from a wide or long frame.

    Args:
        frame: Wide (team, case, one column per metric) or long (team, case, metric, value).
        names: Identifying column names.
        columns: Metric columns to keep; default: the four crossMoDA columns when all are
            present, else every column naming a registered metric.
        source: Description recorded in the outputs.
        path: File reported in errors.
        extra_teams: Teams kept even without any row (all their values missing).

    Raises:
        ScoreTableError: on missing identifying columns, unknown metrics, duplicate rows, an
            empty team or case name, a value that is not a number, or a value outside its
            metric's valid range (:meth:`MetricSpec.in_range`, e.g. Dice in [0, 1], distances
            >= 0); the message names team, case and column.
    """
    case_col = _find_column(frame, names.case, "case", path)
    team_col = _find_column(frame, names.team, "team", path)
    lower = {str(c).lower() for c in frame.columns}
    if names.metric.lower() in lower and names.value.lower() in lower:
        metric_col = _find_column(frame, names.metric, "metric", path)
        value_col = _find_column(frame, names.value, "value", path)
        long = frame[[team_col, case_col, metric_col, value_col]].copy()
        long.columns = pd.Index(["team", "case", "metric", "value"])
        long["metric"] = long["metric"].astype(str)
    else:
        others = [str(c) for c in frame.columns if c not in (case_col, team_col)]
        metric_cols = [c for c in others if _is_metric(c)]
        ignored = [c for c in others if c not in metric_cols]
        if ignored:
            logger.info("ignoring columns that name no registered metric: %s", ignored)
        long = frame.melt(id_vars=[team_col, case_col], value_vars=metric_cols,
                          var_name="metric", value_name="value")
        long.columns = pd.Index(["team", "case", "metric", "value"])
    _check_identifiers(long, path)
    long["team"] = long["team"].astype(str)
    long["case"] = long["case"].astype(str)
    long["value"] = _numeric_values(long, path)
    available = list(dict.fromkeys(long["metric"].tolist()))  # input order
    unknown = [m for m in available if not _is_metric(m)]
    if columns is None:
        columns = list(CHALLENGE_COLUMNS) if set(CHALLENGE_COLUMNS) <= set(available) else \
            [m for m in available if m not in unknown]
    bad = [c for c in columns if c not in available or not _is_metric(c)]
    if bad:
        raise ScoreTableError(path, f"metric columns {bad} not found or not registered; "
                                    f"available: {available}")
    if not columns:
        raise ScoreTableError(path, "no metric column found")
    long = long[long["metric"].isin(columns)]
    dup = long.duplicated(["team", "case", "metric"])
    if dup.any():
        first = long[dup].iloc[0]
        raise ScoreTableError(path, f"{int(dup.sum())} duplicate rows, e.g. team {first['team']!r} "
                                    f"case {first['case']!r} metric {first['metric']!r}")
    _check_ranges(long, path)
    teams = sorted(set(long["team"]) | set(extra_teams))
    cases = sorted(set(long["case"]))
    values = np.full((len(teams), len(cases), len(columns)), np.nan)
    ti = pd.Index(teams).get_indexer(pd.Index(long["team"]))
    ci = pd.Index(cases).get_indexer(pd.Index(long["case"]))
    mi = pd.Index(columns).get_indexer(pd.Index(long["metric"]))
    values[ti, ci, mi] = long["value"].to_numpy(dtype=np.float64)
    return ScoreTable(teams, cases, list(columns), values, source=source)


def _check_identifiers(long: pd.DataFrame, path: Path | None) -> None:
    for column in ("team", "case"):
        text = long[column].astype(str).str.strip()
        bad = long[column].isna() | (text == "") | (text.str.lower() == "nan")
        if bad.any():
            row = long[bad].iloc[0]
            raise ScoreTableError(path, f"{int(bad.sum())} rows without a {column} name, e.g. team "
                                        f"{row['team']!r} case {row['case']!r} column {row['metric']!r}")


def _numeric_values(long: pd.DataFrame, path: Path | None) -> pd.Series:
    """The value column as floats; empty cells are missing, anything else not a number is an error."""
    values = pd.to_numeric(long["value"], errors="coerce")
    given = long["value"].notna() & (long["value"].astype(str).str.strip() != "")
    bad = values.isna() & given
    if bad.any():
        rows = long[bad].head(3)
        examples = "; ".join(f"team {r.team!r} case {r.case!r} column {r.metric!r}: {str(r.value)[:40]!r}"
                             for r in rows.itertuples())
        raise ScoreTableError(path, f"{int(bad.sum())} values are not numbers ({examples})")
    return values.astype(np.float64)


def _check_ranges(long: pd.DataFrame, path: Path | None) -> None:
    """Every value within its metric's range from :mod:`crossmoda.core.metrics_spec`."""
    problems: list[str] = []
    count = 0
    for metric, group in long.groupby("metric", sort=False):
        spec = column_spec(str(metric))
        v = group["value"].to_numpy(dtype=np.float64)
        known = ~np.isnan(v)
        low = known & (v < spec.minimum)
        high = known & (v > spec.maximum) if spec.maximum is not None else np.zeros_like(known)
        infinite = known & np.isinf(v)
        bad = low | high | infinite
        count += int(bad.sum())
        for r in group[bad].head(3).itertuples():
            problems.append(f"team {r.team!r} case {r.case!r} column {r.metric!r} = {r.value:g} "
                            f"(valid {spec.range_text()})")
    if count:
        raise ScoreTableError(path, f"{count} values outside their metric's range: "
                                    + "; ".join(problems[:5]))


def _read_team_folder(
    root: Path,
) -> tuple[pd.DataFrame, dict[str, KoosBlock], dict[str, list[str]], list[str]]:
    frames, koos, missing, teams = [], {}, {}, []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        path = folder / "metrics.json"
        if not path.is_file():
            logger.warning("%s: no metrics.json, folder skipped", folder)
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ScoreTableError(path, f"unreadable metrics.json: {err}") from None
        per_case = data.get("case") if isinstance(data, dict) else None
        if not isinstance(per_case, dict):
            raise ScoreTableError(path, "metrics.json has no per-case block 'case'")
        teams.append(folder.name)
        if not per_case:
            logger.warning("%s: no cases in metrics.json; the team is ranked with every value missing",
                           path)
        bad = [c for c, row in per_case.items() if not isinstance(row, dict)]
        if bad:
            raise ScoreTableError(path, f"case {str(bad[0])[:80]!r}: expected an object of metric values")
        frame = pd.DataFrame.from_dict(per_case, orient="index")
        frame.index.name = "case"
        frame = frame.reset_index()
        frame["team"] = folder.name
        frames.append(frame)
        if isinstance(data.get("koos"), dict) and data["koos"]:
            koos[folder.name] = {str(k): dict(v) for k, v in data["koos"].items()}
        failed = [str(c) for c in data.get("missing") or []]
        failed += [str(e["case"]) for e in data.get("errors") or [] if isinstance(e, dict) and e.get("case")]
        if failed:
            missing[folder.name] = sorted(set(failed))
    if not frames:
        raise ScoreTableError(root, "no team folder with a metrics.json")
    return pd.concat(frames, ignore_index=True), koos, missing, teams


def load_scores(path: str | Path, names: ColumnNames = ColumnNames(),
                columns: list[str] | None = None) -> ScoreTable:
    """Load per-case scores from a CSV or Parquet table or a folder of team folders.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ScoreTableError: on malformed content.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_dir():
        frame, koos, missing, teams = _read_team_folder(p)
        table = scores_from_frame(frame, ColumnNames(), columns, source=f"team folders in {p}", path=p,
                                  extra_teams=tuple(teams))
        table.koos, table.evaluation_missing = koos, missing
        return table
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p)
    except (OSError, ValueError, ImportError) as err:
        raise ScoreTableError(p, f"unreadable table: {err}") from None
    return scores_from_frame(frame, names, columns, source=str(p), path=p)


def apply_missing_policy(table: ScoreTable,
                         policy: MissingPolicy = "worst") -> tuple[ScoreTable, MissingReport]:
    """Resolve missing values (NaN or absent team/case rows).

    Policies: ``worst`` gives the metric's worst value from its spec (Dice 0, ASSD 350 mm), as
    the challenge did; ``drop`` removes every case where any team lacks any value; ``error``
    raises.

    Raises:
        ScoreTableError: for ``error`` with missing values, or when ``drop`` leaves no case.
    """
    missing = np.isnan(table.values)  # (T, C, M)
    counts = missing.sum(axis=1)  # (T, M)
    report = MissingReport(policy=policy, missing={
        t: {c: int(counts[i, j]) for j, c in enumerate(table.columns) if counts[i, j]}
        for i, t in enumerate(table.teams) if counts[i].any()
    })
    if not missing.any():
        return table, report
    if policy == "worst":
        worst = np.array([s.worst for s in table.specs])
        values = np.where(missing, worst[None, None, :], table.values)
        logger.warning("%d missing values set to the metric's worst value", report.n_missing)
        return replace(table, values=values), report
    if policy == "drop":
        keep = np.asarray(~missing.any(axis=(0, 2)), dtype=bool)
        kept: list[bool] = [bool(k) for k in keep]
        report.dropped_cases = [c for c, k in zip(table.cases, kept, strict=True) if not k]
        if not keep.any():
            raise ScoreTableError(None, "missing-value policy 'drop' leaves no complete case")
        logger.warning("%d incomplete cases dropped", len(report.dropped_cases))
        return replace(table, cases=[c for c, k in zip(table.cases, kept, strict=True) if k],
                       values=table.values[:, keep, :]), report
    if policy == "error":
        first_team = next(iter(report.missing))
        raise ScoreTableError(None, f"{report.n_missing} missing values (e.g. team {first_team!r}: "
                                    f"{report.missing[first_team]}); choose --missing worst or drop")
    raise ValueError(f"unknown missing-value policy {policy!r}")
