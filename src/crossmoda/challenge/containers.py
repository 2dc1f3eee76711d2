"""Run one container under platform rules with the Docker SDK and classify the outcome.

The rules (no network, read-only inputs, memory, processes, capabilities, read-only root file
system with a ``/tmp`` tmpfs, GPUs) come from :mod:`crossmoda.challenge.platform`, shared with the
Slurm backend; a wall-clock time limit kills the container after it. Logs are read as a stream
and only their tail is kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from crossmoda.challenge.config import Limits
from crossmoda.challenge.outputs import BoundedLog, count_images
from crossmoda.challenge.platform import container_spec, sdk_kwargs

__all__ = ["ContainerRun", "Status", "host_has_gpu", "run_container", "count_outputs", "MAX_LOG_BYTES"]

logger = logging.getLogger(__name__)

Status = Literal["ok", "crashed", "timeout", "oom", "silent", "oversized", "error"]
"""``ok``; ``crashed``: non-zero exit; ``timeout``: killed at the time limit; ``oom``: killed for
memory; ``silent``: exit 0 without any output image; ``oversized``: wrote more than the output cap
(scored as missing); ``error``: could not start (e.g. no image) or was stopped by the scheduler."""

MAX_LOG_BYTES = 2_000_000
"""Logs kept per container (the tail), in bytes."""

@dataclass
class ContainerRun:
    """Outcome of one container run (JSON-ready through ``to_jsonable``).

    Attributes:
        image: Image reference as given.
        image_id: Resolved image id (``None`` when the image was not found).
        status: See :data:`Status`.
        exit_code: Container exit code (``None`` when killed or never started).
        runtime_s: Wall-clock seconds from start to exit (or to the kill).
        n_outputs: Output images written (``*.nii.gz``, ``*.nii``, ``*.mha`` anywhere under /output).
        log_file: File holding the container's stdout and stderr (tail of at most MAX_LOG_BYTES).
        message: Human-readable reason for a non-``ok`` status.
        gpu: Whether GPUs were requested.
        limits: The platform rules applied.
        refused: Output entries not copied out (links, special files), with reasons.
        output_bytes: Bytes of output copied out (at most the output cap).
    """

    image: str
    image_id: str | None = None
    status: Status = "error"
    exit_code: int | None = None
    runtime_s: float = 0.0
    n_outputs: int = 0
    log_file: Path | None = None
    message: str = ""
    gpu: bool = False
    limits: dict[str, Any] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    output_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def host_has_gpu() -> bool:
    """True when ``nvidia-smi -L`` lists at least one GPU on this host."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def count_outputs(folder: Path) -> int:
    """Number of regular image files (``.nii.gz``, ``.nii``, ``.mha``) under ``folder``, links
    not followed (a link is not an output)."""
    if not folder.is_dir():
        return 0
    found: list[Path] = []
    for root, _dirs, files in os.walk(folder):  # os.walk does not descend into linked folders
        found += [Path(root, f) for f in files if Path(root, f).is_file() and not Path(root, f).is_symlink()]
    return count_images(found)


def _want_gpu(limits: Limits) -> bool:
    if limits.gpu == "none":
        return False
    if limits.gpu == "all":
        return True
    return host_has_gpu()


def _save_logs(container: Any, log_file: Path) -> None:
    """Write the last MAX_LOG_BYTES of the container's output, read as a stream in chunks."""
    log = BoundedLog(MAX_LOG_BYTES)
    try:
        for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=False):
            log.feed(chunk)
    except Exception as err:  # logs are best effort; the status is what matters
        log.feed(f"[crossmoda-challenge] could not read logs: {err}\n".encode())
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(log.value())


def run_container(
    client: Any,
    image: str,
    *,
    mounts: Mapping[Path, tuple[str, str]],
    limits: Limits,
    log_file: Path,
    command: Sequence[str] | None = None,
    output_dir: Path | None = None,
    require_images: bool = True,
) -> ContainerRun:
    """Run ``image`` to completion under ``limits`` and classify the outcome.

    Args:
        client: A ``docker.DockerClient``.
        image: Image reference.
        mounts: Host path -> (container path, ``"ro"`` or ``"rw"``).
        limits: Platform rules (time, memory, GPU, ...).
        log_file: Where the container's stdout/stderr go.
        command: Arguments after the image's entrypoint (``None``: the image's default).
        output_dir: Host folder mounted as the output; made world-writable so that the image's
            non-root user can write to it, and its images counted.
        require_images: A run that exits 0 without writing any image into ``output_dir`` is
            ``silent`` (algorithm runs); off for evaluation and ranking runs.

    Never raises for a failing container; the returned status says what happened.
    """
    import docker.errors

    gpu = _want_gpu(limits)
    run = ContainerRun(image=image, log_file=log_file, gpu=gpu, limits=_limits_dict(limits))
    try:
        run.image_id = client.images.get(image).id
    except docker.errors.ImageNotFound:
        run.message = f"image {image!r} not found"
        return _finish(run, log_file)
    except docker.errors.APIError as err:
        run.message = f"image {image!r}: {err}"
        return _finish(run, log_file)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(output_dir, 0o777)  # the image's own (unknown) uid must write here
    kwargs = sdk_kwargs(container_spec(limits, mounts, gpu))
    try:
        container = client.containers.create(image, list(command) if command is not None else None, **kwargs)
    except docker.errors.APIError as err:
        run.message = f"could not create the container: {err}"
        return _finish(run, log_file)
    try:
        _start_and_wait(container, run, limits, log_file)
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError as err:
            logger.warning("could not remove container %s: %s", getattr(container, "id", "?"), err)
    if output_dir is not None:
        run.n_outputs = count_outputs(output_dir)
        if require_images and run.status == "ok" and run.n_outputs == 0:
            run.status = "silent"
            run.message = "exited 0 but wrote no output image"
    return run


def _start_and_wait(container: Any, run: ContainerRun, limits: Limits, log_file: Path) -> None:
    """Start ``container``, wait up to the time limit (killing it then), save its logs and set
    ``run``'s runtime, exit code, status and message (timeout, oom, crashed or ok)."""
    import docker.errors
    import requests.exceptions

    t0 = time.monotonic()
    try:
        container.start()
    except docker.errors.APIError as err:
        run.message = f"could not start: {err}"
        _finish(run, log_file)
        return
    try:
        result = container.wait(timeout=limits.time_limit_s)
        run.runtime_s = time.monotonic() - t0
        run.exit_code = int(result.get("StatusCode", -1))
    except requests.exceptions.RequestException:
        run.runtime_s = time.monotonic() - t0
        try:
            container.kill()
        except docker.errors.APIError as err:  # it may have exited meanwhile
            logger.debug("kill: %s", err)
        run.status = "timeout"
        run.message = f"killed after the time limit of {limits.time_limit_s:g} s"
    _save_logs(container, log_file)
    if run.status == "timeout":
        return
    container.reload()
    state = container.attrs.get("State", {})
    if state.get("OOMKilled"):
        run.status = "oom"
        run.message = f"killed for exceeding the memory limit of {limits.memory}"
    elif run.exit_code != 0:
        run.status = "crashed"
        run.message = f"exited with status {run.exit_code}"
    else:
        run.status = "ok"


def _finish(run: ContainerRun, log_file: Path) -> ContainerRun:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(f"[crossmoda-challenge] {run.message}\n", encoding="utf-8")
    return run


def _limits_dict(limits: Limits) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(limits)
