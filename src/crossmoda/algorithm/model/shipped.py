"""Models shipped with the package (``crossmoda/algorithm/models/<name>/``) and the choice of a
model by shipped name or folder."""

from __future__ import annotations

from pathlib import Path

from crossmoda.algorithm.model.spec import MODEL_FILE, ModelError

__all__ = ["SHIPPED_MODELS", "SHIPPED_MODELS_DIR", "model_from", "shipped_model_dir"]

SHIPPED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

SHIPPED_MODELS: dict[str, str] = {
    "adapted": "crossMoDA 2022 (hrT2 -> VS, cochlea, Koos grade), trained with domain adaptation",
    "no_adaptation": "crossMoDA 2022 baseline trained on the source domain only",
    "adapted_2023": "crossMoDA 2023 (T2 -> extra-/intra-meatal VS, cochlea), trained with domain "
                    "adaptation",
}
"""Shipped model name -> what it is. A name may be listed before its folder is installed."""


def _names() -> str:
    return ", ".join(SHIPPED_MODELS)


def shipped_model_dir(name: str = "adapted") -> Path:
    """Folder of a model shipped with the package: one of :data:`SHIPPED_MODELS`.

    Raises:
        ModelError: ``name`` is not a shipped model, or its folder is not installed.
    """
    if name not in SHIPPED_MODELS:
        raise ModelError(None, f"unknown model name {name!r}; shipped models: {_names()} "
                               "(or give a model folder)")
    path = SHIPPED_MODELS_DIR / name
    if not (path / MODEL_FILE).is_file():
        raise ModelError(path, f"the shipped model {name!r} is not installed ({MODEL_FILE} missing)")
    return path


def model_from(value: str | Path) -> Path:
    """The model folder named by ``value``: an existing folder, or anything with a ``/``, as a path
    (checked when the model is read); else a shipped model name (:func:`shipped_model_dir`).

    Raises:
        ModelError: ``value`` is no shipped model name (the message lists them) or names a shipped
            model that is not installed.
    """
    path = Path(value)
    if path.is_dir() or "/" in str(value):
        return path
    return shipped_model_dir(str(value))
