"""Figures of the ranking report, drawn from a :class:`~crossmoda.ranking.pipeline.RankingResult`.

Every figure is a :class:`matplotlib.figure.Figure` on an explicit Agg canvas, created inside the
drawing function: no pyplot, no global backend switch, no import-time side effects.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from crossmoda.ranking.bootstrap import Bootstrap
    from crossmoda.ranking.koos_board import KoosBoard
    from crossmoda.ranking.pipeline import RankingResult
    from crossmoda.ranking.significance import Significance

__all__ = ["render_figures", "metric_figure", "bootstrap_figure", "schemes_figure",
           "significance_figure", "koos_figure", "png_bytes"]

DPI = 150
SITE_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _team_colours(n: int) -> list[Any]:
    """Distinct, fairly dark colours: tab10, then Dark2, then evenly spaced hues."""
    from matplotlib import colormaps

    base = [colormaps["tab10"](i) for i in range(10)] + [colormaps["Dark2"](i) for i in range(8)]
    if n <= len(base):
        return base[:n]
    hsv = colormaps["hsv"]
    return base + [hsv(k / (n - len(base) + 1)) for k in range(n - len(base))]


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _set_value_axis(ax: Any, values: npt.NDArray[np.float64], unit: str, label: str) -> None:
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    if unit == "mm" and np.all(values > 0):
        ax.set_xscale("log")
        # plain numbers on the decades only: a narrow range otherwise fills with 1.3x10^1 labels
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    elif unit == "mm":
        ax.set_xscale("symlog", linthresh=0.1)
    elif np.all((values >= 0) & (values <= 1)):
        ax.set_xlim(-0.03, 1.03)  # Dice-like scores on their whole range: comparable across panels
    ax.set_xlabel(f"{label} ({unit})" if unit else label)
    ax.grid(axis="x", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)


def metric_figure(result: RankingResult, by_site: bool = False) -> Figure:
    """Dot-and-box plots: one panel per metric column, one row per team (best at the top).

    With ``by_site`` every team gets one box per site, coloured by site.
    """
    table, order = result.table, result.main.ranking.order()
    n_teams, n_cols = len(order), len(table.columns)
    ncols = 2 if n_cols > 1 else 1
    nrows = int(np.ceil(n_cols / ncols))
    fig = _new_figure(5.6 * ncols, (0.42 if by_site else 0.32) * n_teams * nrows + 1.3 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    rng = np.random.default_rng(0)  # jitter only
    sites = result.sites
    groups: list[tuple[str, npt.NDArray[np.bool_]]] = [("all cases", np.ones(len(table.cases), dtype=bool))]
    if by_site:
        site_arr = np.array([sites[c] or "unknown" for c in table.cases])
        groups = [(s, site_arr == s) for s in sorted(set(site_arr.tolist()))]
    width = 0.7 / len(groups)
    colours = _team_colours(n_teams)
    for k in range(n_cols):
        ax = axes[k]
        spec = table.specs[k]
        data, positions, xs, ys, dot_colours = [], [], [], [], []
        for row, t in enumerate(order):
            for g, (_, mask) in enumerate(groups):
                vals = table.values[t, mask, k]
                y = row + (g - (len(groups) - 1) / 2) * width
                data.append(vals)
                positions.append(y)
                xs.append(vals)
                ys.append(y + rng.uniform(-width * 0.32, width * 0.32, vals.size))
                colour = SITE_COLOURS[g % len(SITE_COLOURS)] if by_site else colours[row]
                dot_colours.extend([colour] * vals.size)
        ax.boxplot(data, positions=positions, widths=width * 0.85, orientation="horizontal",
                   showfliers=False, manage_ticks=False,
                   boxprops={"color": "0.25", "linewidth": 0.9},
                   medianprops={"color": "black", "linewidth": 1.4},
                   whiskerprops={"color": "0.25", "linewidth": 0.9},
                   capprops={"color": "0.25", "linewidth": 0.9})
        few = len(table.cases) <= 40
        ax.scatter(np.concatenate(xs), np.concatenate(ys), s=float(np.clip(600 / len(table.cases), 4, 24)),
                   c=dot_colours, alpha=0.8 if few else 0.45, linewidths=0, zorder=3)
        _set_value_axis(ax, table.values[:, :, k], spec.unit, table.columns[k].replace("_", " "))
        ax.set_yticks(range(n_teams), [f"{int(result.main.ranking.rank[t])}. {table.teams[t]}"
                                       for t in order])
        ax.set_ylim(n_teams - 0.5, -0.5)
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
                   for g, (name, mask) in enumerate(groups)]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(groups), frameon=False)
    what = "by site" if by_site else f"all {len(table.cases)} cases"
    fig.suptitle(f"Per-case scores per team, {what} (teams in final rank order)", fontsize=11)
    return fig


def bootstrap_figure(boot: Bootstrap, order: list[int]) -> Figure:
    """Blob plot of the bootstrap rank distribution: area = share of resamples at that rank;
    black dot = median rank, line = 2.5-97.5 % interval."""
    n_teams = len(order)
    fig = _new_figure(max(7.0, 0.55 * n_teams + 3.0), max(4.0, 0.35 * n_teams + 2.0))
    ax = fig.subplots()
    colours = _team_colours(n_teams)
    share = boot.rank_counts / boot.n_resamples  # (T, T)
    q = np.quantile(boot.ranks, [0.025, 0.5, 0.975], axis=0)
    for x, t in enumerate(order):
        nz = np.nonzero(share[t])[0]
        ax.scatter(np.full(nz.size, x), nz + 1, s=share[t, nz] * 700, color=colours[x], alpha=0.75,
                   linewidths=0, zorder=2)
        ax.plot([x, x], [q[0, t], q[2, t]], color="black", linewidth=1.0, zorder=3)
        ax.scatter([x], [q[1, t]], s=14, color="black", zorder=4)
    ax.plot([-0.5, n_teams - 0.5], [0.5, n_teams + 0.5], color="0.8", linewidth=0.8, zorder=1)
    ax.set_xticks(range(n_teams), [boot.teams[t] for t in order], rotation=40, ha="right")
    ax.set_yticks(range(1, n_teams + 1))
    ax.set_ylim(n_teams + 0.6, 0.4)
    ax.set_xlim(-0.6, n_teams - 0.4)
    for share_ref in (0.1, 0.5, 1.0):
        ax.scatter([], [], s=share_ref * 700, color="0.6", alpha=0.75, linewidths=0, label=f"{share_ref:.0%}")
    ax.legend(title="share of\nresamples", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              labelspacing=1.8, borderpad=1.0, fontsize=8, title_fontsize=8)
    ax.set_ylabel("rank in bootstrap resample")
    ax.grid(axis="y", color="0.92", linewidth=0.8)
    ax.set_axisbelow(True)
    summary = boot.tau_summary()
    tau = "" if summary["median"] is None else \
        f"\nKendall's tau-b vs full ranking: median {summary['median']:.3f}, min {summary['min']:.3f}"
    ax.set_title(f"Bootstrap rank distribution ({boot.n_resamples} resamples of cases, "
                 f"seed {boot.seed}){tau}", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def schemes_figure(result: RankingResult) -> Figure:
    """Bump chart of each team's rank under every ranking scheme and variant."""
    rankings = [result.main.ranking, *result.schemes.values(), *result.variants.values()]
    labels = ["rank-then-\naggregate", "mean then\nrank", "median then\nrank", "test-then-\nrank",
              *[r.name.replace("site:", "site ") for r in rankings[4:]]]
    order = result.main.ranking.order()
    n_teams, n_schemes = len(order), len(rankings)
    fig = _new_figure(max(7.0, 1.0 * n_schemes + 4.0), max(4.0, 0.36 * n_teams + 1.8))
    ax = fig.subplots()
    colours = _team_colours(n_teams)
    ranks = np.array([[r.rank[t] for r in rankings] for t in order], dtype=float)  # (T, S)
    x = np.arange(n_schemes)
    for row, t in enumerate(order):
        ax.plot(x, ranks[row], color=colours[row], linewidth=1.8, marker="o", markersize=5, alpha=0.9)
        ax.annotate(result.table.teams[t], (x[-1], ranks[row, -1]), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=8, color=colours[row])
    ax.axvline(3.5, color="0.75", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, labels, fontsize=8)
    ticks = [f"{int(result.main.ranking.rank[t])}. {result.table.teams[t]}" for t in order]
    ax.set_yticks(range(1, n_teams + 1), ticks, fontsize=8)
    ax.set_ylim(n_teams + 0.5, 0.5)
    ax.set_xlim(-0.3, n_schemes - 0.4)
    ax.set_ylabel("rank (teams labelled by the crossMoDA ranking)")
    ax.set_title("Ranks under the ranking schemes (left of the dashed line) and variants (right)",
                 fontsize=10)
    ax.grid(axis="y", color="0.92", linewidth=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def significance_figure(sig: Significance, order: list[int]) -> Figure:
    """Pairwise significance map: cell (row, column) dark when the row team ranks significantly
    better than the column team; the p-value is printed in each cell for up to 15 teams."""
    from matplotlib.colors import ListedColormap

    n_teams = len(order)
    size = max(5.0, 0.5 * n_teams + 2.5)
    fig = _new_figure(size + 0.6, size)
    ax = fig.subplots()
    sub = sig.significant[np.ix_(order, order)].astype(float)
    sub[np.eye(n_teams, dtype=bool)] = np.nan
    ax.imshow(sub, cmap=ListedColormap(["#deebf7", "#08519c"]), vmin=0, vmax=1)
    if n_teams <= 15:
        p = sig.adjusted[np.ix_(order, order)]
        for i in range(n_teams):
            for j in range(n_teams):
                if i != j:
                    text = "<.001" if p[i, j] < 0.001 else f"{p[i, j]:.2f}".lstrip("0")
                    ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                            color="white" if sub[i, j] > 0.5 else "0.2")
    names = [sig.teams[t] for t in order]
    ax.set_xticks(range(n_teams), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_teams), names, fontsize=8)
    ax.set_xlabel("column team")
    ax.set_ylabel("row team (significantly better than column team: dark)")
    adj = "" if sig.adjustment == "none" else f", {sig.adjustment}-adjusted"
    ax.set_title(f"One-sided paired Wilcoxon on per-case ranks (alpha {sig.alpha}{adj})", fontsize=10)
    ax.set_xticks(np.arange(-0.5, n_teams), minor=True)
    ax.set_yticks(np.arange(-0.5, n_teams), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="both", length=0)
    return fig


