"""Figures of the ranking report, drawn from a :class:`~crossmoda.ranking.result.RankingResult`.

Every figure is a :class:`matplotlib.figure.Figure` on an explicit Agg canvas, created inside the
drawing function: no pyplot, no global backend switch, no import-time side effects.

Figure sizes are bounded whatever the number of teams T (rules, also in ``docs/ranking.md`` and
in the report): the leading ``figure_teams`` teams (default 20) are drawn one row each; with more
teams the others are summarised (:func:`rank_groups`: at most :data:`MAX_GROUPS` rows of rank
groups, one dot per team median; a rank-distribution heatmap instead of one blob column per team).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from crossmoda.ranking.plots_ranks import bootstrap_figure, schemes_figure, significance_figure
from crossmoda.ranking.plots_style import DPI, MM_FLOOR, new_figure, set_value_axis, team_colours

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from crossmoda.ranking.koos_board import KoosBoard
    from crossmoda.ranking.result import RankingResult

__all__ = ["MAX_GROUPS", "rank_groups", "render_figures", "metric_figure", "koos_figure", "png_bytes",
           "bootstrap_figure", "schemes_figure", "significance_figure"]

MAX_GROUPS = 5
"""Rows that summarise the teams after the leading ones (consecutive rank groups)."""
SITE_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def rank_groups(order: list[int], n_lead: int, max_groups: int = MAX_GROUPS) -> list[list[int]]:
    """The teams after the leading ``n_lead`` of ``order`` in at most ``max_groups`` consecutive
    groups of near-equal size (best first); empty when there are no more teams."""
    rest = order[n_lead:]
    if not rest:
        return []
    return [g.tolist() for g in np.array_split(np.asarray(rest), min(max_groups, len(rest)))]


def _row_label(result: RankingResult, group: list[int]) -> str:
    rank = result.main.ranking.rank
    lo, hi = int(rank[group[0]]), int(rank[group[-1]])
    return f"ranks {lo}-{hi} ({len(group)} teams)"


def metric_figure(result: RankingResult, by_site: bool = False) -> Figure:
    """Dot-and-box plots: one panel per metric column, one row per leading team (best at the top),
    then up to :data:`MAX_GROUPS` rows that summarise the other teams (box and dots of the team
    medians). With ``by_site`` every row gets one box per site, coloured by site."""
    table, order = result.table, result.main.ranking.order()
    lead = order[:result.config.figure_teams]
    groups = rank_groups(order, len(lead))
    n_rows, n_cols = len(lead) + len(groups), len(table.columns)
    ncols = 2 if n_cols > 1 else 1
    nrows = int(np.ceil(n_cols / ncols))
    fig = new_figure(5.6 * ncols, (0.42 if by_site else 0.32) * n_rows * nrows + 1.3 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    rng = np.random.default_rng(0)  # jitter only
    sites = result.sites
    subsets: list[tuple[str, npt.NDArray[np.bool_]]] = [("all cases", np.ones(len(table.cases), dtype=bool))]
    if by_site:
        site_arr = np.array([sites[c] or "unknown" for c in table.cases])
        subsets = [(s, site_arr == s) for s in sorted(set(site_arr.tolist()))]
    width = 0.7 / len(subsets)
    colours = team_colours(len(lead))
    for k in range(n_cols):
        ax, spec = axes[k], table.specs[k]
        values = table.values[:, :, k]
        shown = np.maximum(values, MM_FLOOR) if spec.unit == "mm" else values
        data, positions = [], []
        dots: dict[bool, tuple[list[Any], list[Any], list[Any]]] = {True: ([], [], []), False: ([], [], [])}
        rows: list[list[int]] = [[t] for t in lead] + groups
        for row, teams in enumerate(rows):
            for g, (_, mask) in enumerate(subsets):
                # a leading team: its per-case values; a group: the median of each of its teams
                single = row < len(lead)
                vals = shown[teams[0], mask] if single else \
                    np.median(shown[np.asarray(teams)][:, mask], axis=1)
                y = row + (g - (len(subsets) - 1) / 2) * width
                data.append(vals)
                positions.append(y)
                xs, ys, dot_colours = dots[single]
                xs.append(vals)
                ys.append(y + rng.uniform(-width * 0.32, width * 0.32, vals.size))
                team_colour = colours[row] if single else "0.45"
                colour = SITE_COLOURS[g % len(SITE_COLOURS)] if by_site else team_colour
                dot_colours.extend([colour] * vals.size)
        ax.boxplot(data, positions=positions, widths=width * 0.85, orientation="horizontal",
                   showfliers=False, manage_ticks=False,
                   boxprops={"color": "0.25", "linewidth": 0.9},
                   medianprops={"color": "black", "linewidth": 1.4},
                   whiskerprops={"color": "0.25", "linewidth": 0.9},
                   capprops={"color": "0.25", "linewidth": 0.9})
        few = len(table.cases) <= 40
        size = float(np.clip(600 / len(table.cases), 4, 24))
        for single, (xs, ys, dot_colours) in dots.items():
            if xs:  # team medians of the groups: small and light, under the box lines
                ax.scatter(np.concatenate(xs), np.concatenate(ys), s=size if single else min(size, 6.0),
                           c=dot_colours, alpha=(0.8 if few else 0.45) if single else 0.3, linewidths=0,
                           zorder=3 if single else 1.5)
        set_value_axis(ax, values, spec.unit, table.columns[k].replace("_", " "))
        labels = [f"{int(result.main.ranking.rank[t])}. {table.teams[t]}" for t in lead]
        ax.set_yticks(range(n_rows), labels + [_row_label(result, g) for g in groups])
        if groups:
            ax.axhline(len(lead) - 0.5, color="0.6", linewidth=0.8, linestyle="--")
        ax.set_ylim(n_rows - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        better = "higher is better" if spec.higher_is_better else "lower is better"
        ax.set_title(f"{table.columns[k].replace('_', ' ')} ({better})", fontsize=10)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[n_cols:]:
        ax.set_visible(False)
    if by_site:
        from matplotlib.patches import Patch

        handles = [Patch(color=SITE_COLOURS[g % len(SITE_COLOURS)], label=f"{name} ({int(mask.sum())} cases)")
                   for g, (name, mask) in enumerate(subsets)]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(subsets), frameon=False)
    what = "by site" if by_site else f"all {len(table.cases)} cases"
    title = f"Per-case scores per team, {what} (teams in final rank order)"
    if groups:
        title += (f"\nleading {len(lead)} of {len(order)} teams: one dot per case; below the dashed line: "
                  "the other teams in rank groups, one dot per team median")
    fig.suptitle(title, fontsize=11)
    return fig


def koos_figure(board: KoosBoard, n_lead: int) -> Figure:
    """MA-MAE per team with its bootstrap interval, best at the top (the leading ``n_lead`` teams)."""
    order = board.ranking.order()
    lead = order[:n_lead]
    n_teams = len(lead)
    fig = new_figure(7.0, max(2.5, 0.35 * n_teams + 1.5))
    ax = fig.subplots()
    score = board.ranking.score[lead]
    ax.scatter(score, range(n_teams), color="#08519c", zorder=3)
    if np.all(np.isfinite(board.ci_low)):
        ax.errorbar(score, range(n_teams), xerr=[score - board.ci_low[lead], board.ci_high[lead] - score],
                    fmt="none", ecolor="#08519c", elinewidth=1.2, capsize=3)
    ax.set_yticks(range(n_teams), [f"{int(board.ranking.rank[t])}. {board.ranking.teams[t]}" for t in lead])
    ax.set_ylim(n_teams - 0.5, -0.5)
    ax.set_xlabel("MA-MAE (grades, lower is better)")
    more = "" if len(order) == n_teams else f"; leading {n_teams} of {len(order)} teams"
    ax.set_title(f"Koos grading: MA-MAE with {board.ci_level:.0%} bootstrap interval "
                 f"({len(board.cases)} cases{more})", fontsize=10)
    ax.grid(axis="x", color="0.9")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def render_figures(result: RankingResult) -> dict[str, bytes]:
    """All report figures as PNG bytes, name (without ``.png``) -> bytes, in report order.

    Each figure is rendered and closed before the next one is drawn (bounded memory)."""
    order = result.main.ranking.order()
    n_lead = result.config.figure_teams
    drawers: dict[str, Any] = {"metrics_all_cases": lambda: metric_figure(result)}
    if any(s is not None for s in result.sites.values()):
        drawers["metrics_by_site"] = lambda: metric_figure(result, by_site=True)
    if result.bootstrap is not None:
        boot = result.bootstrap
        drawers["bootstrap_ranks"] = lambda: bootstrap_figure(boot, order, n_lead)
    drawers["ranking_schemes"] = lambda: schemes_figure(result)
    if len(order) > 1:
        drawers["significance"] = lambda: significance_figure(result.significance, order)
    if result.koos is not None:
        koos = result.koos
        drawers["koos_ma_mae"] = lambda: koos_figure(koos, n_lead)
    out = {}
    for name, draw in drawers.items():
        fig = draw()
        out[name] = png_bytes(fig)
        fig.clear()
    return out
