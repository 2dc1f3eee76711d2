"""The training chain behind ``crossmoda-train``: prepare -> translate -> segment -> self-train
(-> Koos), each stage resumable (finished stages are skipped, interrupted ones resume from
their checkpoint). Every stage that yields a segmenter exports a complete model folder and
validates it on the data set's ``validation`` split through the inference API and the
evaluation package's metrics.

Run folder::

    RUN/config.json  RUN/data/ (npy crops, template)  RUN/translate/  RUN/segment/
    RUN/self_train/round_<k>/  RUN/model/ (the final model folder)  RUN/summary.json
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossmoda.algorithm.config import TrainConfig
from crossmoda.algorithm.data import Volume, load_split, read_index
from crossmoda.algorithm.inference import load_model, model_metadata, predict_case
from crossmoda.algorithm.segmentation import build_segmenter, resolve_device, save_state, train_segmenter
from crossmoda.algorithm.validation import translation_quality, validate_model
from crossmoda.core.provenance import provenance, write_json_atomic

__all__ = [
    "run_prepare",
    "run_translate",
    "run_segment",
    "run_self_train",
    "run_koos",
    "run_all",
    "export_model",
    "validate_model",
]

logger = logging.getLogger(__name__)


def _done(stage_dir: Path) -> dict[str, Any] | None:
    marker = stage_dir / "done.json"
    return json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None


def _finish(stage_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    write_json_atomic(stage_dir / "done.json", info)
    return info


def run_prepare(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Stage 0: ``.npy`` crops and the hrT2 template into ``RUN/data`` (skipped when present)."""
    from crossmoda.algorithm.prepare import prepare_data

    out = run_dir / "data"
    if (out / "index.json").is_file():
        logger.info("prepare: %s exists, skipping", out / "index.json")
        return dict(json.loads((out / "index.json").read_text(encoding="utf-8")))
    t0 = time.perf_counter()
    index = prepare_data(data_dir, out, cfg.preprocess, max_cases=cfg.max_cases)
    logger.info("prepare: %.1f s", time.perf_counter() - t0)
    return index


