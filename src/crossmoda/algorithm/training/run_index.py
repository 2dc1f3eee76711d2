"""The prepared data folder's ``index.json`` (written by :func:`~.prepare.prepare_data`), parsed
here and nowhere else."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["INDEX_FILE", "RunIndex"]

INDEX_FILE = "index.json"

Vec3 = tuple[float, float, float]


@dataclass
class RunIndex:
    """Cases of a prepared data folder (``RUN/data``).

    Attributes:
        source: Labelled ceT1 cases (crops in ``source/``).
        target: Unlabelled hrT2 (2023: T2) cases (crops in ``target/``).
        centres: Case -> world centre ``(x, y, z)`` mm of its crop box.
        truth_hrT2: Source cases with a paired hrT2 (phantom only).
        truth_label: Target cases with paired-truth labels (phantom only).
        provenance: The prepare step's provenance (its ``config.data`` is the data set path).
        label_map: The data's label map (folders prepared before 2023 support: ``crossmoda2022``).
    """

    source: list[str]
    target: list[str]
    centres: dict[str, Vec3]
    truth_hrT2: list[str] = field(default_factory=list)
    truth_label: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    label_map: str = "crossmoda2022"

    @classmethod
    def read(cls, data_dir: Path) -> RunIndex:
        """Parse ``data_dir/index.json``; a missing file raises ``FileNotFoundError``."""
        path = Path(data_dir) / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a prepared data folder (run `crossmoda-train prepare`)")
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            source=list(raw["splits"]["source"]),
            target=list(raw["splits"]["target"]),
            centres={c: (float(v[0]), float(v[1]), float(v[2])) for c, v in raw["centres"].items()},
            truth_hrT2=list(raw.get("truth_hrT2", [])),
            truth_label=list(raw.get("truth_label", [])),
            provenance=dict(raw.get("provenance", {})),
            label_map=str(raw.get("label_map", "crossmoda2022")),
        )

    @property
    def splits(self) -> dict[str, list[str]]:
        """Split name (``source``, ``target``) -> case names."""
        return {"source": self.source, "target": self.target}

    @property
    def data_path(self) -> str | None:
        """The data set the folder was prepared from (as given on the command line)."""
        path = self.provenance.get("config", {}).get("data")
        return str(path) if path is not None else None
