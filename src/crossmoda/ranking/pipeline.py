"""One call from a score table to every ranking: the typed function behind ``crossmoda-rank``.

:func:`compute_ranking` is pure computing (what the benchmark times); :func:`run_ranking` loads
the scores, computes and writes the report (:mod:`crossmoda.ranking.report`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from crossmoda.ranking.bootstrap import Bootstrap, bootstrap_ranking
from crossmoda.ranking.koos_board import KoosBoard, koos_leaderboard
from crossmoda.ranking.ranks import (
    VARIANTS,
    Ranking,
    RankThenAggregate,
    aggregate_then_rank,
    rank_then_aggregate,
    site_of,
    variant_tables,
)
from crossmoda.ranking.scores import (
    ColumnNames,
    MissingPolicy,
    MissingReport,
    ScoreTable,
    apply_missing_policy,
    load_scores,
)
from crossmoda.ranking.significance import Adjustment, Significance, test_then_rank

__all__ = ["RankingConfig", "RankingResult", "compute_ranking", "run_ranking"]

logger = logging.getLogger(__name__)


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
    ci_level: float = 0.95
    columns: list[str] | None = None
    names: ColumnNames = field(default_factory=ColumnNames)
    figures: bool = True
    preset: str = "crossmoda2022"


@dataclass
class RankingResult:
    """Everything :func:`compute_ranking` produces.

    Attributes:
        table: The scores after the missing-value policy.
        missing: What the policy did.
        main: The crossMoDA ranking with its per-case ranks.
        variants: Variant name -> ranking.
        schemes: Other schemes (aggregate-then-rank mean/median, test-then-rank) by name.
        significance: Pairwise tests.
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


def compute_ranking(raw: ScoreTable, config: RankingConfig | None = None) -> RankingResult:
    """Apply the missing-value policy, then compute the main ranking, its variants, the other
    schemes, the significance tests, the bootstrap and the Koos leaderboard.

    Raises:
        ScoreTableError: on missing values the policy refuses.
        BootstrapError: when a bootstrap is asked for on a single case.
    """
    config = replace(config or RankingConfig(), columns=list(raw.columns))
    table, missing = apply_missing_policy(raw, config.missing)
    if not table.teams or not table.cases:
        raise ValueError("the score table holds no team or no case")
    main = rank_then_aggregate(table)
    variants = {name: rank_then_aggregate(sub, name=name, description=text).ranking
                for name, (sub, text) in variant_tables(table, config.variants).items()}
    significance = test_then_rank(table.teams, main.per_case, config.alpha, config.adjustment)
    schemes = {r.name: r for r in (aggregate_then_rank(table, "mean"), aggregate_then_rank(table, "median"),
                                   significance.ranking)}
    boot = None
    if config.bootstrap > 0:
        boot = bootstrap_ranking(table.teams, main.case_rank_sum, config.bootstrap, config.seed)
    koos = None
    if raw.koos:
        koos = koos_leaderboard(raw.koos, config.bootstrap, config.seed, config.ci_level)
    return RankingResult(table, missing, main, variants, schemes, significance, boot, koos, config)


def run_ranking(scores: str | Path, output: str | Path, config: RankingConfig | None = None) -> RankingResult:
    """Load ``scores`` (table or folder of teams), rank, and write the report into ``output``."""
    from crossmoda.ranking.report import write_report

    config = config or RankingConfig()
    raw = load_scores(scores, config.names, config.columns)
    logger.info("%s: %d teams, %d cases, columns %s", raw.source, len(raw.teams), len(raw.cases), raw.columns)
    result = compute_ranking(raw, config)
    write_report(result, Path(output), source=str(scores))
    return result
