"""The Ray engine: the same Worker on a Ray cluster, one actor per worker process.

Each actor gets a copy of the Worker and calls its setup() once (models load once per actor, not once per item),
then runs shards of `shard_size` items. The driver pulls items from the stream only as shards finish, at most
IN_FLIGHT_PER_WORKER shards queued per actor, so memory stays flat in the length of the batch on both sides.

Faults: an actor that dies (killed, out of memory, its machine gone) is restarted by Ray, which loads the models
again and reruns the shards it had not finished; a shard's results reach the driver once, so nothing is lost and
nothing is written twice. An exception raised by the Worker itself is not retried (every retry would fail the same
way): it stops the batch with its own message, as it does locally.

Connecting: with `address` (`ray start --head` prints it, e.g. 10.0.0.5:6379) the cluster must have this project
installed and the data at the same paths on every node; without it a private Ray is started on 127.0.0.1 for this
run (one CPU per worker, a small object store) and stopped at the end.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batch.engine import Worker, WorkerStats

IN_FLIGHT_PER_WORKER = 2  # shards queued per actor: one running, one ready, so an actor never waits on the driver
MAX_WORKER_RESTARTS = 4  # an actor that dies more often than this is broken, not unlucky: the batch stops
MAX_SHARD_RETRIES = 4  # reruns of a shard whose actor died under it
LOCAL_OBJECT_STORE_MB = 100  # the private cluster's shared-memory store: results are small JSON-like values
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the workers need from the driver's environment (paths to data and caches; offline model loading).
FORWARDED_ENV_PREFIXES = ("EMPATHIC_", "HF_", "TRANSFORMERS_OFFLINE")


class _WorkerActor:
    """A Worker in a Ray actor process. Ray reruns __init__ when it restarts the actor after a crash."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.items = 0
        worker.setup()

    def info(self) -> tuple[int, str]:
        return os.getpid(), socket.gethostname()

    def run_shard(self, items: list[Any]) -> list[Any]:
        results = [self.worker(item) for item in items]
        self.items += len(items)
        return results

    def stats(self) -> WorkerStats:
        from batch.local import peak_rss_mb

        return WorkerStats(os.getpid(), socket.gethostname(), self.items, round(peak_rss_mb(), 1))

    def close(self) -> None:
        close = getattr(self.worker, "close", None)
        if close is not None:
            close()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.startswith(FORWARDED_ENV_PREFIXES)}
    env.setdefault("HF_HUB_OFFLINE", "1")
    # The driver's thread count, not Ray's default of one per requested CPU: the int8 speech-to-text gives a
    # different transcript now and then with another OpenMP thread count, and a worker must read every sample
    # exactly as the local engine would. (To trade that for speed, set OMP_NUM_THREADS=1 on the driver.)
    env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS") or str(_cores())
    # This checkout first, so workers on this machine run this code (elsewhere: the installed project).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _use_token_if_there() -> None:
    """`ray start` turns on token authentication when ~/.ray/auth_token exists; a driver connecting with
    ray.init(address=...) does not look for the token by itself, and retries the cluster's refusal for ever.
    This is the check `ray start` makes (Ray's own function; RAY_AUTH_MODE, when set, decides instead)."""
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:  # another Ray version: RAY_AUTH_MODE=token does the same
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _shards(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    shard: list[Any] = []
    for item in items:
        shard.append(item)
        if len(shard) >= size:
            yield shard
            shard = []
    if shard:
        yield shard


class RayEngine:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, shard_size: int = 1) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if shard_size < 1:
            raise ValueError(f"shard size must be >= 1, got {shard_size}")
        self.address = address
        self.workers = workers
        self.shard_size = shard_size
        self.pids: list[int] = []  # the actors' process ids once they are up (tests kill one of them)
        self._stats: list[WorkerStats] = []
        self._used_workers = workers

    def describe(self) -> str:
        where = self.address or "a private cluster on 127.0.0.1"
        return f"ray, {self._used_workers or '?'} workers, {where}"

    def worker_stats(self) -> list[WorkerStats]:
        return list(self._stats)

    def _connect(self):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray must not report anything to anyone
        if not self.address:
            # A private cluster stays on the loopback: without this Ray swaps 127.0.0.1 for the machine's own
            # network address (read once, when ray is first imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError:
            raise ValueError("--engine ray needs Ray: pip install 'empathic-agent[ray]' (ray==2.60.0)") from None
        if ray.is_initialized():
            return ray, False
        common = dict(runtime_env={"env_vars": worker_env()}, log_to_driver=False, logging_level=logging.WARNING)
        try:
            if self.address:
                _use_token_if_there()
                ray.init(address=self.address, **common)
            else:
                # address="local": a new cluster of our own, never one that a `ray start` left on this machine
                ray.init(address="local", num_cpus=self.workers or 2,
                         object_store_memory=LOCAL_OBJECT_STORE_MB * 1024 * 1024, include_dashboard=False,
                         _node_ip_address="127.0.0.1", **common)
        except ConnectionError as err:
            raise ValueError(f"--address {self.address}: cannot reach a Ray cluster there ({err})") from None
        return ray, True

    def map(self, worker: Worker, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        ray, started_here = self._connect()
        from ray.exceptions import RayActorError, RayTaskError

        actors: list = []
        try:
            count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            self._used_workers = count
            actor_class = ray.remote(num_cpus=1, max_restarts=MAX_WORKER_RESTARTS,
                                     max_task_retries=MAX_SHARD_RETRIES)(_WorkerActor)
            actors = [actor_class.remote(worker) for _ in range(count)]
            self.pids = [pid for pid, _ in ray.get([actor.info.remote() for actor in actors])]
            shards = _shards(items, self.shard_size)
            in_flight: dict = {}

            def submit(index: int) -> None:
                shard = next(shards, None)
                if shard is not None:
                    in_flight[actors[index].run_shard.remote(shard)] = (index, shard)

            for _ in range(IN_FLIGHT_PER_WORKER):
                for index in range(count):
                    submit(index)
            while in_flight:
                [ref], _ = ray.wait(list(in_flight), num_returns=1)
                index, shard = in_flight.pop(ref)
                try:
                    results = ray.get(ref)
                except RayTaskError as err:  # the Worker raised: its own error, as the local engine gives it
                    cause = getattr(err, "cause", None)
                    raise (cause if isinstance(cause, Exception) else RuntimeError(str(err).splitlines()[0])) \
                        from None
                except RayActorError as err:
                    raise RuntimeError(f"a Ray worker died more than {MAX_WORKER_RESTARTS} times; last on a shard "
                                       f"starting with {shard[0]!r} ({str(err).splitlines()[0]})") from None
                yield from zip(shard, results)
                submit(index)
            self._stats = ray.get([actor.stats.remote() for actor in actors])
        finally:
            for actor in actors:
                try:
                    ray.get(actor.close.remote(), timeout=30)
                except Exception:  # noqa: BLE001  (a dead actor has nothing left to close)
                    pass
                ray.kill(actor)
            if started_here:
                ray.shutdown()
