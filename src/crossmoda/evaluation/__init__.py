"""Evaluation of crossMoDA submissions (torch-free): exact metrics, folder and grand-challenge modes.

Submodules: :mod:`~crossmoda.evaluation.surface` (surface distances), :mod:`~.metrics`
(per-structure metrics and the edge-case policy), :mod:`~.koos` (Koos grading metrics),
:mod:`~.case` (one case from files), :mod:`~.runner` (folder mode and outputs),
:mod:`~.grand_challenge` (``predictions.json`` mode), :mod:`~.cli` (``crossmoda-evaluate``).
"""
