"""What a case predictor returns, and the predictor protocol the runner drives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

__all__ = ["CaseOutput", "CasePredictor"]


@dataclass
class CaseOutput:
    """What a predictor returns for one volume (hrT2 for 2022, T2 for 2023).

    Attributes:
        labels: ``uint8 (z, y, x)`` on exactly the input grid, in the model's label map (2022:
            1 VS, 2 cochlea; 2023: 1 extra-meatal VS, 2 intra-meatal VS, 3 cochlea).
        koos_grade: Predicted Koos grade 1-4; ``None`` for a task without Koos grading (2023).
        koos_probabilities: Probabilities of grades 1-4 (sum 1); empty without a grade.
        timings_s: Seconds per pipeline step.
        extra: Anything else worth recording (features, localisation box...).
    """

    labels: npt.NDArray[np.uint8]
    koos_grade: int | None
    koos_probabilities: list[float]
    timings_s: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class CasePredictor(Protocol):
    """Anything that turns one hrT2 image into a :class:`CaseOutput`."""

    def __call__(self, image: sitk.Image) -> CaseOutput: ...
