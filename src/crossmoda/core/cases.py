"""crossMoDA case names: parse, format and discover them in folders.

Forms handled (extension ``.nii.gz``, ``.nii``, ``.mha`` or ``.nrrd``):

* 2021/2022/2023: ``crossmoda2022_etz_12_hrT2.nii.gz`` (edition, site, number, modality),
* 2021 test: ``crossmoda_12_hrT2.nii.gz`` (no edition, no site),
* 2023 outputs: ``crossmoda2023_ukm_5.nii.gz`` (no modality).

Cases are always matched by their full name, never by the first integer in a file name
(``crossmoda2022_etz_242`` would give 2022 for every file).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from crossmoda.core.errors import CaseNameError
from crossmoda.core.untrusted import UntrustedFileError, list_untrusted

__all__ = [
    "SITES",
    "MODALITIES",
    "IMAGE_EXTENSIONS",
    "CaseName",
    "CaseFile",
    "Discovery",
    "parse_case",
    "parse_filename",
    "split_extension",
    "discover_cases",
]

logger = logging.getLogger(__name__)

SITES: dict[str, str] = {"ldn": "London", "etz": "Tilburg", "ukm": "Marburg"}
"""Site codes of crossMoDA case names and the centre each stands for."""

MODALITIES: tuple[str, ...] = ("ceT1", "hrT2", "T2", "Label", "Aux")
"""File-name modality suffixes. ``Aux`` holds auxiliary structures (this project's own)."""

IMAGE_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".nrrd")

_CASE_RE = re.compile(r"^crossmoda(?P<edition>20\d\d)?_(?:(?P<site>[a-z]{3})_)?(?P<number>\d+)$")
_FILE_RE = re.compile(
    r"^(?P<case>crossmoda(?:20\d\d)?_(?:[a-z]{3}_)?\d+)(?:_(?P<modality>" + "|".join(MODALITIES) + r"))?$"
)


@dataclass(frozen=True, order=True)
class CaseName:
    """A crossMoDA case identifier.

    Attributes:
        number: Case number (unique within an edition).
        edition: Year (2021-2023), or ``None`` for the 2021 test form ``crossmoda_12``.
        site: Site code (``ldn``, ``etz``, ``ukm``), or ``None`` when the name has none.
    """

    number: int
    edition: int | None = None
    site: str | None = None

    def __post_init__(self) -> None:
        if self.site is not None and self.site not in SITES:
            raise CaseNameError(None, f"unknown site {self.site!r}; known: {sorted(SITES)}")
        if self.site is not None and self.edition is None:
            raise CaseNameError(None, "a case name with a site needs an edition")
        if self.number < 0:
            raise CaseNameError(None, f"case number must be >= 0, got {self.number}")

    def __str__(self) -> str:
        edition = "" if self.edition is None else str(self.edition)
        site = "" if self.site is None else f"{self.site}_"
        return f"crossmoda{edition}_{site}{self.number}"

    def filename(self, modality: str | None, extension: str = ".nii.gz") -> str:
        """File name of this case, e.g. ``crossmoda2022_etz_12_hrT2.nii.gz``."""
        if modality is not None and modality not in MODALITIES:
            raise CaseNameError(None, f"unknown modality {modality!r}; known: {MODALITIES}")
        suffix = "" if modality is None else f"_{modality}"
        return f"{self}{suffix}{extension}"


@dataclass(frozen=True)
class CaseFile:
    """A parsed image file name: case, modality (or ``None``) and extension."""

    case: CaseName
    modality: str | None
    extension: str


def parse_case(name: str) -> CaseName:
    """Parse a bare case name (``crossmoda2022_etz_12`` or ``crossmoda_12``).

    Raises:
        CaseNameError: when ``name`` is not a crossMoDA case name.
    """
    m = _CASE_RE.match(name)
    if m is None:
        raise CaseNameError(None, f"not a crossMoDA case name: {name!r}")
    edition = m.group("edition")
    return CaseName(
        number=int(m.group("number")),
        edition=None if edition is None else int(edition),
        site=m.group("site"),
    )


