"""Ranking of crossMoDA submissions (torch-free): ``crossmoda-rank``.

Computing: :mod:`~crossmoda.ranking.scores` (input tables, missing values), :mod:`~.ranks`
(rank-then-aggregate, variants, aggregate-then-rank), :mod:`~.significance` (test-then-rank),
:mod:`~.bootstrap` (stability), :mod:`~.koos_board` (Koos leaderboard), :mod:`~.pipeline` (all of
it, typed; its configuration and result types are in :mod:`~.result`). Output: :mod:`~.report` (CSV,
Markdown, JSON, HTML) and :mod:`~.plots`, :mod:`~.plots_ranks`, :mod:`~.plots_style` (figures).
CLI: :mod:`~.cli`.
"""
