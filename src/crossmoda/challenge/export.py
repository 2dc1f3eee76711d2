"""Files for a grand-challenge upload: the image as ``.tar.gz`` and the model as ``model.tar.gz``."""

from __future__ import annotations

import gzip
import logging
import os
import tarfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = ["save_image", "pack_model"]

logger = logging.getLogger(__name__)


def save_image(client: Any, image: str, output: Path, *, compresslevel: int = 6) -> Path:
    """Save ``image`` like ``docker save IMAGE | gzip > OUTPUT`` through the Docker SDK.

    Returns the written path (written to a temporary name first, renamed when complete).
    """
    img = client.images.get(image)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".partial-{output.name}")
    size = int(img.attrs.get("Size", 0)) or None
    try:
        with gzip.open(partial, "wb", compresslevel=compresslevel) as fh, tqdm(
            total=size, unit="B", unit_scale=True, desc=f"saving {image}"
        ) as bar:
            for chunk in img.save(named=True):
                fh.write(chunk)
                bar.update(len(chunk))
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("saved %s to %s (%.1f MB)", image, output, output.stat().st_size / 1e6)
    return output


def pack_model(model_dir: Path, output: Path) -> Path:
    """Pack the files of ``model_dir`` into ``output`` (gzip tar) with paths relative to it.

    grand-challenge extracts the archive into ``/opt/ml/model/``, so ``model_dir/x.json`` ends up
    at ``/opt/ml/model/x.json``. Hidden files are skipped; owners are reset; order is sorted.
    """
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir}: model folder not found")
    files = sorted(p for p in model_dir.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(model_dir).parts))
    if not files:
        raise ValueError(f"{model_dir}: no model files to pack")
    output.parent.mkdir(parents=True, exist_ok=True)

    def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(output, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=str(path.relative_to(model_dir)), filter=_reset)
    logger.info("packed %d files of %s into %s", len(files), model_dir, output)
    return output
