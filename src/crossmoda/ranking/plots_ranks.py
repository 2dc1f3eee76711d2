"""Rank figures of the ranking report: bootstrap rank distribution, schemes, significance map.

Sizes are bounded whatever the number of teams: beyond the leading ``n_lead`` teams the bootstrap
figure adds a rank-distribution heatmap of all teams, the scheme chart follows the leading teams
and summarises all of them by Kendall's tau-b, and the significance map (of the tested teams only)
labels ranks instead of names beyond :data:`NAMED_TEAMS` teams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from crossmoda.ranking.bootstrap import kendall_tau_b
from crossmoda.ranking.plots_style import format_p, new_figure, team_colours

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from crossmoda.ranking.bootstrap import Bootstrap
    from crossmoda.ranking.result import RankingResult
    from crossmoda.ranking.significance import Significance

__all__ = ["NAMED_TEAMS", "P_VALUE_TEAMS", "bootstrap_figure", "schemes_figure", "significance_figure"]

NAMED_TEAMS = 40
"""Significance maps of up to this many teams carry team names; larger ones carry ranks."""
P_VALUE_TEAMS = 15
"""Significance maps of up to this many teams print the p-value in every cell."""


def _despine(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _blobs(ax: Axes, boot: Bootstrap, teams: list[int]) -> None:
    """Blob plot of ``teams`` (x positions in list order)."""
    colours = team_colours(len(teams))
    share = boot.rank_counts[teams] / boot.n_resamples  # (n, T)
    q = np.quantile(boot.ranks[:, teams], [0.025, 0.5, 0.975], axis=0)  # (3, n)
    for x in range(len(teams)):
        nz = np.nonzero(share[x])[0]
        ax.scatter(np.full(nz.size, x), nz + 1, s=share[x, nz] * 700, color=colours[x], alpha=0.75,
                   linewidths=0, zorder=2)
        ax.plot([x, x], [q[0, x], q[2, x]], color="black", linewidth=1.0, zorder=3)
        ax.scatter([x], [q[1, x]], s=14, color="black", zorder=4)
    n = len(teams)
    top = int(max(n, boot.ranks[:, teams].max()))
    ax.plot([-0.5, n - 0.5], [0.5, n + 0.5], color="0.8", linewidth=0.8, zorder=1)
    ax.set_xticks(range(n), [boot.teams[t] for t in teams], rotation=40, ha="right")
    if top <= 40:
        ax.set_yticks(range(1, top + 1))
    ax.set_ylim(top + 0.6, 0.4)
    ax.set_xlim(-0.6, n - 0.4)
    for share_ref in (0.1, 0.5, 1.0):
        ax.scatter([], [], s=share_ref * 700, color="0.6", alpha=0.75, linewidths=0, label=f"{share_ref:.0%}")
    ax.legend(title="share of\nresamples", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              labelspacing=1.8, borderpad=1.0, fontsize=8, title_fontsize=8)
    ax.set_ylabel("rank in bootstrap resample")
    ax.grid(axis="y", color="0.92", linewidth=0.8)
    ax.set_axisbelow(True)
    _despine(ax)


def _heatmap(fig: Figure, ax: Axes, boot: Bootstrap, order: list[int]) -> None:
    """Share of resamples at each rank (y) for every team in final rank order (x), log colours."""
    from matplotlib.colors import LogNorm

    n = len(order)
    share = (boot.rank_counts[order] / boot.n_resamples).T  # (rank, team)
    shown = np.ma.masked_equal(share, 0.0)
    image = ax.imshow(shown, cmap="viridis_r", norm=LogNorm(vmin=1.0 / boot.n_resamples, vmax=1.0),
                      origin="upper", aspect="auto", interpolation="nearest",
                      extent=(0.5, n + 0.5, n + 0.5, 0.5))
    median = np.median(boot.ranks[:, order], axis=0)
    ax.plot(np.arange(1, n + 1), median, color="black", linewidth=0.6, label="median rank")
    ax.set_xlabel("team, by rank in the full ranking")
    ax.set_ylabel("rank in bootstrap resample")
    ax.set_title(f"all {n} teams", fontsize=10)
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.colorbar(image, ax=ax, label="share of resamples", shrink=0.8)


def bootstrap_figure(boot: Bootstrap, order: list[int], n_lead: int = 20) -> Figure:
    """Blob plot of the bootstrap rank distribution of the leading ``n_lead`` teams (area = share of
    resamples at that rank; black dot = median rank, line = 2.5-97.5 % interval); with more teams,
    a heatmap of every team's rank distribution beside it."""
    lead = order[:n_lead]
    many = len(order) > len(lead)
    height = max(4.0, 0.35 * len(lead) + 2.0)
    fig = new_figure(max(7.0, 0.55 * len(lead) + 3.0), height + (6.5 if many else 0.0))
    if many:
        ax, ax_all = fig.subplots(2, 1, height_ratios=(height, 6.5))
        _blobs(ax, boot, lead)
        ax.set_title(f"leading {len(lead)} teams", fontsize=10)
        _heatmap(fig, ax_all, boot, order)
    else:
        ax = fig.subplots()
        _blobs(ax, boot, lead)
    summary = boot.tau_summary()
    tau = "" if summary["median"] is None else \
        f"\nKendall's tau-b vs full ranking: median {summary['median']:.3f}, min {summary['min']:.3f}"
    title = f"Bootstrap rank distribution ({boot.n_resamples} resamples of cases, seed {boot.seed}){tau}"
    if many:
        fig.suptitle(title, fontsize=10)
    else:
        ax.set_title(title, fontsize=10)
    return fig


