"""``ModelSpec``: everything inference needs to know about a model folder, read from and written
to its ``model.json``.

A model folder holds ``model.json`` (format version, label maps, preprocessing, network,
post-processing, plus free provenance keys: command, seed, data, training configuration),
``segmenter.pt`` (the network's state dict, loadable with ``torch.load(weights_only=True)``),
``template_hrT2.npy`` (the localisation template) and ``koos_model.json`` (the Koos grader).

Format 2 stores ``preprocess``, ``network`` and ``postprocess``; format 1 (the shipped models)
stored one ``segment`` block with the training settings mixed in, from which
:func:`spec_from_model_json` reads the same fields. Both formats declare the model's label map in
``label_map`` (its full description, whose ``name`` is ``crossmoda2022`` or ``crossmoda2023``)
and the network's output channels in ``classes``; every format-1 folder is a 2022 model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from crossmoda.core.errors import CrossmodaError
from crossmoda.core.labels import AUX_LABELS, LABELS_2022, LABELS_2023, LabelMap

__all__ = [
    "CLASS_NAMES",
    "MODEL_LABEL_MAPS",
    "segmenter_classes",
    "ClassRoles",
    "class_roles",
    "MODEL_FORMAT_VERSION",
    "READABLE_FORMAT_VERSIONS",
    "MODEL_FILE",
    "WEIGHTS_FILE",
    "TEMPLATE_FILE",
    "KOOS_MODEL_FILE",
    "ModelError",
    "PreprocessConfig",
    "NetworkSpec",
    "PostprocessSpec",
    "ModelSpec",
    "spec_from_model_json",
    "read_model_json",
    "model_json",
]

MODEL_LABEL_MAPS: dict[str, LabelMap] = {m.name: m for m in (LABELS_2022, LABELS_2023)}
"""The label maps a model may predict: its ``_Label`` classes and its outputs' layout."""


def segmenter_classes(label_map: str = LABELS_2022.name) -> tuple[str, ...]:
    """Segmenter output channels of a model for ``label_map``: background, the map's labels in
    order (channel = label value), then the auxiliary structures (``_Aux``, AUX_LABELS)."""
    if label_map not in MODEL_LABEL_MAPS:
        raise ValueError(f"unknown model label map {label_map!r}; known: {sorted(MODEL_LABEL_MAPS)}")
    labels = MODEL_LABEL_MAPS[label_map].labels
    return ("background", *(labels[k] for k in sorted(labels)),
            *(AUX_LABELS.labels[k] for k in sorted(AUX_LABELS.labels)))


@dataclass(frozen=True)
class ClassRoles:
    """What the segmenter's classes of one label map are (channel numbers = label values).

    Attributes:
        vs: The tumour classes (2022: VS; 2023: extra- and intra-meatal VS).
        cochlea: The cochlea class.
        brainstem: The auxiliary brainstem class (``_Aux`` 1); the cerebellum is the next one.
    """

    vs: tuple[int, ...]
    cochlea: int
    brainstem: int

    @property
    def foreground(self) -> tuple[int, ...]:
        """The ``_Label`` classes (tumour and cochlea), in order."""
        return (*self.vs, self.cochlea)

    @property
    def cerebellum(self) -> int:
        """The auxiliary cerebellum class (``_Aux`` 2)."""
        return self.brainstem + 1


def class_roles(label_map: str = LABELS_2022.name) -> ClassRoles:
    """The :class:`ClassRoles` of the segmenter classes of ``label_map`` (:func:`segmenter_classes`):
    ``crossmoda2022``: VS 1, cochlea 2, brainstem 3; ``crossmoda2023``: VS 1 + 2, cochlea 3,
    brainstem 4."""
    classes = segmenter_classes(label_map)
    n_labels = len(MODEL_LABEL_MAPS[label_map].labels)
    return ClassRoles(vs=tuple(range(1, n_labels)), cochlea=n_labels, brainstem=classes.index("brainstem"))


