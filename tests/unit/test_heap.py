"""The garbage collector's settings for long-running processes (rackcard.heap)."""

from __future__ import annotations

import argparse
import asyncio
import gc

import pytest

from probes import commands as probe_commands
from rackcard import heap


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settling_freezes_what_exists_and_collects_the_young_less_often(restored_collector):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    heap.settle_garbage_collector()
    assert gc.get_threshold() == (heap.GC_YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 1000  # the modules and objects loaded so far


def test_the_standalone_probe_worker_settles_the_collector_before_it_polls(restored_collector, tmp_path, monkeypatch):
    events: list[str] = []

    async def run(self) -> None:
        events.append("worker runs")

    monkeypatch.setattr("probes.worker.Worker.run", run)
    monkeypatch.setattr(heap, "settle_garbage_collector", lambda: events.append("settled"))
    parser = argparse.ArgumentParser()
    probe_commands.register(parser.add_subparsers())
    args = parser.parse_args(["probe", "--server", "http://127.0.0.1:9", "--spool-dir", str(tmp_path / "spool"),
                              "--no-traps"])
    assert asyncio.run(probe_commands._run(args, "token")) == 0
    assert events == ["settled", "worker runs"]