def koos_figure(board: KoosBoard) -> Figure:
    """MA-MAE per team with its bootstrap interval, best at the top."""
    order = board.ranking.order()
    n_teams = len(order)
    fig = _new_figure(7.0, max(2.5, 0.35 * n_teams + 1.5))
    ax = fig.subplots()
    score = board.ranking.score[order]
    ax.scatter(score, range(n_teams), color="#08519c", zorder=3)
    if np.all(np.isfinite(board.ci_low)):
        ax.errorbar(score, range(n_teams), xerr=[score - board.ci_low[order], board.ci_high[order] - score],
                    fmt="none", ecolor="#08519c", elinewidth=1.2, capsize=3)
    ax.set_yticks(range(n_teams), [f"{int(board.ranking.rank[t])}. {board.ranking.teams[t]}" for t in order])
    ax.set_ylim(n_teams - 0.5, -0.5)
    ax.set_xlabel("MA-MAE (grades, lower is better)")
    ax.set_title(f"Koos grading: MA-MAE with {board.ci_level:.0%} bootstrap interval "
                 f"({len(board.cases)} cases)", fontsize=10)
    ax.grid(axis="x", color="0.9")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def render_figures(result: RankingResult) -> dict[str, bytes]:
    """All report figures as PNG bytes, name (without ``.png``) -> bytes, in report order."""
    order = result.main.ranking.order()
    figures: dict[str, Figure] = {"metrics_all_cases": metric_figure(result)}
    if any(s is not None for s in result.sites.values()):
        figures["metrics_by_site"] = metric_figure(result, by_site=True)
    if result.bootstrap is not None:
        figures["bootstrap_ranks"] = bootstrap_figure(result.bootstrap, order)
    figures["ranking_schemes"] = schemes_figure(result)
    if len(order) > 1:
        figures["significance"] = significance_figure(result.significance, order)
    if result.koos is not None:
        figures["koos_ma_mae"] = koos_figure(result.koos)
    return {name: png_bytes(fig) for name, fig in figures.items()}