def schemes_figure(result: RankingResult) -> Figure:
    """Bump chart of the leading teams' ranks under every ranking scheme and variant; with more
    teams than drawn, a second panel gives Kendall's tau-b of each against the crossMoDA ranking
    over all teams (test-then-rank: over the tested teams)."""
    rankings = [result.main.ranking, *result.schemes.values(), *result.variants.values()]
    labels = ["rank-then-\naggregate", "mean then\nrank", "median then\nrank", "test-then-\nrank",
              *[r.name.replace("site:", "site ") for r in rankings[4:]]]
    order = result.main.ranking.order()
    lead = order[:result.config.figure_teams]
    many = len(order) > len(lead)
    n_teams, n_schemes = len(lead), len(rankings)
    height = max(4.0, 0.36 * n_teams + 1.8)
    tau_height = 0.3 * (n_schemes - 1) + 1.2
    fig = new_figure(max(7.0, 1.0 * n_schemes + 4.0), height + (tau_height if many else 0.0))
    if many:
        ax, ax_tau = fig.subplots(2, 1, height_ratios=(height, tau_height))
    else:
        ax = fig.subplots()
    colours = team_colours(n_teams)
    ranks = np.array([[r.rank[t] for r in rankings] for t in lead], dtype=float)  # (n, S)
    x = np.arange(n_schemes)
    for row, t in enumerate(lead):
        ax.plot(x, ranks[row], color=colours[row], linewidth=1.8, marker="o", markersize=5, alpha=0.9)
        ax.annotate(result.table.teams[t], (x[-1], ranks[row, -1]), xytext=(6, 0), textcoords="offset points",
                    va="center", fontsize=8, color=colours[row])
    ax.axvline(3.5, color="0.75", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, labels, fontsize=8)
    top = int(ranks.max())
    if top <= n_teams:
        ticks = [f"{int(result.main.ranking.rank[t])}. {result.table.teams[t]}" for t in lead]
        ax.set_yticks(range(1, n_teams + 1), ticks, fontsize=8)
        ax.set_ylabel("rank (teams labelled by the crossMoDA ranking)")
    else:
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("rank")
    ax.set_ylim(top + 0.5, 0.5)
    ax.set_xlim(-0.3, n_schemes - 0.4)
    what = "Ranks" if not many else f"Ranks of the leading {n_teams} of {len(order)} teams"
    ax.set_title(f"{what} under the ranking schemes (left of the dashed line) and variants (right)",
                 fontsize=10)
    ax.grid(axis="y", color="0.92", linewidth=0.8)
    _despine(ax)
    if many:
        _tau_panel(ax_tau, result, rankings[1:], labels[1:])
    return fig


