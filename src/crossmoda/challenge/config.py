"""Configuration of a challenge run: the teams, the platform limits, the scoring backend."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Team", "Limits", "Scoring", "ChallengeConfig", "parse_team", "parse_memory"]

_TEAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MEM_RE = re.compile(r"^(\d+(?:\.\d+)?)([kmgKMG]?)[bB]?$")


@dataclass(frozen=True)
class Team:
    """One submission: a team name (folder-safe) and its algorithm image reference."""

    name: str
    image: str

    def __post_init__(self) -> None:
        if not _TEAM_RE.match(self.name):
            raise ValueError(
                f"team name {self.name!r} must be 1-64 characters of letters, digits, '_', '.', '-'"
            )
        if not self.image:
            raise ValueError(f"team {self.name!r} has no image")


def parse_team(spec: str) -> Team:
    """Parse ``NAME=IMAGE`` (e.g. ``team-a=registry/team-a:1.0``) into a :class:`Team`."""
    name, sep, image = spec.partition("=")
    if not sep:
        raise ValueError(f"team spec {spec!r} is not NAME=IMAGE")
    return Team(name=name.strip(), image=image.strip())


def parse_memory(text: str) -> int:
    """Bytes of a memory size such as ``4g``, ``512m``, ``1.5G`` or ``1048576`` (powers of 1024)."""
    m = _MEM_RE.match(text.strip())
    if m is None:
        raise ValueError(f"memory size {text!r} is not like 4g, 512m or 1048576")
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]
    return int(float(m.group(1)) * factor)


@dataclass(frozen=True)
class Limits:
    """Platform rules applied to every algorithm container (grand-challenge-like defaults).

    Attributes:
        time_limit_s: Wall-clock limit per team run in seconds; the container is killed after it.
        memory: Memory limit (also the swap limit: no swap), e.g. ``"8g"``.
        shm_size: Size of ``/dev/shm`` (PyTorch data loaders need more than Docker's 64 MB).
        tmp_size: Size of the empty, writable ``/tmp`` tmpfs.
        cpus: CPU limit (``None``: no limit).
        pids_limit: Maximum number of processes in the container.
        gpu: ``"auto"`` (all GPUs when the host has an NVIDIA GPU), ``"all"`` or ``"none"``.
        read_only_rootfs: Mount the image's root file system read-only (default, as on
            grand-challenge; ``/tmp`` and ``/output`` stay writable).
        output_size: Cap on the bytes a team's ``/output`` may hold, enforced while the runner
            copies it out; a team over the cap is ``oversized`` and scored as missing.
        user: User to run as (``None``: the image's own user, which must be able to write to
            ``/output``; the output folder is made world-writable for that).
        env: Extra environment variables (e.g. thread counts).
    """

    time_limit_s: float = 1200.0
    memory: str = "16g"
    shm_size: str = "2g"
    tmp_size: str = "4g"
    cpus: float | None = None
    pids_limit: int = 1024
    gpu: Literal["auto", "all", "none"] = "auto"
    read_only_rootfs: bool = True
    output_size: str = "2g"
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError(f"time limit must be > 0 s, got {self.time_limit_s}")
        for name in ("memory", "shm_size", "tmp_size", "output_size"):
            parse_memory(getattr(self, name))
        if self.gpu not in ("auto", "all", "none"):
            raise ValueError(f"gpu must be auto, all or none, got {self.gpu!r}")


@dataclass(frozen=True)
class Scoring:
    """How the outputs are scored and ranked.

    Attributes:
        evaluation_image: Run the evaluation in this image (network off, inputs read-only);
            ``None``: run the ``crossmoda-evaluate`` console script of this environment.
        ranking_image: Likewise for ``crossmoda-rank``.
        evaluation_args: Extra arguments for ``crossmoda-evaluate``.
        ranking_args: Extra arguments for ``crossmoda-rank`` (e.g. ``["--bootstrap", "200"]``).
        keep_partial: Score the outputs a crashed (non-zero exit) run left behind; by default a
            crashed run is scored as missing on every case, like a timed-out or silent one.
        time_limit_s: Limit per evaluation or ranking run.
    """

    evaluation_image: str | None = None
    ranking_image: str | None = None
    evaluation_args: tuple[str, ...] = ()
    ranking_args: tuple[str, ...] = ()
    keep_partial: bool = False
    time_limit_s: float = 1800.0


@dataclass(frozen=True)
class ChallengeConfig:
    """A whole challenge run.

    Attributes:
        teams: The submissions, in input order (names unique).
        input_dir: Test images (``<case>_hrT2.nii.gz``), mounted read-only at ``/input``.
        ground_truth: Reference label maps (``<case>_Label.nii.gz``).
        output_dir: Work and report folder.
        koos_truth: Reference Koos table (``case,class``) or ``None`` to skip task 2.
        limits: Platform rules for the algorithm containers.
        scoring: Evaluation and ranking backend.
    """

    teams: tuple[Team, ...]
    input_dir: Path
    ground_truth: Path
    output_dir: Path
    koos_truth: Path | None = None
    limits: Limits = field(default_factory=Limits)
    scoring: Scoring = field(default_factory=Scoring)

    def __post_init__(self) -> None:
        if not self.teams:
            raise ValueError("a challenge needs at least one team")
        names = [t.name for t in self.teams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"team names must be unique; repeated: {dupes}")