def export_model(
    model_dir: Path,
    weights: dict[str, torch.Tensor],
    run_dir: Path,
    cfg: TrainConfig,
    stage: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete model folder (weights, template, ``model.json``)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    save_state(model_dir / "segmenter.pt", {k: v.detach().cpu().contiguous() for k, v in weights.items()})
    shutil.copyfile(run_dir / "data" / "template_hrT2.npy", model_dir / "template_hrT2.npy")
    meta = model_metadata(
        cfg.preprocess,
        cfg.segment,
        stage=stage,
        mode=cfg.mode,
        seed=cfg.seed,
        command=" ".join(["crossmoda-train", *sys.argv[1:]]) if sys.argv else None,
        train_config=cfg.to_dict(),
        data=_data_description(run_dir),
        **(extra or {}),
        provenance=provenance("crossmoda-train", cfg),
    )
    write_json_atomic(model_dir / "model.json", meta)
    return model_dir


def _data_description(run_dir: Path) -> dict[str, Any]:
    """Where the training data came from: path, case counts and the generator's config if any."""
    index = json.loads((run_dir / "data" / "index.json").read_text(encoding="utf-8"))
    path = index.get("provenance", {}).get("config", {}).get("data")
    out: dict[str, Any] = {
        "path": path,
        "n_source": len(index["splits"]["source"]),
        "n_target": len(index["splits"]["target"]),
    }
    generator = Path(path) / "phantom_config.json" if path else None
    if generator is not None and generator.is_file():
        out["phantom_config"] = json.loads(generator.read_text(encoding="utf-8"))
    return out


def _validate_into(stage_dir: Path, model_dir: Path, data_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    if not cfg.validate or not (data_dir / "validation").is_dir():
        return {}
    result = validate_model(model_dir, data_dir, device=cfg.device)
    write_json_atomic(stage_dir / "validation.json", result)
    return dict(result["mean"])


def run_translate(run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Stage 1: CycleGAN, then a pseudo-hrT2 crop for every source case (``RUN/data/pseudo``)."""
    from crossmoda.algorithm.translation import build_generator, train_translation, translate_volume

    stage = run_dir / "translate"
    info = _done(stage)
    if info is not None:
        logger.info("translate: done, skipping")
        return info
    data = run_dir / "data"
    index = read_index(data)
    t0 = time.perf_counter()
    source = load_split(data, "source", index["source"])
    target = [
        Volume(
            c,
            np.load(data / "target" / f"{c}_image.npy").astype(np.float32),
            np.zeros(np.load(data / "target" / f"{c}_image.npy", mmap_mode="r").shape, np.uint8),
        )
        for c in index["target"]
    ]
    weights = train_translation(source, target, cfg.translate, stage, device=device, seed=cfg.seed)
    t1 = time.perf_counter()
    g_a = build_generator(cfg.translate)
    g_a.load_state_dict(weights)
    (data / "pseudo").mkdir(exist_ok=True)
    quality: dict[str, dict[str, float]] = {}
    for vol in source:
        fake = translate_volume(g_a, vol.image, device)
        np.save(data / "pseudo" / f"{vol.case}_image.npy", fake.astype(np.float16))
        truth = data / "source" / f"{vol.case}_truth_hrT2.npy"
        if truth.is_file():
            t = np.load(truth).astype(np.float32)
            quality[vol.case] = {
                **translation_quality(fake, t),
                **{f"identity_{k}": v for k, v in translation_quality(vol.image, t).items()},
            }
    mean = {k: float(np.mean([q[k] for q in quality.values()])) for k in next(iter(quality.values()), {})}
    return _finish(
        stage,
        {
            "seconds_train": t1 - t0,
            "seconds_apply": time.perf_counter() - t1,
            "quality_mean": mean,
            "quality": quality,
        },
    )


def _stage_volumes(run_dir: Path, cfg: TrainConfig) -> list[Volume]:
    data = run_dir / "data"
    index = read_index(data)
    if cfg.mode == "adapted":
        return load_split(data, "source", index["source"], image_split="pseudo")
    if cfg.mode == "no_adaptation":
        return load_split(data, "source", index["source"])
    cases = json.loads((data / "index.json").read_text(encoding="utf-8"))["truth_label"]
    if not cases:
        raise FileNotFoundError("supervised mode needs paired_truth/<case>_Label for target cases")
    return load_split(data, "target", cases, label_suffix="truth_label")


def run_segment(data_dir: Path, run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Stage 2: DynUNet on pseudo-hrT2 (``adapted``), ceT1 (``no_adaptation``) or target hrT2 with
    paired-truth labels (``supervised``); exports ``RUN/segment/model`` and validates it."""
    stage = run_dir / "segment"
    info = _done(stage)
    if info is not None:
        logger.info("segment: done, skipping")
        return info
    t0 = time.perf_counter()
    weights = train_segmenter(
        _stage_volumes(run_dir, cfg),
        cfg.segment,
        stage,
        device=device,
        seed=cfg.seed,
        desc=f"segment ({cfg.mode})",
    )
    seconds = time.perf_counter() - t0
    export_model(stage / "model", weights, run_dir, cfg, "segment")
    val = _validate_into(stage, stage / "model", data_dir, cfg)
    return _finish(stage, {"seconds": seconds, "validation_mean": val})


def run_self_train(data_dir: Path, run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Stage 3: ``rounds`` x (pseudo-label target crops with the current model, keep confident
    cleaned ones, fine-tune on pseudo-hrT2 + pseudo-labelled hrT2); exports ``RUN/self_train/model``."""
    from crossmoda.algorithm.segmentation import load_state
    from crossmoda.algorithm.selftrain import pseudo_label, select_pseudo_labels

    stage = run_dir / "self_train"
    info = _done(stage)
    if info is not None:
        logger.info("self-train: done, skipping")
        return info
    data = run_dir / "data"
    index = read_index(data)
    source = _stage_volumes(run_dir, cfg)
    images = {c: np.load(data / "target" / f"{c}_image.npy").astype(np.float32) for c in index["target"]}
    weights = load_state(run_dir / "segment" / "model.pt")
    rounds: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for k in range(1, cfg.self_train.rounds + 1):
        rdir = stage / f"round_{k}"
        net = build_segmenter(cfg.segment)
        net.load_state_dict(weights)
        net.to(device)
        resumed = (rdir / "model.pt").exists()
        kept = []
        if not resumed:
            labels = pseudo_label(
                net, list(images.items()), cfg.segment, device, cfg.preprocess.spacing_mm
            )
            kept = select_pseudo_labels(labels, images, cfg.self_train)
        weights = train_segmenter(
            [*source, *kept],
            cfg.segment,
            rdir,
            device=device,
            seed=cfg.seed + k,
            iterations=cfg.self_train.iterations,
            lr=cfg.self_train.lr,
            init_weights=weights,
            desc=f"self-train {k}/{cfg.self_train.rounds}",
        )
        # a round finished in an earlier session is loaded, not re-labelled: its count is unknown here
        rounds.append({"round": k, "pseudo_labelled_kept": None if resumed else len(kept)})
    seconds = time.perf_counter() - t0
    export_model(stage / "model", weights, run_dir, cfg, "self_train")
    val = _validate_into(stage, stage / "model", data_dir, cfg)
    return _finish(stage, {"seconds": seconds, "rounds": rounds, "validation_mean": val})


def _write_koos_inputs(data_dir: Path, run_dir: Path, cfg: TrainConfig, device: str) -> dict[str, Path]:
    """Predictions of the final model for the Koos grader: source cases on their (pseudo-)hrT2
    crops (combined map 1-4 + the crop image, crop grid) and validation cases through
    :func:`predict_case` (``_Label`` + ``_Aux`` on the input grid)."""
    import SimpleITK as sitk

    from crossmoda.algorithm.inference import predict_crop
    from crossmoda.algorithm.preprocess import box_at
    from crossmoda.algorithm.selftrain import clean_labels
    from crossmoda.core.cases import discover_cases
    from crossmoda.core.io import read_image, write_image

    data = run_dir / "data"
    index = json.loads((data / "index.json").read_text(encoding="utf-8"))
    model = load_model(run_dir / "model", device=device)
    out = {
        "labels": run_dir / "koos_inputs" / "source_labels",
        "images": run_dir / "koos_inputs" / "source_images",
        "validation_labels": run_dir / "koos_inputs" / "validation_labels",
    }
    image_split = "pseudo" if (data / "pseudo").is_dir() else "source"
    for case in index["splits"]["source"]:
        crop = np.load(data / image_split / f"{case}_image.npy").astype(np.float32)
        labels = clean_labels(predict_crop(model, crop), cfg.preprocess.spacing_mm)
        ref = box_at(
            tuple(index["centres"][case]), cfg.preprocess.spacing_mm, cfg.preprocess.roi_shape
        ).reference()
        for array, folder, name in ((labels, out["labels"], "Label"), (crop, out["images"], "hrT2")):
            img = sitk.GetImageFromArray(array)
            img.CopyInformation(ref)
            write_image(img, folder / f"{case}_{name}.nii.gz")
    val_dir = data_dir / "validation"
    val_images = discover_cases(val_dir, "hrT2").files if val_dir.is_dir() else {}
    for case, path in val_images.items():
        pred = predict_case(read_image(path), model)
        write_image(pred.label_image(), out["validation_labels"] / f"{case}_Label.nii.gz")
        write_image(pred.aux_image(), out["validation_labels"] / f"{case}_Aux.nii.gz")
    return out


def run_koos(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Stage 4: fit the Koos grader of :mod:`crossmoda.algorithm.koos` (``train_koos``) on the final
    model's predictions; ``RUN/koos/koos_model.json`` is copied into ``RUN/model``. Skipped with a
    log line when that module or the source grades are missing."""
    stage = run_dir / "koos"
    info = _done(stage)
    if info is not None:
        logger.info("koos: done, skipping")
        return info
    try:
        from crossmoda.algorithm.koos.train import KoosTrainConfig, train_koos
    except ImportError:
        logger.info("koos: crossmoda.algorithm.koos.train not available, skipping")
        return {"skipped": "crossmoda.algorithm.koos.train not available"}
    if not (data_dir / "infos_source_training.csv").is_file():
        logger.info("koos: %s has no infos_source_training.csv (grades), skipping", data_dir)
        return {"skipped": "no source grades"}
    t0 = time.perf_counter()
    inputs = _write_koos_inputs(data_dir, run_dir, cfg, cfg.device)
    val = inputs["validation_labels"] if inputs["validation_labels"].is_dir() else None
    summary = train_koos(
        KoosTrainConfig(
            data=data_dir,
            output=stage,
            labels=inputs["labels"],
            images=inputs["images"],
            validation_labels=val,
            seed=cfg.seed,
        )
    )
    shutil.copyfile(stage / "koos_model.json", run_dir / "model" / "koos_model.json")
    keep: dict[str, Any] = {
        k: summary[k]
        for k in ("feature_set", "feature_selection_cv_ma_mae", "cross_validation", "validation")
        if k in summary
    }
    return _finish(stage, {"seconds": time.perf_counter() - t0, **keep})


def run_all(data_dir: Path, run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The whole chain for ``cfg.mode``; writes ``RUN/config.json``, ``RUN/model`` and
    ``RUN/summary.json`` (per-stage seconds and validation)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        run_dir / "config.json", {**cfg.to_dict(), "provenance": provenance("crossmoda-train", cfg)}
    )
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    summary: dict[str, Any] = {"mode": cfg.mode, "stages": {}}
    t0 = time.perf_counter()
    summary["stages"]["prepare"] = {
        "cases": {k: len(v) for k, v in run_prepare(data_dir, run_dir, cfg)["splits"].items()}
    }
    summary["stages"]["prepare"]["seconds"] = time.perf_counter() - t0
    if cfg.mode == "adapted":
        summary["stages"]["translate"] = _strip(run_translate(run_dir, cfg, device))
    summary["stages"]["segment"] = run_segment(data_dir, run_dir, cfg, device)
    final = run_dir / "segment" / "model"
    if cfg.mode == "adapted" and cfg.self_train.rounds > 0:
        summary["stages"]["self_train"] = run_self_train(data_dir, run_dir, cfg, device)
        final = run_dir / "self_train" / "model"
    koos_model = run_dir / "model" / "koos_model.json"
    if (run_dir / "model").exists() and not (koos_model.is_file() and _done(run_dir / "koos")):
        shutil.rmtree(run_dir / "model")
    if not (run_dir / "model").exists():
        shutil.copytree(final, run_dir / "model")
    summary["stages"]["koos"] = run_koos(data_dir, run_dir, cfg)
    # wall time of this call; a resumed run's finished stages keep their own seconds, summed in
    # ``seconds_stages`` (training and apply time; validation passes are not included)
    summary["seconds_total"] = time.perf_counter() - t0
    summary["seconds_stages"] = float(
        sum(
            float(v)
            for info in summary["stages"].values()
            for k, v in info.items()
            if k.startswith("seconds") and isinstance(v, (int, float))
        )
    )
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def _strip(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "quality"}