def _tau_panel(ax: Axes, result: RankingResult, rankings: list, labels: list[str]) -> None:
    main = result.main.ranking.rank
    tested = result.significance.tested
    tau = [float(kendall_tau_b(main[tested] if r.name == "test-then-rank" else main,
                               (r.rank[tested] if r.name == "test-then-rank" else r.rank)[None, :])[0])
           for r in rankings]
    y = np.arange(len(rankings))
    ax.barh(y, tau, color="#6baed6")
    names = [lab.replace("-\n", "-").replace("\n", " ") for lab in labels]
    names = [n + ("\n(tested teams)" if r.name == "test-then-rank" else "")
             for n, r in zip(names, rankings, strict=True)]
    ax.set_yticks(y, names, fontsize=8)
    ax.set_ylim(len(rankings) - 0.5, -0.5)
    ax.set_xlim(min(0.0, *tau) - 0.05, 1.0)
    ax.set_xlabel("Kendall's tau-b vs the crossMoDA ranking")
    ax.set_title(f"agreement over all {len(main)} teams", fontsize=10)
    for yy, v in zip(y, tau, strict=True):
        ax.text(v, float(yy), f" {v:.3f}", va="center", fontsize=7, clip_on=False)
    _despine(ax)


def significance_figure(sig: Significance, order: list[int]) -> Figure:
    """Pairwise significance map of the tested teams in final rank order: cell (row, column) dark
    when the row team ranks significantly better than the column team; p-values printed (two
    significant digits) for up to :data:`P_VALUE_TEAMS` teams."""
    from matplotlib.colors import ListedColormap

    position = {t: k for k, t in enumerate(sig.tested)}
    shown = [position[t] for t in order if t in position]  # rows of sig's matrices, best first
    n_teams = len(shown)
    size = min(max(5.0, 0.5 * n_teams + 2.5), 13.0)
    fig = new_figure(max(size + 0.6, 7.5), size)
    ax = fig.subplots()
    sub = sig.significant[np.ix_(shown, shown)].astype(float)
    sub[np.eye(n_teams, dtype=bool)] = np.nan
    ax.imshow(sub, cmap=ListedColormap(["#deebf7", "#08519c"]), vmin=0, vmax=1, interpolation="nearest")
    if n_teams <= P_VALUE_TEAMS:
        p = sig.adjusted[np.ix_(shown, shown)]
        for i in range(n_teams):
            for j in range(n_teams):
                if i != j:
                    ax.text(j, i, format_p(p[i, j]), ha="center", va="center", fontsize=6.5,
                            color="white" if sub[i, j] > 0.5 else "0.2")
    if n_teams <= NAMED_TEAMS:
        names = [sig.teams[k] for k in shown]
        ax.set_xticks(range(n_teams), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n_teams), names, fontsize=8)
        ax.set_xlabel("column team")
        ax.set_ylabel("row team")
        ax.set_xticks(np.arange(-0.5, n_teams), minor=True)
        ax.set_yticks(np.arange(-0.5, n_teams), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.0)
    else:
        ticks = [k for k in range(n_teams) if k == 0 or (k + 1) % 10 == 0]
        ax.set_xticks(ticks, [str(k + 1) for k in ticks], fontsize=8)
        ax.set_yticks(ticks, [str(k + 1) for k in ticks], fontsize=8)
        ax.set_xlabel("column team (rank)")
        ax.set_ylabel("row team (rank)")
    ax.tick_params(which="both", length=0)
    adj = "" if sig.adjustment == "none" else f", {sig.adjustment}-adjusted"
    limited = "" if not sig.limited else f"; leading {n_teams} of {sig.n_teams} teams tested"
    fig.suptitle(f"One-sided paired Wilcoxon tests on the per-case ranks\n(alpha {sig.alpha}{adj}{limited})\n"
                 "dark: row team significantly better than column team", fontsize=10)
    return fig
