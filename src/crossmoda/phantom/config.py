"""Configuration of the phantom generator: sites (scanner protocols), presets and data set sizes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Protocol",
    "SiteSpec",
    "SITE_SPECS",
    "PRESETS",
    "EDITIONS",
    "EDITION_SITES",
    "PhantomConfig",
    "SMALL_BOX_MM",
    "target_modality",
]

PRESETS = ("small", "full")
EDITIONS = (2022, 2023)
EDITION_SITES: dict[int, tuple[str, ...]] = {2022: ("ldn", "etz"), 2023: ("ldn", "etz", "ukm")}
"""Default sites of each edition (alternating over cases)."""
SMALL_BOX_MM = (100.0, 60.0, 40.0)
"""Extent (x: left-right, y: anterior-posterior, z: inferior-superior) of the ``small`` crop."""


@dataclass(frozen=True)
class Protocol:
    """One acquisition of a site.

    Attributes:
        inplane_mm: Allowed in-plane spacings (mm); one is drawn per case.
        slice_mm: Allowed slice thicknesses (= spacing, mm).
        matrix: Allowed in-plane matrix sizes of the ``full`` preset.
        slices: (min, max) number of slices of the ``full`` preset.
        noise: Rician noise sigma relative to the white-matter signal (range).
        scale: Range of the stored value of white matter (intensity scaling).
        bias: Peak-to-peak log amplitude of the bias field (range).
        name: Kind of acquisition (``3D``, ``2D TSE``), recorded in the case's meta.
        gap_mm: Range of the gap between slices (2D): the slice spacing is thickness + gap.
        fov_mm: ``full`` preset field-of-view choices (mm); when set, the matrix is
            ``fov / in-plane spacing`` and ``matrix`` is not used.
        field_T: Field strengths drawn from (1.5 or 3 T: contrast, noise and bias differ).
        oblique: Probability of an oblique slab (tilted 10-25 degrees about the left-right axis)
            instead of a near-axial one.
    """

    inplane_mm: tuple[float, ...]
    slice_mm: tuple[float, ...]
    matrix: tuple[int, ...]
    slices: tuple[int, int]
    noise: tuple[float, float]
    scale: tuple[float, float]
    bias: tuple[float, float]
    name: str = "3D"
    gap_mm: tuple[float, float] = (0.0, 0.0)
    fov_mm: tuple[float, ...] = ()
    field_T: tuple[float, ...] = (1.5,)
    oblique: float = 0.0

    @property
    def routine(self) -> bool:
        """Whether cases draw an acquisition (field, slab, gap, field of view) beyond the spacings."""
        return bool(self.fov_mm) or self.gap_mm != (0.0, 0.0) or len(self.field_T) > 1 or self.oblique > 0


@dataclass(frozen=True)
class SiteSpec:
    """A site: code (``ldn``/``etz``/``ukm``), vendor text and its protocols.

    ``hrT2`` is the T2 protocol (high-resolution T2 at the Gamma-Knife centres). A routine
    multi-centre site lists several T2 acquisitions in ``t2_mix``; each case draws one. A
    fraction ``postop`` of its cases is post-operative (on top of ``--postop-fraction``).
    """

    code: str
    scanner: str
    ceT1: Protocol
    hrT2: Protocol
    t2_mix: tuple[Protocol, ...] = ()
    postop: float = 0.0

    def protocol(self, modality: str) -> Protocol:
        """The protocol of ``"ceT1"`` or ``"hrT2"`` (the first of ``t2_mix`` for a routine site)."""
        return self.protocols(modality)[0]

    def protocols(self, modality: str) -> tuple[Protocol, ...]:
        """Every acquisition a case of this site may draw for ``"ceT1"`` or ``"hrT2"``."""
        if modality == "ceT1":
            return (self.ceT1,)
        if modality == "hrT2":
            return self.t2_mix or (self.hrT2,)
        raise ValueError(f"unknown modality {modality!r}")


_UKM_3D = Protocol(
    (0.4, 0.45, 0.5, 0.55, 0.6), (0.5, 0.6, 0.7, 0.8, 1.0), (384,), (48, 96), (0.03, 0.08),
    (150.0, 1200.0), (0.15, 0.5), name="3D", fov_mm=(150.0, 170.0, 190.0), field_T=(1.5, 3.0), oblique=0.35,
)
"""Routine 3D high-resolution T2 (CISS, SPACE, DRIVE, FIESTA): a slab around the canals."""
_UKM_2D_SMALL = Protocol(
    (0.4, 0.45, 0.5, 0.6), (3.0, 3.5, 4.0), (384,), (12, 20), (0.04, 0.09), (150.0, 1500.0), (0.2, 0.55),
    name="2D TSE", gap_mm=(0.0, 1.0), fov_mm=(160.0, 180.0, 200.0), field_T=(1.5, 3.0), oblique=0.35,
)
"""Routine 2D turbo-spin-echo T2 of the internal auditory meati: thick slices, small field of view."""
_UKM_2D_LARGE = Protocol(
    (0.6, 0.7, 0.8, 0.9, 1.0), (4.0, 5.0), (320,), (20, 28), (0.04, 0.1), (150.0, 1500.0), (0.25, 0.6),
    name="2D TSE", gap_mm=(0.3, 1.5), fov_mm=(220.0, 230.0, 240.0), field_T=(1.5, 3.0), oblique=0.35,
)
"""Routine whole-brain 2D TSE T2: thick slices with gaps, large field of view, coarse in-plane."""

SITE_SPECS: dict[str, SiteSpec] = {
    "ldn": SiteSpec(
        code="ldn",
        scanner="Siemens Avanto 1.5T (London)",
        ceT1=Protocol(
            (0.4, 0.4297), (1.0, 1.5), (512,), (80, 120), (0.03, 0.05), (700.0, 1100.0), (0.15, 0.35)
        ),
        hrT2=Protocol(
            (0.5, 0.4688), (1.0, 1.5), (384, 448), (40, 80), (0.04, 0.07), (250.0, 450.0), (0.2, 0.4)
        ),
    ),
    "etz": SiteSpec(
        code="etz",
        scanner="Philips Ingenia 1.5T (Tilburg)",
        ceT1=Protocol((0.8,), (1.5,), (256,), (100, 130), (0.02, 0.04), (1500.0, 2500.0), (0.1, 0.3)),
        hrT2=Protocol((0.4,), (1.0,), (512,), (50, 90), (0.05, 0.08), (80.0, 160.0), (0.2, 0.45)),
    ),
    "ukm": SiteSpec(
        code="ukm",
        scanner="routine clinical MRI, many UK hospitals (1.5T and 3T, several vendors)",
        ceT1=Protocol(
            (0.5, 0.6, 0.8, 1.0), (1.0, 1.5), (256,), (60, 120), (0.02, 0.06), (400.0, 2500.0), (0.15, 0.5),
            name="3D", fov_mm=(180.0, 200.0, 230.0), field_T=(1.5, 3.0),
        ),
        hrT2=_UKM_3D,
        t2_mix=(_UKM_3D, _UKM_2D_SMALL, _UKM_2D_LARGE),
        postop=0.2,
    ),
}


@dataclass
class PhantomConfig:
    """Everything that determines a phantom data set (written to ``OUT/phantom_config.json``).

    Attributes:
        source: Number of labelled ceT1 cases (``source_training``).
        target: Number of unlabelled hrT2 cases (``target_training``).
        validation: Number of hrT2 validation cases (labels apart).
        test: Number of hrT2 test cases (labels apart).
        seed: Master seed; case ``i`` uses ``default_rng([seed, i])``.
        preset: ``small`` (crop around both canals) or ``full`` (whole field of view).
        postop_fraction: Fraction of post-operative cases per split (never below the 4 grades).
        workers: Parallel worker processes (``None``: ``min(4, cpu count)``).
        edition: Edition: 2022 (``hrT2``, labels 1 VS / 2 cochlea) or 2023 (``T2``, labels
            1 extra-meatal VS / 2 intra-meatal VS / 3 cochlea).
        sites: Site codes, alternating over cases (default: those of the edition).
    """

    source: int = 40
    target: int = 40
    validation: int = 10
    test: int = 20
    seed: int = 0
    preset: str = "small"
    postop_fraction: float = 0.0
    workers: int | None = None
    edition: int = 2022
    sites: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.edition not in EDITIONS:
            raise ValueError(f"edition must be one of {EDITIONS}, got {self.edition!r}")
        if not self.sites:
            self.sites = EDITION_SITES[self.edition]
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {self.preset!r}")
        for name in ("source", "target", "validation", "test"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0.0 <= self.postop_fraction <= 1.0:
            raise ValueError("postop_fraction must lie in [0, 1]")
        unknown = [s for s in self.sites if s not in SITE_SPECS]
        if unknown or not self.sites:
            raise ValueError(f"unknown sites {unknown}; known: {sorted(SITE_SPECS)}")
        self.sites = tuple(self.sites)


def target_modality(edition: int) -> str:
    """File-name modality of the target (T2) images: ``hrT2`` up to 2022, ``T2`` in 2023."""
    return "T2" if edition >= 2023 else "hrT2"
