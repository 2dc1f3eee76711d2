"""One call from a score table to every ranking: the typed function behind ``crossmoda-rank``.

:func:`compute_ranking` is pure computing (what the benchmark times); :func:`run_ranking` loads
the scores, computes and writes the report (:mod:`crossmoda.ranking.report`). The configuration
and result types live in :mod:`crossmoda.ranking.result` (re-exported here).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from crossmoda.ranking.bootstrap import bootstrap_ranking
from crossmoda.ranking.koos_board import koos_leaderboard
from crossmoda.ranking.ranks import aggregate_then_rank, rank_then_aggregate, variant_tables
from crossmoda.ranking.report import write_report
from crossmoda.ranking.result import RankingConfig, RankingResult
from crossmoda.ranking.scores import ScoreTable, apply_missing_policy, load_scores
from crossmoda.ranking.significance import test_then_rank

__all__ = ["RankingConfig", "RankingResult", "compute_ranking", "run_ranking"]

logger = logging.getLogger(__name__)


def compute_ranking(raw: ScoreTable, config: RankingConfig | None = None) -> RankingResult:
    """Apply the missing-value policy, then compute the main ranking, its variants, the other
    schemes, the significance tests, the bootstrap and the Koos leaderboard.

    Raises:
        ScoreTableError: on missing values the policy refuses.
        BootstrapError: when a bootstrap is asked for on a single case.
    """
    config = replace(config or RankingConfig(), columns=list(raw.columns))
    if config.significance_teams < 2:
        raise ValueError(f"significance_teams must be >= 2, got {config.significance_teams}")
    if config.figure_teams < 1:
        raise ValueError(f"figure_teams must be >= 1, got {config.figure_teams}")
    table, missing = apply_missing_policy(raw, config.missing)
    if not table.teams or not table.cases:
        raise ValueError("the score table holds no team or no case")
    main = rank_then_aggregate(table)
    variants = {name: rank_then_aggregate(sub, name=name, description=text).ranking
                for name, (sub, text) in variant_tables(table, config.variants).items()}
    leading = main.ranking.order()[:config.significance_teams]
    if len(leading) < len(table.teams):
        logger.info("pairwise tests among the leading %d of %d teams", len(leading), len(table.teams))
    significance = test_then_rank(table.teams, main.per_case, config.alpha, config.adjustment, leading)
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
    config = config or RankingConfig()
    raw = load_scores(scores, config.names, config.columns)
    logger.info("%s: %d teams, %d cases, columns %s", raw.source, len(raw.teams), len(raw.cases), raw.columns)
    result = compute_ranking(raw, config)
    write_report(result, Path(output), source=str(scores))
    return result
