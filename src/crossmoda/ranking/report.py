"""Write the ranking report: ``leaderboard.csv``, ``leaderboard.md``, ``ranking.json``, PNG figures
under ``figures/`` and a self-contained ``report.html`` (figures embedded as base64)."""

from __future__ import annotations

import base64
import html
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossmoda.core.provenance import provenance, write_json_atomic, write_text_atomic
from crossmoda.ranking.ranks import Ranking
from crossmoda.ranking.result import RankingResult

__all__ = ["TOOL", "leaderboard_frame", "ranking_dict", "leaderboard_markdown", "figure_rules",
           "write_report"]

logger = logging.getLogger(__name__)

TOOL = "crossmoda-rank"


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def leaderboard_frame(result: RankingResult) -> pd.DataFrame:
    """Leaderboard, best first: ``team, rank, score``, then per column ``<col>_median`` and
    ``<col>_IQR`` (q75 - q25), then the bootstrap rank interval when there is one."""
    table, ranking = result.table, result.main.ranking
    order = ranking.order()
    q25, med, q75 = np.quantile(table.values, [0.25, 0.5, 0.75], axis=1)  # (T, M) each
    frame = pd.DataFrame({"team": [table.teams[i] for i in order], "rank": ranking.rank[order],
                          "score": ranking.score[order]})
    for k, col in enumerate(table.columns):
        frame[f"{col}_median"] = med[order, k]
        frame[f"{col}_IQR"] = (q75 - q25)[order, k]
    if result.bootstrap is not None:
        lo, hi = np.quantile(result.bootstrap.ranks, [0.025, 0.975], axis=0)
        frame["bootstrap_rank_2.5pc"] = lo[order]
        frame["bootstrap_rank_97.5pc"] = hi[order]
    frame["n_cases"] = len(table.cases)
    return frame


def ranking_dict(result: RankingResult, source: str) -> dict[str, Any]:
    """Everything in ``ranking.json``: input, policy, rankings, tests, bootstrap, Koos, provenance."""
    table, sig = result.table, result.significance
    q25, med, q75 = np.quantile(table.values, [0.25, 0.5, 0.75], axis=1)
    order = result.main.ranking.order()
    boot = result.bootstrap
    return {
        "input": {"source": source, "teams": table.teams, "n_cases": len(table.cases),
                  "columns": table.columns, "metric_specs": {c: s.to_dict() for c, s in
                                                             zip(table.columns, table.specs, strict=True)}},
        "missing_values": {"policy": result.missing.policy, "n_missing": result.missing.n_missing,
                           "missing": result.missing.missing, "dropped_cases": result.missing.dropped_cases,
                           "missing_in_evaluation": result.table.evaluation_missing},
        "ranking": result.main.ranking.as_dict(),
        "per_metric": {table.teams[t]: {c: {"median": float(med[t, k]), "25pc": float(q25[t, k]),
                                            "75pc": float(q75[t, k]),
                                            "mean": float(table.values[t, :, k].mean())}
                                        for k, c in enumerate(table.columns)} for t in order},
        "variants": {n: r.as_dict() for n, r in result.variants.items()},
        "schemes": {n: r.as_dict() for n, r in result.schemes.items()},
        "significance": {
            "test": "one-sided paired Wilcoxon signed-rank on per-case cumulative ranks",
            "alpha": sig.alpha, "adjustment": sig.adjustment, "teams": sig.teams,
            "n_teams_ranked": sig.n_teams, "leading_teams_tested": result.config.significance_teams,
            "p_values": [[_finite(v) for v in row] for row in sig.p_values],
            "adjusted_p_values": [[_finite(v) for v in row] for row in sig.adjusted],
            "significant": sig.significant.tolist(),
        },
        "bootstrap": None if boot is None else {
            "n_resamples": boot.n_resamples, "seed": boot.seed, "kendall_tau_b": boot.tau_summary(),
            "teams": boot.team_summary(),
        },
        "koos": None if result.koos is None else result.koos.as_dict(),
        "provenance": provenance(TOOL, result.config),
    }


def _md(text: str) -> str:
    """Escape Markdown emphasis and table characters in team names (intraword ``_`` is literal)."""
    return "".join("\\" + ch if ch in "*|`[]" else ch for ch in text)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v: float, unit: str) -> str:
    return f"{v:.2f}" if unit == "mm" else f"{v:.3f}"


