"""A dying evaluation worker fails only its own case; killing the main process leaves no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crossmoda.core.labels import get_label_map
from crossmoda.evaluation import runner
from crossmoda.evaluation.case import CaseConfig, CaseResult
from crossmoda.evaluation.pool import run_isolated
from crossmoda.evaluation.runner import CaseJob, RunStats, build_report, run_jobs

CONFIG = CaseConfig(label_map=get_label_map("crossmoda2022"))
DIE_ON = "crossmoda2022_etz_3"


def _fake_evaluate(case: str, prediction: Path | None, reference: Path, config: CaseConfig) -> CaseResult:
    if case == DIE_ON:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    time.sleep(0.02)
    return CaseResult(case=case, values={c: 0.5 for c in config.columns()})


def _jobs(n: int) -> list[CaseJob]:
    return [CaseJob(f"crossmoda2022_etz_{i}", Path(f"/ref/{i}"), Path(f"/pred/{i}")) for i in range(1, n + 1)]


@pytest.mark.parametrize("workers", [2, 3])
def test_dead_worker_fails_only_its_case(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(runner, "evaluate_case", _fake_evaluate)  # inherited by forked workers
    jobs = _jobs(12)
    stats = RunStats()
    results = run_jobs(jobs, CONFIG, workers=workers, progress=False, stats=stats)
    assert [r.case for r in results] == [j.case for j in jobs]
    failed = [r.case for r in results if r.error is not None]
    assert failed == [DIE_ON]
    assert "worker died" in (results[2].error or "")
    assert results[2].values["VS_Dice"] == 0.0
    assert all(r.values["VS_Dice"] == 0.5 for r in results if r.case != DIE_ON)
    assert stats.died == [DIE_ON]
    assert stats.retried >= 1


def test_report_records_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "evaluate_case", _fake_evaluate)
    report = build_report(_jobs(6), CONFIG, workers=2, progress=False)
    assert report.retried >= 1
    assert any("retried after an evaluation worker died" in n for n in report.notes)


def _square(x: int) -> int:
    return x * x


def test_run_isolated_without_deaths() -> None:
    run = run_isolated(_square, list(range(7)), 3, on_death=lambda i: -1)
    assert run.results == {i: i * i for i in range(7)} and run.retried == 0 and run.died == []


SCRIPT = textwrap.dedent("""
    import os, sys, time
    from crossmoda.evaluation.pool import run_isolated

    def work(i):
        with open(os.path.join(sys.argv[1], f"worker-{os.getpid()}"), "w") as fh:
            fh.write(str(i))
        time.sleep(60)
        return i

    run_isolated(work, list(range(4)), 2, on_death=lambda i: None)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_killing_the_main_process_leaves_no_workers(tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [p for p in pids if _alive(p)]
    for pid in survivors:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "worker processes outlived the main process"
