"""Ranking presets: which metric columns each crossMoDA edition ranks on by default.

``crossmoda2022`` (the default) keeps the 2022 challenge's four columns, VS and cochlea Dice and
ASSD (the table's metric columns when those four are absent). ``crossmoda2023`` ranks on the three
labels of the 2023 task, each once: extra-meatal VS, intra-meatal VS and cochlea, Dice and ASSD
(six columns; the evaluation writes them with ``--label-map crossmoda2023``). The whole tumour
(``VS_*``, labels {1, 2}) is left out by default because it would count the tumour twice; an
organiser who wants it, or any other choice, passes ``--columns``, which always wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossmoda.core.metrics_spec import CHALLENGE_COLUMNS

__all__ = ["RankingPreset", "PRESETS", "DEFAULT_PRESET", "get_preset", "resolve_columns"]


@dataclass(frozen=True)
class RankingPreset:
    """A named default for the ranked columns.

    Attributes:
        name: Preset name (``crossmoda2022``, ``crossmoda2023``).
        label_map: The evaluation label map whose columns it ranks.
        columns: Default metric columns, or ``None`` for the score loader's own default (the four
            2022 columns when present, else every metric column).
        description: One line for ``--help`` and the docs.
    """

    name: str
    label_map: str
    columns: tuple[str, ...] | None
    description: str


COLUMNS_2023: tuple[str, ...] = (
    "ExtraMeatalVS_Dice", "ExtraMeatalVS_ASSD",
    "IntraMeatalVS_Dice", "IntraMeatalVS_ASSD",
    "Cochlea_Dice", "Cochlea_ASSD",
)
"""The 2023 preset's columns: labels 1, 2 and 3 of the 2023 map, Dice and ASSD each."""

PRESETS: dict[str, RankingPreset] = {
    p.name: p
    for p in (
        RankingPreset("crossmoda2022", "crossmoda2022", None,
                      f"{', '.join(CHALLENGE_COLUMNS)} (2021/2022 task)"),
        RankingPreset("crossmoda2023", "crossmoda2023", COLUMNS_2023,
                      f"{', '.join(COLUMNS_2023)} (2023 task: extra-/intra-meatal VS, cochlea)"),
    )
}
DEFAULT_PRESET = "crossmoda2022"


def get_preset(name: str) -> RankingPreset:
    """The preset called ``name``.

    Raises:
        ValueError: for an unknown name.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown ranking preset {name!r}; known: {sorted(PRESETS)}") from None


def resolve_columns(preset: str, columns: list[str] | None) -> list[str] | None:
    """The columns to rank on: ``columns`` when given, else the preset's default."""
    if columns:
        return list(columns)
    default = get_preset(preset).columns
    return None if default is None else list(default)
