"""Synthetic crossMoDA data on real anatomy (``crossmoda-phantom``).

Public API: :class:`PhantomConfig`, :func:`generate_dataset` (-> :class:`DatasetSummary`),
:func:`generate_case` (-> :class:`CaseResult`, nothing written) and :func:`plan_cases`.
Imports are lazy: importing this package reads no file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crossmoda.phantom.case import CaseResult, CaseSpec, generate_case
    from crossmoda.phantom.config import PhantomConfig
    from crossmoda.phantom.dataset import DatasetSummary, generate_dataset, plan_cases

__all__ = [
    "PhantomConfig",
    "CaseSpec",
    "CaseResult",
    "DatasetSummary",
    "generate_case",
    "generate_dataset",
    "plan_cases",
]

_WHERE = {
    "PhantomConfig": "crossmoda.phantom.config",
    "CaseSpec": "crossmoda.phantom.case",
    "CaseResult": "crossmoda.phantom.case",
    "generate_case": "crossmoda.phantom.case",
    "DatasetSummary": "crossmoda.phantom.dataset",
    "generate_dataset": "crossmoda.phantom.dataset",
    "plan_cases": "crossmoda.phantom.dataset",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'crossmoda.phantom' has no attribute {name!r}")
