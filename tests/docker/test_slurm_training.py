"""Distributed training through Slurm: ``sbatch scripts/slurm/train.sbatch all ...`` on the
one-node cluster starts ``srun torchrun`` with the c10d rendezvous and 2 gloo ranks, and the job
leaves a complete run folder whose model loads.

Needs ``scripts/slurm/setup_cluster.sh`` (``SLURM_CONF``); run with ``pytest -m slurm``. A cluster
that does not answer is a test failure, never a skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crossmoda.challenge.slurm import SlurmError, check_slurm
from tests.algorithm.synthetic import write_dataset
from tests.algorithm.test_pipeline import TINY, check_complete_run

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


def test_train_sbatch_runs_two_ranks_and_writes_a_complete_run(tmp_path: Path) -> None:
    try:
        check_slurm()
    except SlurmError as err:
        pytest.fail(f"{err}; run `source <(bash scripts/slurm/setup_cluster.sh)` first", pytrace=False)
    data = write_dataset(tmp_path / "data", n_source=3, n_target=3, n_validation=1)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    env = {**os.environ, "CROSSMODA_PYTHON": sys.executable, "CROSSMODA_PROCS_PER_NODE": "2",
           "CROSSMODA_RDZV_PORT": str(_free_port()), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path / "train.out"
    cmd = ["sbatch", "--wait", "--parsable", "--cpus-per-task=2", "--mem=3000M", "--time=15",
           f"--chdir={tmp_path}", f"--output={log}", str(ROOT / "scripts" / "slurm" / "train.sbatch"),
           "all", str(data), "--output", str(run), "--config", str(cfg), "--seed", "1", "--threads", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    text = log.read_text(errors="replace") if log.is_file() else ""
    assert result.returncode == 0, f"sbatch exit {result.returncode}: {result.stderr}\n{text[-4000:]}"

    assert "1 node(s) x 2 process(es)" in text, text[-4000:]
    assert text.count("all finished:") == 1, text[-4000:]  # rank 0 logs, rank 1 stays quiet
    check_complete_run(run, seed=1)
    assert sorted(run.rglob(".partial-*")) == [] and sorted(run.rglob("checkpoint.pt")) == []