def _scheme_rows(result: RankingResult) -> tuple[list[str], list[list[str]]]:
    rankings: list[Ranking] = [result.main.ranking, *result.schemes.values(), *result.variants.values()]
    header = ["team", *[r.name for r in rankings]]
    rows = [[_md(result.table.teams[t]), *[str(int(r.rank[t])) for r in rankings]]
            for t in result.main.ranking.order()]
    return header, rows


def leaderboard_markdown(result: RankingResult) -> str:
    """``leaderboard.md``: leaderboard, scheme comparison, bootstrap stability, Koos."""
    table, ranking = result.table, result.main.ranking
    q25, med, q75 = np.quantile(table.values, [0.25, 0.5, 0.75], axis=1)
    boot = result.bootstrap
    interval = None if boot is None else np.quantile(boot.ranks, [0.025, 0.975], axis=0)
    header = ["rank", "team", "score", *(["bootstrap rank 95 %"] if boot else []),
              *[f"{c} median [IQR]" for c in table.columns]]
    rows = []
    for t in ranking.order():
        row = [str(int(ranking.rank[t])), _md(table.teams[t]), f"{ranking.score[t]:.4f}"]
        if interval is not None:
            row.append(f"{interval[0, t]:g}-{interval[1, t]:g}")
        row += [f"{_fmt(med[t, k], s.unit)} [{_fmt(q25[t, k], s.unit)}, {_fmt(q75[t, k], s.unit)}]"
                for k, s in enumerate(table.specs)]
        rows.append(row)
    parts = [
        "# crossMoDA leaderboard", "",
        f"{len(table.teams)} teams, {len(table.cases)} cases, columns {_md(', '.join(table.columns))}. "
        "Score: mean over cases of the mean per-case rank over the columns (lower is better; ties share "
        f"the minimum rank). Missing values: {result.missing.n_missing} ({result.missing.policy} policy"
        + (f", {len(result.missing.dropped_cases)} cases dropped" if result.missing.dropped_cases else "")
        + ").",
        *[line for t, c in result.table.evaluation_missing.items() for line in (
            "", f"Team {_md(t)}: {len(c)} cases missing or failed in its evaluation (scored there with "
                f"worst values): {_md(', '.join(c))}.")],
        "", _md_table(header, rows), "", "## Ranking schemes and variants", "",
        _md_table(*_scheme_rows(result)), "",
    ]
    if result.significance.limited:
        parts += [f"Test-then-rank: pairwise tests among the leading {len(result.significance.tested)} of "
                  f"{len(table.teams)} teams of the crossMoDA ranking; the others are not tested and share "
                  f"rank {len(result.significance.tested) + 1}.", ""]
    if boot is not None:
        tau = boot.tau_summary()
        if tau["median"] is not None:
            parts += ["## Bootstrap stability", "",
                      f"{boot.n_resamples} resamples of cases (seed {boot.seed}). Kendall's tau-b "
                      f"against the full ranking: mean {tau['mean']:.4f}, median {tau['median']:.4f}, "
                      f"min {tau['min']:.4f}, 2.5 % quantile {tau['q0.025']:.4f}.", ""]
    if result.koos is not None:
        k = result.koos
        krows = [[str(int(k.ranking.rank[t])), _md(k.ranking.teams[t]), f"{k.ranking.score[t]:.4f}",
                  "-" if not np.isfinite(k.ci_low[t]) else f"{k.ci_low[t]:.4f}-{k.ci_high[t]:.4f}",
                  f"{k.macro_f1[t]:.4f}", f"{k.accuracy[t]:.4f}", str(int(k.n_missing[t]))]
                 for t in k.ranking.order()]
        parts += ["## Koos grading (task 2)", "", f"{len(k.cases)} scored cases; MA-MAE lower is better.", "",
                  _md_table(["rank", "team", "MA-MAE", f"{k.ci_level:.0%} bootstrap CI", "macro F1",
                             "accuracy", "missing"], krows), ""]
    return "\n".join(parts)


def _text(markdown: str) -> str:
    """HTML-escaped text of a Markdown fragment without its backslash escapes."""
    return html.escape(re.sub(r"\\(.)", r"\1", markdown))


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in r) + "</tr>" for r in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if len(rows) > SCROLL_ROWS else table


