"""The platform rules, defined once, rendered for the Docker SDK and for a container CLI.

Every team container runs under the same rules whichever backend starts it (the local Docker SDK
loop or a Slurm job calling ``docker run``/``podman run`` on a node): no network, inputs mounted
read-only, a memory limit with no swap, a process limit, all capabilities dropped,
``no-new-privileges``, a read-only root file system with an empty writable ``/tmp`` tmpfs (as
grand-challenge gives), a ``/dev/shm`` size, and the GPUs when asked for. :func:`container_spec`
turns :class:`~crossmoda.challenge.config.Limits` into a :class:`ContainerSpec`;
:func:`sdk_kwargs` and :func:`cli_argv` are pure renderings of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from crossmoda.challenge.config import Limits, parse_memory

__all__ = ["Engine", "ContainerSpec", "container_spec", "sdk_kwargs", "cli_argv", "GPU_FLAGS"]

Engine = Literal["docker", "podman"]

GPU_FLAGS: dict[str, tuple[str, ...]] = {
    "docker": ("--gpus", "all"),
    "podman": ("--device", "nvidia.com/gpu=all"),
}
"""The engine's flag for all GPUs of the node (Docker: NVIDIA Container Toolkit; Podman: the
toolkit's CDI specification, ``nvidia-ctk cdi generate``). Under Slurm these flags do not name the
job's GPUs: "all" is only the job's GPUs where the node confines the container to the job's
devices, otherwise every GPU of the node (docs/organisers.md)."""


@dataclass(frozen=True)
class ContainerSpec:
    """Resolved rules of one container run (bytes, absolute host paths)."""

    mounts: tuple[tuple[str, str, str], ...]
    """(host path, container path, ``"ro"``/``"rw"``)."""
    memory_bytes: int
    shm_bytes: int
    tmp_bytes: int
    pids_limit: int
    read_only_rootfs: bool
    gpu: bool
    cpus: float | None = None
    user: str | None = None
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def container_spec(limits: Limits, mounts: Mapping[Path, tuple[str, str]], gpu: bool) -> ContainerSpec:
    """The rules for ``limits`` with ``mounts`` (host path -> (container path, mode)), pure."""
    for _, (target, mode) in mounts.items():
        if mode not in ("ro", "rw"):
            raise ValueError(f"mount mode of {target} must be ro or rw, got {mode!r}")
    return ContainerSpec(
        mounts=tuple((str(Path(h).absolute()), c, m) for h, (c, m) in mounts.items()),
        memory_bytes=parse_memory(limits.memory),
        shm_bytes=parse_memory(limits.shm_size),
        tmp_bytes=parse_memory(limits.tmp_size),
        pids_limit=limits.pids_limit,
        read_only_rootfs=limits.read_only_rootfs,
        gpu=gpu,
        cpus=limits.cpus,
        user=limits.user,
        env=tuple(sorted(limits.env.items())),
    )


def _tmpfs_options(spec: ContainerSpec) -> str:
    return f"rw,exec,nosuid,nodev,size={spec.tmp_bytes}"


def sdk_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.create`` (Docker SDK) for ``spec``.

    GPUs are returned as plain ``device_requests`` dictionaries (the API's JSON form).
    """
    kwargs: dict[str, Any] = {
        "network_mode": "none",
        "network_disabled": True,
        "volumes": {h: {"bind": c, "mode": m} for h, c, m in spec.mounts},
        "mem_limit": spec.memory_bytes,
        "memswap_limit": spec.memory_bytes,
        "shm_size": spec.shm_bytes,
        "tmpfs": {"/tmp": _tmpfs_options(spec)},
        "pids_limit": spec.pids_limit,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": spec.read_only_rootfs,
        "environment": dict(spec.env),
    }
    if spec.cpus is not None:
        kwargs["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.user is not None:
        kwargs["user"] = spec.user
    if spec.gpu:
        kwargs["device_requests"] = [{"Driver": "", "Count": -1, "DeviceIDs": [],
                                      "Capabilities": [["gpu"]], "Options": {}}]
    return kwargs


def cli_argv(
    engine: Engine, spec: ContainerSpec, image: str, *, name: str, command: Sequence[str] | None = None,
    verb: Literal["run", "create"] = "create",
) -> list[str]:
    """``<engine> create|run`` argument list for ``spec`` (no shell quoting; ``shlex.join`` it).

    The same rules as :func:`sdk_kwargs`, for ``docker`` or ``podman`` on a node.
    """
    if engine not in GPU_FLAGS:
        raise ValueError(f"engine must be docker or podman, got {engine!r}")
    argv = [engine, verb, "--name", name, "--network", "none",
            "--memory", str(spec.memory_bytes), "--memory-swap", str(spec.memory_bytes),
            "--shm-size", str(spec.shm_bytes), "--tmpfs", f"/tmp:{_tmpfs_options(spec)}",
            "--pids-limit", str(spec.pids_limit), "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges"]
    if spec.read_only_rootfs:
        argv.append("--read-only")
    for host, target, mode in spec.mounts:
        argv += ["--volume", f"{host}:{target}:{mode}"]
    for key, value in spec.env:
        argv += ["--env", f"{key}={value}"]
    if spec.cpus is not None:
        argv += ["--cpus", f"{spec.cpus:g}"]
    if spec.user is not None:
        argv += ["--user", spec.user]
    if spec.gpu:
        argv += list(GPU_FLAGS[engine])
    argv.append(image)
    if command is not None:
        argv += list(command)
    return argv