CLASS_NAMES: tuple[str, ...] = segmenter_classes(LABELS_2022.name)
"""Segmenter output channels of a 2022 model: 1-2 from ``_Label`` (LABELS_2022), 3-4 from
``_Aux`` (AUX_LABELS). A 2023 model has 1-3 from ``_Label`` (LABELS_2023), 4-5 from ``_Aux``."""

MODEL_FORMAT_VERSION = 2
"""Version written by :func:`model_json`."""
READABLE_FORMAT_VERSIONS = (1, 2)

MODEL_FILE = "model.json"
WEIGHTS_FILE = "segmenter.pt"
TEMPLATE_FILE = "template_hrT2.npy"
KOOS_MODEL_FILE = "koos_model.json"


class ModelError(CrossmodaError):
    """A model folder is missing files or its metadata does not match this code."""


@dataclass
class PreprocessConfig:
    """Crop geometry shared by training and inference (array order ``(z, y, x)``).

    Attributes:
        spacing_mm: Working spacing of the fine crops in mm.
        roi_shape: Fine crop size in voxels at ``spacing_mm`` (centred on both canals).
        coarse_spacing_mm: Isotropic spacing of the localisation grid in mm.
        template_shape: Localisation template size in voxels at ``coarse_spacing_mm``.
        clip_percentiles: Intensity clipping percentiles before the z-score.
        search_margin_mm: Padding around the image during the template search (small crops).
    """

    spacing_mm: tuple[float, float, float] = (1.0, 0.6, 0.6)
    roi_shape: tuple[int, int, int] = (40, 96, 160)
    coarse_spacing_mm: float = 2.0
    template_shape: tuple[int, int, int] = (14, 22, 40)
    clip_percentiles: tuple[float, float] = (0.5, 99.5)
    search_margin_mm: float = 16.0


@dataclass
class NetworkSpec:
    """The DynUNet and how it is applied: level widths, sliding-window patch ``(z, y, x)`` voxels
    and the windows' overlap fraction."""

    filters: tuple[int, ...] = (16, 32, 48, 64, 96)
    patch: tuple[int, int, int] = (32, 64, 64)
    sw_overlap: float = 0.25


@dataclass
class PostprocessSpec:
    """Post-processing of the class probabilities.

    Attributes:
        cochlea_refine_mm: Each predicted cochlea becomes the fluid-bright hrT2 voxels (above an
            Otsu threshold of its surroundings) within this distance (mm) of it; 0 disables it.
        cochlea_context_mm: Radius (mm) around each cochlea whose intensities set that threshold.
        tumour_exclude_dark: No tumour voxel darker than the lower of two Otsu thresholds of the
            image (bone and air against tissue against fluid): a schwannoma is never as dark as
            the petrous bone around the canal on T2. Off for the 2022 models.
        extra_meatal_min_mm3: A predicted extra-meatal part (2023 label 1) smaller than this (mm^3)
            is relabelled intra-meatal: a Koos I tumour has none, and a sliver past the porus is
            more often the rim of an intracanalicular tumour than a real extension. 0 disables it.
        tumour_max_fluid_ratio: No tumour is written when the median intensity of the one kept
            is above this fraction of the image's fluid level (its 99.5th percentile): on T2 that
            is CSF or a post-operative resection cavity, not a schwannoma
            (:func:`~crossmoda.algorithm.inference.postprocess.fluid_like`). 0 disables it.
    """

    cochlea_refine_mm: float = 0.8
    cochlea_context_mm: float = 2.0
    tumour_exclude_dark: bool = False
    extra_meatal_min_mm3: float = 0.0
    tumour_max_fluid_ratio: float = 0.0


