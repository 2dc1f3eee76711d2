"""Ranking of crossMoDA submissions (torch-free): ``crossmoda-rank``.

Computing: :mod:`~crossmoda.ranking.scores` (input tables, missing values), :mod:`~.ranks`
(rank-then-aggregate, variants, aggregate-then-rank), :mod:`~.significance` (test-then-rank),
:mod:`~.bootstrap` (stability), :mod:`~.koos_board` (Koos leaderboard), :mod:`~.pipeline` (all of
it, typed). Output: :mod:`~.report` (CSV, Markdown, JSON, HTML) and :mod:`~.plots` (figures).
CLI: :mod:`~.cli`.
"""