def _markdown_to_html(markdown: str) -> str:
    """The tiny Markdown subset :func:`leaderboard_markdown` writes (headings, pipes, paragraphs)."""
    out, table_rows = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if not all(set(c) <= {"-"} for c in cells):
                table_rows.append(cells)
            continue
        if table_rows:
            out.append(_html_table(table_rows[0], table_rows[1:]))
            table_rows = []
        if line.startswith("## "):
            out.append(f"<h2>{_text(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{_text(line[2:])}</h1>")
        elif line:
            out.append(f"<p>{_text(line)}</p>")
    return "\n".join(out)


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f2f2f2}
td:nth-child(2){text-align:left}figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#555;
font-size:.9em}footer{color:#777;font-size:.8em;margin-top:3em}
.scroll{max-height:40em;overflow:auto;border-bottom:1px solid #ccc}.scroll th{position:sticky;top:0}"""
SCROLL_ROWS = 30
"""HTML tables longer than this scroll inside a box of about 30 rows (header kept in view)."""

CAPTIONS = {
    "metrics_all_cases": "Per-case scores of every team (dots) with box plots (median, quartiles, whiskers "
                         "1.5 IQR); teams in final rank order.",
    "metrics_by_site": "The same per site.",
    "bootstrap_ranks": "Bootstrap rank distribution: blob area = share of resamples with that rank; black "
                       "dot = median rank, line = 2.5-97.5 % interval.",
    "ranking_schemes": "Rank of each team under every ranking scheme and variant.",
    "significance": "Pairwise one-sided paired Wilcoxon tests on the per-case cumulative ranks "
                    "(p-values with two significant digits in the cells of small maps).",
    "koos_ma_mae": "Koos grading: MA-MAE per team with its bootstrap interval.",
}


def figure_rules(result: RankingResult) -> str:
    """One paragraph: which teams the figures and the pairwise tests show (same rules at any size)."""
    n_teams, n_lead = len(result.table.teams), result.config.figure_teams
    sig = result.significance
    tests = (f"Pairwise tests: all {n_teams} teams." if not sig.limited else
             f"Pairwise tests and test-then-rank: the leading {len(sig.tested)} of {n_teams} teams "
             f"(limit {result.config.significance_teams}); the others are not tested.")
    if n_teams <= n_lead:
        return f"All {n_teams} teams are drawn individually (up to {n_lead} are). {tests}"
    return (f"The figures draw the leading {n_lead} of {n_teams} teams individually and summarise the "
            f"others: per-case score panels add up to 5 rows of consecutive rank groups (box and dots of "
            f"the team medians); the bootstrap figure adds a heatmap of every team's rank distribution; "
            f"the scheme chart follows the leading teams and gives Kendall's tau-b of each scheme over all "
            f"teams. {tests} Every number of every team is in leaderboard.csv and ranking.json.")


def write_report(result: RankingResult, output: Path, source: str = "") -> dict[str, Path]:
    """Write every report file into ``output``; return name -> path."""
    output.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    frame = leaderboard_frame(result)
    paths["leaderboard.csv"] = write_text_atomic(output / "leaderboard.csv", frame.to_csv(index=False))
    markdown = leaderboard_markdown(result)
    paths["leaderboard.md"] = write_text_atomic(output / "leaderboard.md", markdown)
    data = ranking_dict(result, source or result.table.source)
    paths["ranking.json"] = write_json_atomic(output / "ranking.json", data)
    if not result.config.figures:
        return paths
    from crossmoda.ranking.plots import render_figures

    figures = render_figures(result)
    sections = []
    for name, png in figures.items():
        path = output / "figures" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        paths[f"figures/{name}.png"] = path
        b64 = base64.b64encode(png).decode("ascii")
        sections.append(f'<figure><img alt="{name}" src="data:image/png;base64,{b64}">'
                        f"<figcaption>{html.escape(CAPTIONS.get(name, name))}</figcaption></figure>")
    prov = data["provenance"]
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>crossMoDA ranking</title>"
            f"<style>{CSS}</style></head><body>{_markdown_to_html(markdown)}<h2>Figures</h2>"
            f"<p>{html.escape(figure_rules(result))}</p>{''.join(sections)}"
            f"<footer>{html.escape(TOOL)} {html.escape(str(prov['version']))}, commit "
            f"{html.escape(str(prov['git_commit']))}, {html.escape(str(prov['created']))}; source "
            f"{html.escape(source or result.table.source)}. Full results and configuration: ranking.json."
            f"</footer></body></html>\n")
    paths["report.html"] = write_text_atomic(output / "report.html", page)
    logger.info("report written to %s", output)
    return paths
