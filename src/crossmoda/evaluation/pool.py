"""Run case jobs in worker processes so that a dying worker costs only its own case.

``concurrent.futures.ProcessPoolExecutor`` marks *every* pending future broken when one worker
dies (killed for memory, a crash in a native library). Here each worker reports the job it
starts on a queue; after a break, the jobs that were running are retried one at a time in a
pool of their own (the one that breaks it again is the culprit and fails alone), and the jobs
that never started are retried in a fresh pool. Workers ask the kernel to kill them when the
process that started them dies (``PR_SET_PDEATHSIG``, Linux), so killing the main process
leaves no orphans.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["PoolRun", "run_isolated"]

logger = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1
_started: Any = None


@dataclass
class PoolRun(Generic[R]):
    """Results of :func:`run_isolated`.

    Attributes:
        results: Job index -> result (every job has one).
        retried: Jobs run again after a worker died.
        died: Indices of the jobs whose worker died (their results come from ``on_death``).
    """

    results: dict[int, R] = field(default_factory=dict)
    retried: int = 0
    died: list[int] = field(default_factory=list)


def _init_worker(started: Any, parent: int) -> None:
    global _started
    _started = started
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: no parent-death signal
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _call(fn: Callable[[J], R], index: int, job: J) -> R:
    if _started is not None:
        _started.put(index)
    return fn(job)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _run_pool(
    fn: Callable[[J], R], jobs: Sequence[J], indices: Sequence[int], workers: int,
    done: Callable[[int, R], None],
) -> tuple[list[int], list[int]]:
    """Run ``indices`` in one pool; returns (unfinished, started-but-unfinished) after a break."""
    ctx = _context()
    started = ctx.SimpleQueue()
    unfinished: list[int] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(indices)), mp_context=ctx,
                             initializer=_init_worker, initargs=(started, os.getpid())) as pool:
        futures: dict[Future[R], int] = {pool.submit(_call, fn, i, jobs[i]): i for i in indices}
        for fut, i in futures.items():
            try:
                done(i, fut.result())
            except BrokenProcessPool:
                unfinished.append(i)
    seen: set[int] = set()
    while not started.empty():
        seen.add(started.get())
    started.close()
    return unfinished, [i for i in unfinished if i in seen]


def run_isolated(
    fn: Callable[[J], R], jobs: Sequence[J], workers: int, on_death: Callable[[int], R],
    progress: Callable[[], None] = lambda: None,
) -> PoolRun[R]:
    """Run ``fn(job)`` for every job in up to ``workers`` processes; a dead worker fails one job.

    ``fn`` must be picklable and catch its own errors (an exception it raises propagates).
    ``on_death(index)`` makes the result of a job whose worker died; ``progress()`` is called
    once per finished job.
    """
    run: PoolRun[R] = PoolRun()

    def done(i: int, result: R) -> None:
        run.results[i] = result
        progress()

    pending = list(range(len(jobs)))
    while pending:
        unfinished, suspects = _run_pool(fn, jobs, pending, workers, done)
        if not unfinished:
            break
        logger.warning("an evaluation worker died; %d unfinished cases are retried (%d that were "
                       "running, one at a time)", len(unfinished), len(suspects))
        run.retried += len(unfinished)
        for i in suspects:
            again, _ = _run_pool(fn, jobs, [i], 1, done)
            if again:
                run.died.append(i)
                run.results[i] = on_death(i)
                progress()
        pending = [i for i in unfinished if i not in suspects]
        if not suspects and pending:  # the pool broke before any job started: give up on them
            for i in pending:
                run.died.append(i)
                run.results[i] = on_death(i)
                progress()
            break
    return run