def split_extension(filename: str) -> tuple[str, str]:
    """Split ``filename`` into stem and a known image extension (``.nii.gz`` counts as one).

    Raises:
        CaseNameError: when the extension is not one of :data:`IMAGE_EXTENSIONS`.
    """
    lower = filename.lower()
    for ext in IMAGE_EXTENSIONS:
        if lower.endswith(ext):
            return filename[: -len(ext)], filename[-len(ext) :]
    raise CaseNameError(None, f"{filename!r} has no image extension {IMAGE_EXTENSIONS}")


def parse_filename(path: str | Path) -> CaseFile:
    """Parse an image file name such as ``crossmoda2022_ldn_3_Label.nii.gz``.

    Raises:
        CaseNameError: when the name does not follow the convention.
    """
    name = Path(path).name
    try:
        stem, ext = split_extension(name)
    except CaseNameError as err:
        raise CaseNameError(path, err.problem) from None
    m = _FILE_RE.match(stem)
    if m is None:
        raise CaseNameError(path, f"not a crossMoDA file name: {name!r}")
    return CaseFile(case=parse_case(m.group("case")), modality=m.group("modality"), extension=ext)


@dataclass
class Discovery:
    """Result of :func:`discover_cases`.

    Attributes:
        files: Case name (string) -> file, sorted by case.
        ignored: Files in the folder that did not match (stray files), with the reason.
        duplicates: Cases found more than once (e.g. ``.nii.gz`` and ``.mha``); first kept.
        refused: Case name -> (entry, reason) for entries named like a case of the modality
            that are not regular files (symbolic links, FIFOs, folders...). They are never
            read: the caller scores such a case as an error naming the entry.
    """

    files: dict[str, Path] = field(default_factory=dict)
    ignored: list[tuple[Path, str]] = field(default_factory=list)
    duplicates: dict[str, list[Path]] = field(default_factory=dict)
    refused: dict[str, tuple[Path, str]] = field(default_factory=dict)


def discover_cases(folder: str | Path, modality: str | None, *, trusted: bool = False) -> Discovery:
    """Find the cases of ``modality`` in ``folder`` (not recursive).

    ``modality=None`` matches files without a modality suffix (2023 outputs). Hidden files,
    other modalities and names outside the convention are ignored and reported. The folder may
    itself be a link, but its entries are listed with :func:`crossmoda.core.untrusted.list_untrusted`:
    an entry that is a symbolic link, a folder or a special file is never followed; when its
    name is a case of ``modality`` it is recorded in :attr:`Discovery.refused` (and the case
    gets no file), otherwise in :attr:`Discovery.ignored`. With ``trusted`` (an organiser's
    folder, e.g. the ground truth), entries that are links to regular files are accepted.

    Raises:
        FileNotFoundError: when ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory")
    try:
        regular, rejected = list_untrusted(root)
    except UntrustedFileError as err:
        raise FileNotFoundError(str(err)) from None
    result = Discovery()
    found: dict[str, list[Path]] = {}
    if trusted:
        regular += [p for p, r in rejected if r != "hidden" and p.is_symlink() and p.is_file()]
        rejected = [(p, r) for p, r in rejected if p not in regular]
    entries = [(p, None) for p in regular] + [(p, r) for p, r in rejected if r != "hidden"]
    for path, refusal in sorted(entries, key=lambda e: e[0].name):
        try:
            parsed = parse_filename(path)
        except CaseNameError as err:
            result.ignored.append((path, refusal or err.problem))
            continue
        if parsed.modality != modality:
            result.ignored.append((path, refusal or f"modality {parsed.modality!r}, expected {modality!r}"))
            continue
        if refusal is not None:
            result.refused.setdefault(str(parsed.case), (path, refusal))
            result.ignored.append((path, refusal))
            continue
        found.setdefault(str(parsed.case), []).append(path)
    for case in sorted(found, key=lambda c: parse_case(c)):
        paths = found[case]
        result.files[case] = paths[0]
        if len(paths) > 1:
            result.duplicates[case] = paths
    for case, (path, reason) in result.refused.items():
        if case not in result.files:
            logger.warning("%s: %s %s; the case has no usable file", case, path, reason)
    for path, reason in result.ignored:
        logger.debug("ignored %s: %s", path, reason)
    return result
