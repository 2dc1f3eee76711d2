"""The Koos grader: features -> ordinal classifier, saved and loaded as plain JSON.

:func:`fit_koos` fits on a feature table, :func:`predict_koos` grades one case from its arrays,
:func:`save_koos_model` / :func:`load_koos_model` write and read ``koos_model.json``. Volumes
and areas (``*_mm3``, ``*_mm2``) enter the classifier as ``log1p``: they span orders of magnitude.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmoda.algorithm.koos.anatomy import FrameConfig, structures_from_arrays
from crossmoda.algorithm.koos.features import FEATURE_NAMES, GEOMETRY_FEATURES, compute_features
from crossmoda.algorithm.koos.ordinal import OrdinalLogistic
from crossmoda.core.koos import GRADES
from crossmoda.core.provenance import provenance, write_json_atomic

__all__ = [
    "MODEL_FORMAT",
    "FEATURE_SETS",
    "KoosModel",
    "KoosPrediction",
    "fit_koos",
    "predict_koos",
    "save_koos_model",
    "load_koos_model",
]

MODEL_FORMAT = "crossmoda-koos/1"
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "geometry": GEOMETRY_FEATURES,
    "geometry+image": FEATURE_NAMES,
    "image": ("vs_volume_mm3", *(n for n in FEATURE_NAMES if n.startswith("img_"))),
}
"""Named feature sets of the ablation; ``image`` keeps only the VS volume besides intensities."""


def _transform(name: str, value: float) -> float:
    """Classifier input of one feature: signed ``log1p`` for volumes and areas, identity otherwise."""
    if name.endswith("_mm3") or name.endswith("_mm2"):
        return math.copysign(math.log1p(abs(value)), value)
    return value


@dataclass
class KoosModel:
    """A fitted grader: the features it reads, the frame estimator's settings, the classifier.

    Attributes:
        feature_names: Features in classifier column order.
        frame: Porus estimator settings used when computing features.
        classifier: The ordinal classifier (plain parameters).
        info: Free-form metadata (training cases, provenance).
    """

    feature_names: list[str]
    frame: FrameConfig = field(default_factory=FrameConfig)
    classifier: OrdinalLogistic = field(default_factory=OrdinalLogistic)
    info: dict[str, Any] = field(default_factory=dict)

    def design(self, rows: Sequence[Mapping[str, float]]) -> npt.NDArray[np.float64]:
        """Classifier input matrix ``(n, n_features)`` from feature dicts."""
        missing = [n for n in self.feature_names if rows and n not in rows[0]]
        if missing:
            raise KeyError(f"feature rows lack {missing}")
        return np.array([[_transform(n, float(r[n])) for n in self.feature_names] for r in rows],
                        dtype=np.float64).reshape(len(rows), len(self.feature_names))

    def predict_rows(
        self, rows: Sequence[Mapping[str, float]]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Grades ``(n,)`` and probabilities ``(n, 4)`` for feature dicts."""
        x = self.design(rows)
        return self.classifier.predict(x), self.classifier.predict_proba(x)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :func:`save_koos_model`)."""
        return {"format": MODEL_FORMAT, "feature_names": list(self.feature_names),
                "frame": asdict(self.frame), "classifier": self.classifier.to_dict(), "info": self.info}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KoosModel:
        """Rebuild from :meth:`to_dict`; checks format and that the features are known.

        Raises:
            ValueError: unknown format, unknown features or inconsistent shapes.
        """
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a Koos model ({MODEL_FORMAT}): format {data.get('format')!r}")
        names = [str(n) for n in data["feature_names"]]
        unknown = sorted(set(names) - set(FEATURE_NAMES))
        if unknown:
            raise ValueError(f"model uses unknown features {unknown}")
        frame = FrameConfig(**{k: float(v) for k, v in dict(data.get("frame", {})).items()})
        clf = OrdinalLogistic.from_dict(dict(data["classifier"]))
        if clf.fitted and len(clf.mean) != len(names):
            raise ValueError(f"classifier has {len(clf.mean)} inputs for {len(names)} features")
        return cls(feature_names=names, frame=frame, classifier=clf, info=dict(data.get("info", {})))


@dataclass(frozen=True)
class KoosPrediction:
    """One graded case: grade 1-4, probabilities of grades 1-4, and the features used."""

    grade: int
    probabilities: tuple[float, float, float, float]
    features: dict[str, float]


def fit_koos(
    rows: Sequence[Mapping[str, float]], grades: Sequence[int], *,
    feature_names: Sequence[str] = GEOMETRY_FEATURES, C: float = 1.0,
    frame: FrameConfig | None = None, info: Mapping[str, Any] | None = None,
) -> KoosModel:
    """Fit a grader on feature dicts (one per case, e.g. from :func:`compute_features`) and grades.

    ``frame`` records the porus settings the features were computed with, so inference uses the
    same. Post-operative cases (grade ``None``) must be removed by the caller.

    Raises:
        ValueError: lengths differ, grades outside 1-4, or fewer than two grades present.
    """
    if len(rows) != len(grades):
        raise ValueError(f"{len(rows)} feature rows for {len(grades)} grades")
    ys = [int(g) for g in grades]
    if any(g not in GRADES for g in ys):
        raise ValueError(f"grades must be 1-4, got {sorted(set(ys))}")
    if len(set(ys)) < 2:
        raise ValueError("need at least two different grades to fit")
    model = KoosModel(feature_names=list(feature_names), frame=frame or FrameConfig(),
                      classifier=OrdinalLogistic(classes=list(GRADES), C=C), info=dict(info or {}))
    model.classifier.fit(model.design(rows), ys)
    model.info.setdefault("n_train", len(ys))
    model.info.setdefault("train_grade_counts", {str(g): ys.count(g) for g in GRADES})
    return model


def predict_koos(
    labels: npt.NDArray[np.integer], aux: npt.NDArray[np.integer] | None,
    image: npt.NDArray[Any] | None, spacing_mm: tuple[float, float, float], model: KoosModel,
) -> KoosPrediction:
    """Grade one case from its label arrays ``(z, y, x)``, image and spacing (mm, array order).

    ``aux=None`` means ``labels`` is the segmenter's combined map (1 VS, 2 cochlea, 3 brainstem,
    4 cerebellum); otherwise ``labels`` is 1 VS / 2 cochlea and ``aux`` 1 brainstem / 2 cerebellum.
    """
    structures = structures_from_arrays(labels, aux)
    feats, _ = compute_features(structures, spacing_mm, image, model.frame)
    grade, proba = model.predict_rows([feats])
    p = [float(v) for v in proba[0]]
    return KoosPrediction(grade=int(grade[0]), probabilities=(p[0], p[1], p[2], p[3]), features=feats)


def save_koos_model(model: KoosModel, path: str | Path, config: Any = None) -> Path:
    """Write ``model`` as strict JSON (with provenance) atomically; returns the path."""
    data = model.to_dict()
    data["provenance"] = provenance("crossmoda-koos", config)
    return write_json_atomic(path, data)


def load_koos_model(path: str | Path) -> KoosModel:
    """Read a model written by :func:`save_koos_model` (plain JSON; nothing is executed)."""
    with Path(path).open(encoding="utf-8") as fh:
        return KoosModel.from_dict(json.load(fh))
