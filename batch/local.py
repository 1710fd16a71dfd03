"""The local engine: this machine only, no Ray. jobs=1 runs the worker in this process; jobs > 1 in that many
spawned processes, at most IN_FLIGHT_PER_JOB items queued per process, results in the items' order."""

from __future__ import annotations

import os
import resource
import socket
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from batch.engine import Worker, WorkerStats

IN_FLIGHT_PER_JOB = 4  # items queued per process: enough to keep it busy, few enough to keep memory flat

_worker: Worker | None = None  # the worker of a pool process, set up once by _init_process


def _init_process(worker: Worker) -> None:
    global _worker
    # each process gets a fair share of the cores; more threads per process only fight each other
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    worker.setup()
    _worker = worker


def _run_item(item: Any) -> Any:
    assert _worker is not None, "set by _init_process in every pool process"
    return _worker(item)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LocalEngine:
    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self._stats: list[WorkerStats] = []

    def describe(self) -> str:
        return f"local, {self.jobs} process{'es' if self.jobs > 1 else ''}"

    def worker_stats(self) -> list[WorkerStats]:
        return list(self._stats)

    def map(self, worker: Worker, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        self._stats = []
        if self.jobs == 1:
            worker.setup()
            count = 0
            try:
                for item in items:
                    yield item, worker(item)
                    count += 1
            finally:
                close = getattr(worker, "close", None)
                if close is not None:
                    close()
                self._stats = [WorkerStats(os.getpid(), socket.gethostname(), count, round(peak_rss_mb(), 1))]
            return
        import multiprocessing

        # spawn: the workers load their own models; forking a process that holds threads (torch, mediapipe) can hang
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_process, initargs=(worker,)) as pool:
            pending: deque = deque()
            for item in items:
                pending.append((item, pool.submit(_run_item, item)))
                if len(pending) >= self.jobs * IN_FLIGHT_PER_JOB:
                    done_item, future = pending.popleft()
                    yield done_item, future.result()
            while pending:
                done_item, future = pending.popleft()
                yield done_item, future.result()
