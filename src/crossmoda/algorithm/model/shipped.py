"""Models shipped with the package (``crossmoda/algorithm/models/<name>/``)."""

from __future__ import annotations

from pathlib import Path

from crossmoda.algorithm.model.spec import MODEL_FILE, ModelError

__all__ = ["SHIPPED_MODELS_DIR", "shipped_model_dir"]

SHIPPED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def shipped_model_dir(name: str = "adapted") -> Path:
    """Folder of a model shipped with the package: ``adapted`` or ``no_adaptation``."""
    path = SHIPPED_MODELS_DIR / name
    if not (path / MODEL_FILE).is_file():
        raise ModelError(path, f"no shipped model {name!r} ({MODEL_FILE} missing)")
    return path
