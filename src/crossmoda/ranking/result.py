"""The typed result of a ranking run and its configuration (no computing, no output).

:class:`RankingConfig` and :class:`RankingResult` live here so that computing
(:mod:`~crossmoda.ranking.pipeline`) and output (:mod:`~crossmoda.ranking.report`,
:mod:`~crossmoda.ranking.plots`) both import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crossmoda.ranking.bootstrap import Bootstrap
from crossmoda.ranking.koos_board import KoosBoard
from crossmoda.ranking.ranks import VARIANTS, Ranking, RankThenAggregate, site_of
from crossmoda.ranking.scores import ColumnNames, MissingPolicy, MissingReport, ScoreTable
from crossmoda.ranking.significance import Adjustment, Significance

__all__ = ["SIGNIFICANCE_TEAMS", "FIGURE_TEAMS", "RankingConfig", "RankingResult"]

SIGNIFICANCE_TEAMS = 100
"""Default number of leading teams tested pairwise (all teams up to this many)."""
FIGURE_TEAMS = 20
"""Default number of leading teams drawn one row (or column) each in the figures."""


@dataclass
class RankingConfig:
    """Settings of a ranking run (written, resolved, into ``ranking.json``).

    Attributes:
        bootstrap: Number of bootstrap resamples (0 = no bootstrap).
        seed: Seed of the bootstraps.
        variants: Ranking variants (:data:`~crossmoda.ranking.ranks.VARIANTS`).
        missing: Missing-value policy: ``worst`` (metric's worst value), ``drop`` or ``error``.
        alpha: Significance level of test-then-rank.
        adjustment: p-value adjustment of test-then-rank (``none`` or ``holm``).
        significance_teams: Pairwise tests (and test-then-rank) among the leading this many teams
            of the main ranking (>= 2); all teams when there are no more.
        figure_teams: Teams drawn individually in the figures (>= 1); the others are summarised.
        ci_level: Level of the Koos bootstrap interval.
        columns: Metric columns to rank on (default: the four crossMoDA columns when present).
        names: Identifying column names of table input.
        figures: Draw the figures and ``report.html``.
        preset: Ranking preset whose default columns were used (:mod:`crossmoda.ranking.presets`).
    """

    bootstrap: int = 1000
    seed: int = 2022
    variants: tuple[str, ...] = VARIANTS
    missing: MissingPolicy = "worst"
    alpha: float = 0.05
    adjustment: Adjustment = "none"
    significance_teams: int = SIGNIFICANCE_TEAMS
    figure_teams: int = FIGURE_TEAMS
    ci_level: float = 0.95
    columns: list[str] | None = None
    names: ColumnNames = field(default_factory=ColumnNames)
    figures: bool = True
    preset: str = "crossmoda2022"


@dataclass
class RankingResult:
    """Everything :func:`~crossmoda.ranking.pipeline.compute_ranking` produces.

    Attributes:
        table: The scores after the missing-value policy.
        missing: What the policy did.
        main: The crossMoDA ranking with its per-case ranks.
        variants: Variant name -> ranking.
        schemes: Other schemes (aggregate-then-rank mean/median, test-then-rank) by name.
        significance: Pairwise tests among the leading ``config.significance_teams`` teams.
        bootstrap: Bootstrap of the main ranking, or ``None``.
        koos: Koos leaderboard, or ``None`` when the input has no Koos grades.
        config: The resolved configuration.
    """

    table: ScoreTable
    missing: MissingReport
    main: RankThenAggregate
    variants: dict[str, Ranking]
    schemes: dict[str, Ranking]
    significance: Significance
    bootstrap: Bootstrap | None
    koos: KoosBoard | None
    config: RankingConfig

    @property
    def sites(self) -> dict[str, str | None]:
        """Case -> site code (``None`` when the case name carries none)."""
        return {c: site_of(c) for c in self.table.cases}
