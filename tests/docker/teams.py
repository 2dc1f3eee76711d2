"""Tiny team images for the runner tests, built on the local Python base image.

Modes: ``copy`` writes the reference labels it carries for the cases in /input (a perfect team;
``TEAM_SECONDS_PER_CASE`` in its environment makes it spend that long per case) and probes the
platform (root file system read-only, /tmp writable); ``crash`` exits 1;
``sleep`` outlives any time limit; ``links`` writes symbolic links to the ground truth and to
another team's output instead of images (and ``predictions.csv -> /etc/passwd``); ``fill``
writes perfect labels and then more bytes than the output cap.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_team"]

TEAM_SCRIPT = '''\
import os, shutil, sys, time
from pathlib import Path
mode = Path("/mode.txt").read_text().strip()
print("team mode", mode, flush=True)
try:
    open("/rootfs-probe", "w").close()
    print("rootfs writable", flush=True)
except OSError:
    print("rootfs read-only", flush=True)
Path("/tmp/probe").write_text("x")
print("tmp writable", flush=True)
if mode == "crash":
    sys.stderr.write("Traceback (most recent call last):\\nRuntimeError: CUDA out of memory\\n")
    sys.exit(1)
if mode == "sleep":
    time.sleep(600)
cases = sorted(p.name[: -len("_hrT2.nii.gz")] for p in Path("/input").glob("*_hrT2.nii.gz"))
if mode == "links":
    targets = Path("/targets.txt").read_text().split()
    for i, case in enumerate(cases):
        os.symlink(f"{targets[i % len(targets)]}/{case}_Label.nii.gz", f"/output/{case}_Label.nii.gz")
    os.symlink("/etc/passwd", "/output/predictions.csv")
    print("linked", len(cases), "cases", flush=True)
    sys.exit(0)
delay = float(os.environ.get("TEAM_SECONDS_PER_CASE", "0"))
for case in cases:
    time.sleep(delay)
    shutil.copy(f"/labels/{case}_Label.nii.gz", f"/output/{case}_Label.nii.gz")
rows = [line for line in open("/labels/koos.csv").read().splitlines()[1:] if line.split(",")[0] in cases]
Path("/output/predictions.csv").write_text("case,class\\n" + "".join(r + "\\n" for r in rows))
if mode == "fill":
    with open("/output/zz-fill.bin", "wb") as handle:
        for _ in range(8):
            handle.write(os.urandom(1 << 20))
print("wrote", len(cases), "cases", flush=True)
'''

TEAM_DOCKERFILE = '''\
ARG BASE
FROM ${BASE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY labels /labels
COPY team.py mode.txt targets.txt /
USER 1000:1000
ENTRYPOINT ["python3", "/team.py"]
'''


def build_team(client: Any, root: Path, labels: Path, base: str, mode: str,
               link_targets: Sequence[Path] = ()) -> str:
    """Build the team image of ``mode`` carrying ``labels`` (``*_Label.nii.gz`` and ``koos.csv``);
    returns its tag."""
    context = root / mode
    shutil.copytree(labels, context / "labels")
    (context / "team.py").write_text(TEAM_SCRIPT)
    (context / "mode.txt").write_text(mode)
    (context / "targets.txt").write_text("\n".join(str(t) for t in link_targets) + "\n")
    (context / "Dockerfile").write_text(TEAM_DOCKERFILE)
    tag = f"localhost/crossmoda-test-team-{mode}:2"
    client.images.build(path=str(context), tag=tag, buildargs={"BASE": base}, rm=True)
    return tag
