"""Label maps as data: crossMoDA 2021/2022, 2023 (with regions) and auxiliary structures.

A *structure* is what a metric is computed on. It is a *region*: a set of label values whose
union forms the mask (nnU-Net's notion of regions), so ``VS = {1, 2}`` in the 2023 map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "Region",
    "LabelMap",
    "LABELS_2022",
    "LABELS_2023",
    "AUX_LABELS",
    "LABEL_MAPS",
    "get_label_map",
]


@dataclass(frozen=True)
class Region:
    """A named structure made of one or more label values.

    Attributes:
        name: Structure name used in metric columns (e.g. ``"VS"`` gives ``VS_Dice``).
        labels: The label values whose union is the structure.
    """

    name: str
    labels: tuple[int, ...]

    def mask(self, label_array: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
        """Boolean mask of this region in ``label_array`` (any shape)."""
        if len(self.labels) == 1:
            return np.asarray(label_array == self.labels[0])
        return np.isin(label_array, self.labels)


@dataclass(frozen=True)
class LabelMap:
    """A label map: the values a ``_Label`` (or ``_Aux``) file may hold and the regions scored.

    Attributes:
        name: Identifier, e.g. ``"crossmoda2022"``.
        labels: Value -> name for every non-background label (0 is always background).
        regions: The structures evaluated, in column order.
    """

    name: str
    labels: Mapping[int, str]
    regions: tuple[Region, ...] = field(default_factory=tuple)

    @property
    def allowed_values(self) -> frozenset[int]:
        """All values a valid label image may hold, background included."""
        return frozenset({0, *self.labels})

    def region(self, name: str) -> Region:
        """The region called ``name`` (case-sensitive)."""
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(f"label map {self.name!r} has no region {name!r}")

    def invalid_values(self, label_array: npt.NDArray[np.generic]) -> list[int]:
        """Sorted values present in ``label_array`` that the map does not define."""
        values = np.unique(label_array)
        return sorted(int(v) for v in values if int(v) not in self.allowed_values)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable description (for provenance and model metadata)."""
        return {
            "name": self.name,
            "labels": {str(k): v for k, v in self.labels.items()},
            "regions": {r.name: list(r.labels) for r in self.regions},
        }


LABELS_2022 = LabelMap(
    name="crossmoda2022",
    labels={1: "VS", 2: "cochlea"},
    regions=(Region("VS", (1,)), Region("Cochlea", (2,))),
)
"""crossMoDA 2021 and 2022: 1 vestibular schwannoma, 2 cochlea (both sides)."""

LABELS_2023 = LabelMap(
    name="crossmoda2023",
    labels={1: "extra-meatal VS", 2: "intra-meatal VS", 3: "cochlea"},
    regions=(
        Region("VS", (1, 2)),
        Region("ExtraMeatalVS", (1,)),
        Region("IntraMeatalVS", (2,)),
        Region("Cochlea", (3,)),
    ),
)
"""crossMoDA 2023: VS split at the porus into extra- and intra-meatal parts; VS = {1, 2}."""

AUX_LABELS = LabelMap(
    name="crossmoda-aux",
    labels={1: "brainstem", 2: "cerebellum"},
    regions=(Region("Brainstem", (1,)), Region("Cerebellum", (2,))),
)
"""Auxiliary structures of ``<case>_Aux.nii.gz`` files; never written into ``_Label`` files."""

LABEL_MAPS: dict[str, LabelMap] = {m.name: m for m in (LABELS_2022, LABELS_2023, AUX_LABELS)}


def get_label_map(name: str) -> LabelMap:
    """Look up a label map by name (``crossmoda2022``, ``crossmoda2023``, ``crossmoda-aux``).

    ``crossmoda2021`` is accepted as an alias of ``crossmoda2022`` (same labels).
    """
    key = "crossmoda2022" if name == "crossmoda2021" else name
    try:
        return LABEL_MAPS[key]
    except KeyError:
        raise KeyError(f"unknown label map {name!r}; known: {sorted(LABEL_MAPS)}") from None
