"""Ordinal classifier stored as plain data: Frank & Hall cumulative binary logistic regressions.

For K ordered classes, K-1 logistic regressions estimate ``P(y > k | x)`` for each threshold k
(Frank & Hall 2001, "A simple approach to ordinal classification"). The cumulative estimates are
made monotone (a running minimum over k), class probabilities are their differences, and the
predicted class is the *median* of that distribution (the minimiser of the expected absolute
error, which is what MA-MAE scores). Features are standardised with the training mean and
standard deviation. Training samples are weighted inversely to their class frequency, so each
grade counts equally, as in the macro-averaged MAE.

Everything the model needs is a handful of float lists, so it serialises to JSON
(:meth:`OrdinalLogistic.to_dict`); no pickle is ever read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

__all__ = ["OrdinalLogistic"]

FloatArray = npt.NDArray[np.float64]


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


@dataclass
class OrdinalLogistic:
    """Frank & Hall ordinal logistic regression over classes ``classes`` (ascending integers).

    Attributes:
        classes: The ordered class values, e.g. ``[1, 2, 3, 4]``.
        C: Inverse L2 regularisation strength of each binary logistic regression.
        mean, scale: Standardisation of the features (length n_features).
        coef: ``(K-1, n_features)`` weights of the threshold models.
        intercept: ``(K-1,)`` intercepts.
    """

    classes: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    C: float = 1.0
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    coef: list[list[float]] = field(default_factory=list)
    intercept: list[float] = field(default_factory=list)

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run (or parameters were loaded)."""
        return len(self.coef) == len(self.classes) - 1 and len(self.mean) > 0

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike) -> OrdinalLogistic:
        """Fit on ``x`` ``(n_samples, n_features)`` and integer labels ``y`` ``(n_samples,)``.

        A threshold whose training labels are all on one side gets a constant model (zero
        weights, intercept at +-10, i.e. probability about 1 or 0).
        """
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y).astype(int)
        if xa.ndim != 2 or xa.shape[0] != ya.shape[0]:
            raise ValueError(f"x must be (n_samples, n_features) matching y; got {xa.shape}, {ya.shape}")
        if not np.isfinite(xa).all():
            raise ValueError("features must be finite")
        unknown = sorted(set(ya.tolist()) - set(self.classes))
        if unknown:
            raise ValueError(f"labels {unknown} are not among classes {self.classes}")
        mean = xa.mean(axis=0)
        scale = xa.std(axis=0)
        scale[scale < 1e-12] = 1.0
        z = (xa - mean) / scale
        counts = {c: int(np.count_nonzero(ya == c)) for c in self.classes}
        weights = np.array([len(ya) / (len(self.classes) * counts[c]) for c in ya], dtype=np.float64)
        coef: list[list[float]] = []
        intercept: list[float] = []
        for k in self.classes[:-1]:
            target = (ya > k).astype(int)
            if target.min() == target.max():
                coef.append([0.0] * xa.shape[1])
                intercept.append(10.0 if target[0] == 1 else -10.0)
                continue
            lr = LogisticRegression(C=self.C, max_iter=5000)
            lr.fit(z, target, sample_weight=weights)
            coef.append([float(v) for v in lr.coef_[0]])
            intercept.append(float(lr.intercept_[0]))
        self.mean, self.scale = [float(v) for v in mean], [float(v) for v in scale]
        self.coef, self.intercept = coef, intercept
        return self

    def cumulative(self, x: npt.ArrayLike) -> FloatArray:
        """Monotone ``P(y > k)`` for each threshold, shape ``(n_samples, K-1)``."""
        if not self.fitted:
            raise RuntimeError("OrdinalLogistic is not fitted")
        xa = np.atleast_2d(np.asarray(x, dtype=np.float64))
        z = (xa - np.asarray(self.mean)) / np.asarray(self.scale)
        raw = _sigmoid(z @ np.asarray(self.coef).T + np.asarray(self.intercept))
        return np.minimum.accumulate(raw, axis=1)

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """Class probabilities ``(n_samples, K)`` (rows sum to 1)."""
        cum = self.cumulative(x)
        n = cum.shape[0]
        upper = np.hstack([np.ones((n, 1)), cum])
        lower = np.hstack([cum, np.zeros((n, 1))])
        proba = np.clip(upper - lower, 0.0, 1.0)
        return np.asarray(proba / proba.sum(axis=1, keepdims=True), dtype=np.float64)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Median class of the predicted distribution, shape ``(n_samples,)``."""
        cdf = np.cumsum(self.predict_proba(x), axis=1)
        index = np.argmax(cdf >= 0.5 - 1e-12, axis=1)
        return np.asarray(self.classes, dtype=np.int64)[index]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready parameters."""
        return {"type": "frank-hall-logistic", "classes": list(self.classes), "C": self.C,
                "mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrdinalLogistic:
        """Rebuild from :meth:`to_dict` output, checking shapes.

        Raises:
            ValueError: wrong type tag or inconsistent shapes.
        """
        if data.get("type") != "frank-hall-logistic":
            raise ValueError(f"not a frank-hall-logistic model: type {data.get('type')!r}")
        model = cls(classes=[int(c) for c in data["classes"]], C=float(data["C"]),
                    mean=[float(v) for v in data["mean"]], scale=[float(v) for v in data["scale"]],
                    coef=[[float(v) for v in row] for row in data["coef"]],
                    intercept=[float(v) for v in data["intercept"]])
        n_feat = len(model.mean)
        if (len(model.scale) != n_feat or len(model.coef) != len(model.classes) - 1
                or any(len(row) != n_feat for row in model.coef)
                or len(model.intercept) != len(model.classes) - 1):
            raise ValueError("inconsistent ordinal model parameters")
        return model
