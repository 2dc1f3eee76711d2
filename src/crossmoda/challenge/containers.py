"""Run one container under platform rules with the Docker SDK and classify the outcome.

Rules applied to every run: no network (``network_mode="none"``; the SDK's ``network_disabled``
alone leaves a network interface under Podman), read-only input mounts, memory limit with no
swap, ``/tmp`` as an empty tmpfs, a ``/dev/shm`` size, a process limit, all capabilities dropped,
``no-new-privileges``, a wall-clock time limit (the container is killed after it) and the GPUs
when asked for (``device_requests``).
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

from crossmoda.challenge.config import Limits, parse_memory

__all__ = ["ContainerRun", "Status", "host_has_gpu", "run_container", "count_outputs", "MAX_LOG_BYTES"]

logger = logging.getLogger(__name__)

Status = Literal["ok", "crashed", "timeout", "oom", "silent", "error"]
"""``ok``; ``crashed``: non-zero exit; ``timeout``: killed at the time limit; ``oom``: killed for
memory; ``silent``: exit 0 without any output image; ``error``: could not start (e.g. no image)."""

MAX_LOG_BYTES = 2_000_000
"""Logs kept per container (the tail), in bytes."""

OUTPUT_SUFFIXES = (".nii.gz", ".nii", ".mha")


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
    """Number of image files (``.nii.gz``, ``.nii``, ``.mha``) anywhere under ``folder``."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(OUTPUT_SUFFIXES))


def _want_gpu(limits: Limits) -> bool:
    if limits.gpu == "none":
        return False
    if limits.gpu == "all":
        return True
    return host_has_gpu()


def _run_kwargs(limits: Limits, mounts: Mapping[Path, tuple[str, str]], gpu: bool) -> dict[str, Any]:
    import docker.types

    memory = parse_memory(limits.memory)
    kwargs: dict[str, Any] = {
        "detach": True,
        "network_mode": "none",
        "network_disabled": True,
        "volumes": {str(Path(h).resolve()): {"bind": c, "mode": m} for h, (c, m) in mounts.items()},
        "mem_limit": memory,
        "memswap_limit": memory,
        "shm_size": parse_memory(limits.shm_size),
        "tmpfs": {"/tmp": f"rw,exec,size={parse_memory(limits.tmp_size)}"},
        "pids_limit": limits.pids_limit,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": limits.read_only_rootfs,
        "environment": dict(limits.env),
    }
    if limits.cpus is not None:
        kwargs["nano_cpus"] = int(limits.cpus * 1e9)
    if limits.user is not None:
        kwargs["user"] = limits.user
    if gpu:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return kwargs


def _save_logs(container: Any, log_file: Path) -> None:
    try:
        data: bytes = container.logs(stdout=True, stderr=True)
    except Exception as err:  # logs are best effort; the status is what matters
        data = f"[crossmoda-challenge] could not read logs: {err}\n".encode()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(data[-MAX_LOG_BYTES:])


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
    import requests.exceptions

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
    kwargs = _run_kwargs(limits, mounts, gpu)
    kwargs.pop("detach")
    try:
        container = client.containers.create(image, list(command) if command is not None else None, **kwargs)
    except docker.errors.APIError as err:
        run.message = f"could not create the container: {err}"
        return _finish(run, log_file)
    t0 = time.monotonic()
    try:
        try:
            container.start()
        except docker.errors.APIError as err:
            run.message = f"could not start: {err}"
            return _finish(run, log_file)
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
        if run.status != "timeout":
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


def _finish(run: ContainerRun, log_file: Path) -> ContainerRun:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(f"[crossmoda-challenge] {run.message}\n", encoding="utf-8")
    return run


def _limits_dict(limits: Limits) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(limits)
