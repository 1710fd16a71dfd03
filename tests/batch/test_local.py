"""The local engine and the engine interface: every item once, in order, the worker set up once per process."""

from __future__ import annotations

import os

import pytest

from batch.engine import make_engine
from batch.local import LocalEngine
from batch.progress import count_lines
from batch.ray_engine import _shards


class Doubler:
    """A worker that says which process ran it and how often it was set up there."""

    def __init__(self) -> None:
        self.setups = 0
        self.closed = False

    def setup(self) -> None:
        self.setups += 1

    def __call__(self, item: int) -> tuple[int, int, int]:
        return item * 2, os.getpid(), self.setups

    def close(self) -> None:
        self.closed = True


def test_in_process_every_item_in_order_with_one_setup():
    worker = Doubler()
    engine = LocalEngine(jobs=1)
    results = list(engine.map(worker, iter(range(7))))
    assert [item for item, _ in results] == list(range(7))
    assert [r[0] for _, r in results] == [2 * i for i in range(7)]
    assert {r[2] for _, r in results} == {1} and worker.closed
    [stats] = engine.worker_stats()
    assert stats.pid == os.getpid() and stats.items == 7 and stats.peak_rss_mb > 10


def test_a_pool_of_processes_keeps_the_order_and_sets_up_once_each():
    results = list(LocalEngine(jobs=2).map(Doubler(), range(20)))
    assert [item for item, _ in results] == list(range(20)) and [r[0] for _, r in results] == list(range(0, 40, 2))
    assert os.getpid() not in {r[1] for _, r in results}
    assert {r[2] for _, r in results} == {1}  # each process set its copy up once, however many items it ran


def test_engines_by_name_and_their_errors():
    assert make_engine("local", jobs=3).describe() == "local, 3 processes"
    assert make_engine("ray", workers=2).describe().startswith("ray, 2 workers")
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        make_engine("spark")
    with pytest.raises(ValueError, match="--address needs --engine ray"):
        make_engine("local", address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="--jobs must be >= 1"):
        make_engine("local", jobs=0)
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        make_engine("ray", workers=0)


def test_shards_and_line_counts(tmp_path):
    assert list(_shards(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(_shards([], 3)) == []
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": 1}\n\n  \n{"id": 2}\n{"id": 3}')
    assert count_lines(path) == 3
