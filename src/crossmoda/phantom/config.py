"""Configuration of the phantom generator: sites (scanner protocols), presets and data set sizes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Protocol", "SiteSpec", "SITE_SPECS", "PRESETS", "PhantomConfig", "SMALL_BOX_MM"]

PRESETS = ("small", "full")
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
    """

    inplane_mm: tuple[float, ...]
    slice_mm: tuple[float, ...]
    matrix: tuple[int, ...]
    slices: tuple[int, int]
    noise: tuple[float, float]
    scale: tuple[float, float]
    bias: tuple[float, float]


@dataclass(frozen=True)
class SiteSpec:
    """A site: code (``ldn``/``etz``), vendor text and its two protocols."""

    code: str
    scanner: str
    ceT1: Protocol
    hrT2: Protocol

    def protocol(self, modality: str) -> Protocol:
        """The protocol of ``"ceT1"`` or ``"hrT2"``."""
        if modality == "ceT1":
            return self.ceT1
        if modality == "hrT2":
            return self.hrT2
        raise ValueError(f"unknown modality {modality!r}")


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
        edition: Edition year in case names.
        sites: Site codes, alternating over cases.
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
    sites: tuple[str, ...] = field(default=("ldn", "etz"))

    def __post_init__(self) -> None:
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
