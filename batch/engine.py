"""The one small interface every batch engine implements, and the registry of engines.

A Worker is a small picklable object: the engine sends a copy to each worker process, calls its `setup()` once
there (that is where models load: once per worker, not once per item), then calls it on one item at a time.
An Engine maps a Worker over a stream of items and yields (item, result) pairs as they finish; it pulls items only
as workers free up, so neither the input nor the results pile up in memory whatever the length of the batch.
Adding an engine is one new file with a class like LocalEngine, and one line in `make_engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

ENGINES: tuple[str, ...] = ("local", "ray")


class Worker(Protocol):
    def setup(self) -> None:
        """Load what every item needs (models); called once in each worker process before its first item."""

    def __call__(self, item: Any, /) -> Any:
        """The result of one item. An exception here stops the batch (every item would fail the same way):
        a worker turns a bad item into a result that says what was wrong."""


@dataclass(frozen=True)
class WorkerStats:
    """One worker process at the end of a batch (for the benchmark and the report's footnote)."""

    pid: int
    host: str
    items: int
    peak_rss_mb: float


class Engine(Protocol):
    name: str

    def map(self, worker: Worker, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """(item, worker(item)) for every item, each exactly once, in the order they finish (the local engine:
        the items' order)."""

    def worker_stats(self) -> list[WorkerStats]:
        """The worker processes of the last map() (empty when not known)."""

    def describe(self) -> str:
        """One line for reports: which engine, how many workers, where."""


def make_engine(name: str, *, jobs: int = 1, address: str | None = None, workers: int | None = None,
                shard_size: int = 1) -> Engine:
    """The engine by name. local: `jobs` processes on this machine (1: in this process). ray: `workers` actors
    (default: one per CPU of the cluster) on the cluster at `address` (default: a private one on this machine),
    `shard_size` items per task."""
    if name == "local":
        from batch.local import LocalEngine

        if address is not None:
            raise ValueError("--address needs --engine ray")
        return LocalEngine(jobs=jobs)
    if name == "ray":
        from batch.ray_engine import RayEngine

        return RayEngine(address=address, workers=workers, shard_size=shard_size)
    raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