@dataclass
class ModelSpec:
    """Preprocessing, network and post-processing of a model folder, and the label map it
    predicts (``crossmoda2022``: 1 VS, 2 cochlea; ``crossmoda2023``: 1 extra-meatal VS,
    2 intra-meatal VS, 3 cochlea). The network's output classes follow from the label map
    (:func:`segmenter_classes`) and are checked on reading."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    postprocess: PostprocessSpec = field(default_factory=PostprocessSpec)
    label_map: str = LABELS_2022.name

    def __post_init__(self) -> None:
        if self.label_map not in MODEL_LABEL_MAPS:
            raise ValueError(f"unknown model label map {self.label_map!r}; known: {sorted(MODEL_LABEL_MAPS)}")

    @property
    def labels(self) -> LabelMap:
        """The label map of the model's outputs."""
        return MODEL_LABEL_MAPS[self.label_map]

    @property
    def classes(self) -> tuple[str, ...]:
        """The segmenter's output channels (:func:`segmenter_classes`)."""
        return segmenter_classes(self.label_map)


def _pick(cls: type, data: dict[str, Any]) -> Any:
    """``cls`` from the keys of ``data`` it knows (lists become tuples); missing keys default."""
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            value = data[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def spec_from_model_json(meta: dict[str, Any], where: Path | str = MODEL_FILE) -> ModelSpec:
    """Check ``model.json`` content against this code and read its :class:`ModelSpec`.

    Raises:
        ModelError: format version, classes, label maps or working spacing different from what
            this code expects (the message names each mismatch).
    """
    problems = []
    version = meta.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS:
        problems.append(f"format_version {version!r} not in {READABLE_FORMAT_VERSIONS}")
    declared = meta.get("label_map")
    name = declared.get("name") if isinstance(declared, dict) else None
    if name not in MODEL_LABEL_MAPS:
        problems.append(f"label map {declared!r} is none of {sorted(MODEL_LABEL_MAPS)}")
        name = LABELS_2022.name
    elif declared != MODEL_LABEL_MAPS[name].to_dict():
        problems.append(f"label map {declared!r} != {MODEL_LABEL_MAPS[name].to_dict()}")
    classes = list(segmenter_classes(name))
    if meta.get("classes") != classes:
        problems.append(f"classes {meta.get('classes')!r} != {classes} (label map {name})")
    if meta.get("aux_label_map") != AUX_LABELS.to_dict():
        problems.append(f"aux label map {meta.get('aux_label_map')!r} != {AUX_LABELS.to_dict()}")
    spacing = (meta.get("preprocess") or {}).get("spacing_mm")
    if not (isinstance(spacing, (list, tuple)) and len(spacing) == 3 and all(float(s) > 0 for s in spacing)):
        problems.append(f"working spacing {spacing!r} is not three positive numbers (z, y, x mm)")
    if problems:
        raise ModelError(where, "model does not match this code: " + "; ".join(problems))
    # format 1 kept network and post-processing settings in one ``segment`` block
    network = meta["segment"] if version == 1 else meta.get("network", {})
    post = meta["segment"] if version == 1 else meta.get("postprocess", {})
    return ModelSpec(_pick(PreprocessConfig, meta["preprocess"]), _pick(NetworkSpec, network),
                     _pick(PostprocessSpec, post), label_map=name)


def read_model_json(model_dir: Path) -> tuple[ModelSpec, dict[str, Any]]:
    """The :class:`ModelSpec` and the whole ``model.json`` of a model folder."""
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise ModelError(model_dir, f"not a model folder: {MODEL_FILE} missing")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(path, f"invalid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise ModelError(path, "not a JSON object")
    return spec_from_model_json(meta, path), meta


def model_json(spec: ModelSpec, **extra: Any) -> dict[str, Any]:
    """The ``model.json`` content of ``spec`` (current format), plus ``extra`` provenance keys."""
    return {
        "format_version": MODEL_FORMAT_VERSION,
        "classes": list(spec.classes),
        "label_map": spec.labels.to_dict(),
        "aux_label_map": AUX_LABELS.to_dict(),
        "preprocess": asdict(spec.preprocess),
        "network": asdict(spec.network),
        "postprocess": asdict(spec.postprocess),
        **extra,
    }
