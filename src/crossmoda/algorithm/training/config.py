"""Resolved training configuration as dataclasses, read from and written to JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from crossmoda.algorithm.model.spec import (
    CLASS_NAMES,
    MODEL_LABEL_MAPS,
    ModelSpec,
    NetworkSpec,
    PostprocessSpec,
    PreprocessConfig,
)

__all__ = [
    "CLASS_NAMES",
    "COCHLEA_PROB",
    "CLASS_WEIGHTS",
    "PreprocessConfig",
    "TranslateConfig",
    "SegmentConfig",
    "SelfTrainConfig",
    "TrainConfig",
    "load_config",
    "config_from_dict",
]

MODES: tuple[str, ...] = ("adapted", "no_adaptation", "supervised")

COCHLEA_PROB: dict[str, float] = {"adapted": 0.5, "no_adaptation": 0.0, "supervised": 0.0}
"""Default cochlea intensity augmentation per mode: it compensates a translation artefact (the
pseudo-hrT2 cochlea has about half the contrast to its surroundings of a real hrT2 one), so only
the adapted chain uses it."""

CLASS_WEIGHTS: dict[str, tuple[float, ...]] = {
    "crossmoda2022": (1.0, 5.0, 20.0, 2.0, 1.0),
    "crossmoda2023": (1.0, 5.0, 10.0, 20.0, 2.0, 1.0),
}
"""Default loss weight per segmenter class and label map (background, the ``_Label`` classes,
brainstem, cerebellum). 2023: the intra-meatal part (the canal's few hundred voxels) between the
extra-meatal tumour and the cochlea."""


@dataclass
class TranslateConfig:
    """Unpaired ceT1 -> hrT2 CycleGAN on 2D axial patches of the crops."""

    generator: str = "local"
    """``local`` (small receptive field, learns in ~10^3 iterations), ``resnet`` (Zhu et al.'s
    c7s1/d/R/u generator; ``n_blocks`` residual blocks) or ``curve`` (learned intensity curve)."""
    patch: int = 64
    batch_size: int = 8
    iterations: int = 1000
    ngf: int = 32
    ndf: int = 16
    n_blocks: int = 2
    """Residual blocks (``resnet``) or 3x3 context layers (``local``, ``curve``)."""
    lr: float = 1e-3
    curve_lr: float = 0.02
    """Learning rate of the ``curve`` generator's knot heights (intensities, z-score units)."""
    lambda_cycle: float = 1.0
    """Cycle-consistency weight; the usual 10 holds a small-context generator to an invertible,
    i.e. monotone, intensity map, and ceT1 -> hrT2 is not monotone (fluid and tumour swap)."""
    lambda_identity: float = 0.0
    """Identity-loss weight (relative to ``lambda_cycle``); it pulls towards ceT1's contrast."""
    lambda_seg: float = 1.0
    lambda_atlas: float = 2.0
    """Weight of the population-atlas term (blurred fake vs the other modality's mean crop),
    decaying with the learning rate; 0: off."""
    atlas_sigma: float = 3.0
    """Gaussian blur (pixels) of fakes and atlases in the population-atlas term."""
    lambda_mind: float = 2.0
    """Weight of the MIND structure term
    (:func:`~crossmoda.algorithm.training.translation.mind.mind_loss` between each generator's
    input and output: edges stay where the source image has them, whatever their polarity);
    0: off. Too large a weight lets the generator settle in the contrast negation."""
    mind_sigma: float = 0.8
    """Gaussian patch scale (pixels) of the MIND descriptor."""
    d_blur_sigma: float = 0.0
    """Gaussian blur (pixels) of the discriminators' inputs, real and fake alike (0: none)."""
    d_coords: bool = False
    """Give the discriminators each pixel's position in the crop (3 extra channels). The crops of
    both modalities are centred on the same anatomy (both canals), so position tells a
    discriminator which tissue to expect: a fake with bright petrous bone is caught at once,
    which resolves the intensity permutations an unconditioned CycleGAN can settle in."""
    label_patch_fraction: float = 0.6
    target_prior_fraction: float = 0.6
    log_every: int = 50
    checkpoint_every: int = 200


@dataclass
class SegmentConfig:
    """3D DynUNet segmenter trained on random patches of the crops. ``filters``, ``patch`` and
    ``sw_overlap`` become the model's :class:`NetworkSpec`, ``cochlea_refine_mm``,
    ``cochlea_context_mm``, ``tumour_exclude_dark``, ``extra_meatal_min_mm3`` and
    ``tumour_max_fluid_ratio`` its
    :class:`PostprocessSpec` (:meth:`TrainConfig.model_spec`)."""

    patch: tuple[int, int, int] = (32, 64, 64)
    batch_size: int = 2
    iterations: int = 400
    filters: tuple[int, ...] = (16, 32, 48, 64, 96)
    lr: float = 3e-3
    weight_decay: float = 3e-5
    foreground_fraction: float = 0.7
    augment: bool = True
    checkpoint_every: int = 100
    sw_overlap: float = 0.25
    class_weights: tuple[float, ...] | None = None
    """Loss weight per class (2022: background, VS, cochlea, brainstem, cerebellum); ``None``:
    :data:`CLASS_WEIGHTS` of the data's label map. Without them the
    cochlea (0.2 % of a patch's voxels) is not learned at all in a CPU budget of iterations, and
    with VS at 1 the tumour on pseudo-hrT2 (a dark blob beside the equally dark brainstem) was not
    learned in 600 iterations (test VS Dice 0.00; 0.25 with VS at 5, same data and budget)."""
    invert_prob: float = 0.0
    """Chance of a contrast-inverted training patch (a crude stand-in for a translation, useful
    only when the translation fails; off by default)."""
    remap_prob: float = 0.0
    """Chance of a random intensity curve on a training patch
    (:func:`~crossmoda.algorithm.training.data.random_curve`; off by default: it kept the
    CPU-budget segmenter from learning the tumour)."""
    tumour_prob: float = 0.5
    """Chance of a random VS intensity on a training patch
    (:func:`~crossmoda.algorithm.training.data.label_intensity`): the translation renders the tumour darker
    than real hrT2 shows it."""
    tumour_percentiles: tuple[float, float] = (5.0, 85.0)
    """Range of the random VS level, as percentiles of the patch's intensities. Up to the 98th,
    the tumour may be as bright as the CSF, and the segmenter learns that bright fluid in the
    canal or the fourth ventricle can be tumour; on hrT2 a schwannoma is darker than the CSF
    around it (a filling defect), which an upper bound below the CSF's level keeps."""
    cochlea_prob: float | None = None
    """Chance of a random, brighter cochlea on a training patch (the translation halves its
    contrast); ``None``: :data:`COCHLEA_PROB` of the mode."""
    label_edge_sigma: tuple[float, float] = (0.0, 0.0)
    """Range (voxels) of the random boundary blur of the VS and cochlea intensity augmentations
    (:func:`~crossmoda.algorithm.training.data.label_intensity` ``edge_sigma``); ``(0, 0)``: a hard step."""
    cochlea_refine_mm: float = 0.8
    """Cochlea boundary refinement on hrT2 (:func:`~crossmoda.algorithm.inference.postprocess.refine_bright`),
    applied to self-training pseudo-labels and at inference: each predicted cochlea becomes the
    fluid-bright voxels (above an Otsu threshold of its surroundings) within this distance (mm) of
    it. The labyrinth's fluid is bright on hrT2 against the dark otic capsule, and the segmenter
    trained on pseudo-hrT2 draws it too wide (dark bone included) and misses bright rim voxels.
    ``0`` disables it."""
    cochlea_context_mm: float = 2.0
    """Radius (mm) around each predicted cochlea whose intensities set the refinement's threshold."""
    tumour_exclude_dark: bool = False
    """No tumour on voxels darker than the image's lower two-class Otsu threshold
    (:class:`~crossmoda.algorithm.model.spec.PostprocessSpec`), in pseudo-labels and at inference."""
    extra_meatal_min_mm3: float = 0.0
    """2023 models: an extra-meatal part smaller than this (mm^3) becomes intra-meatal."""
    tumour_max_fluid_ratio: float = 0.0
    """No tumour where the kept one's median intensity is above this fraction of the image's fluid
    level (:class:`~crossmoda.algorithm.model.spec.PostprocessSpec`), in pseudo-labels and at
    inference; 0 disables it."""


@dataclass
class SelfTrainConfig:
    """Pseudo-label rounds on unlabelled target hrT2."""

    rounds: int = 2
    iterations: int = 200
    min_confidence: float = 0.6
    keep_fraction: float = 0.8
    lr: float = 1e-3


@dataclass
class TrainConfig:
    """Whole-chain configuration (written to ``RUN/config.json``).

    ``mode``: ``adapted`` (translate, segment, self-train), ``no_adaptation`` (segmenter trained
    on ceT1) or ``supervised`` (upper bound: trained on target hrT2 with paired-truth labels).
    """

    seed: int = 0
    device: str = "cpu"
    mode: str = "adapted"
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    translate: TranslateConfig = field(default_factory=TranslateConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    self_train: SelfTrainConfig = field(default_factory=SelfTrainConfig)
    max_cases: int | None = None
    validate: bool = True
    label_map: str | None = None
    """The label map of the data and of the model trained (``crossmoda2022`` or
    ``crossmoda2023``); ``None``: read from the data's case names (:meth:`for_label_map`)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} not in {MODES}")
        if self.label_map is not None and self.label_map not in MODEL_LABEL_MAPS:
            raise ValueError(f"label_map {self.label_map!r} not in {sorted(MODEL_LABEL_MAPS)}")

    def for_label_map(self, label_map: str) -> None:
        """Resolve, in place, ``label_map`` (the data's) and the defaults that depend on it
        (``segment.class_weights``).

        Raises:
            ValueError: a configured label map other than the data's.
        """
        if self.label_map is not None and self.label_map != label_map:
            raise ValueError(f"the configuration trains {self.label_map} models, the data is {label_map}")
        self.label_map = label_map
        if self.segment.class_weights is None:
            self.segment.class_weights = CLASS_WEIGHTS[label_map]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    def model_spec(self) -> ModelSpec:
        """The :class:`ModelSpec` of the models this configuration trains (what inference reads)."""
        seg = self.segment
        return ModelSpec(
            self.preprocess,
            NetworkSpec(tuple(seg.filters), tuple(seg.patch), seg.sw_overlap),  # type: ignore[arg-type]
            PostprocessSpec(seg.cochlea_refine_mm, seg.cochlea_context_mm, seg.tumour_exclude_dark,
                            seg.extra_meatal_min_mm3, seg.tumour_max_fluid_ratio),
            label_map=self.label_map or "crossmoda2022",
        )


def _build(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {unknown}")
    kwargs: dict[str, Any] = {}
    default = cls()
    for name, value in data.items():
        current = getattr(default, name)
        if is_dataclass(current):
            kwargs[name] = _build(type(current), value)
        elif isinstance(current, tuple) or isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a (partial) nested dictionary; unknown keys raise."""
    cfg: TrainConfig = _build(TrainConfig, data)
    return cfg


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, updated by a JSON file (partial allowed), then by ``overrides`` (top level);
    the mode-dependent default (``segment.cochlea_prob``) resolved for the final mode."""
    data: dict[str, Any] = {}
    if path is not None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    cfg = config_from_dict(data)
    if cfg.segment.cochlea_prob is None:
        cfg.segment.cochlea_prob = COCHLEA_PROB[cfg.mode]
    return cfg
