"""crossmoda: challenge-submission system for cross-modality domain adaptation (crossMoDA).

Subpackages: :mod:`crossmoda.core` (torch-free shared conventions), :mod:`crossmoda.evaluation`,
:mod:`crossmoda.ranking`, :mod:`crossmoda.phantom` and :mod:`crossmoda.algorithm`.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
