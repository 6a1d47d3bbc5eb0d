"""Connection shares between real processes, and the app that `serve --workers N` runs (rackcard.spread)."""

from __future__ import annotations

import multiprocessing
import time

from rackcard import spread


def _claim(path, connections, ready, done):
    shares = spread.Shares(path)
    shares.publish(connections)
    ready.put(shares.slot)
    done.wait(30)


def test_each_process_holds_its_own_slot_and_a_dead_ones_slot_goes_stale(tmp_path, monkeypatch):
    path = tmp_path / "web-connections"
    context = multiprocessing.get_context("spawn")
    ready, done = context.Queue(), context.Event()
    processes = [context.Process(target=_claim, args=(path, n, ready, done)) for n in (7, 9)]
    for process in processes:
        process.start()
    try:
        slots = sorted(ready.get(timeout=30) for _ in processes)
        assert slots == [0, 1]
        ours = spread.Shares(path)  # a third process (this one) takes the next slot
        assert ours.slot == 2
        ours.publish(3)
        assert sorted(ours.counts().values()) == [3, 7, 9]
    finally:
        done.set()
        for process in processes:
            process.join(30)
    later = time.monotonic() + spread.STALE_S + 1
    monkeypatch.setattr(spread.time, "monotonic", lambda: later)
    assert ours.counts() == {}  # nobody published lately
    monkeypatch.undo()
    # A process started after the first two ended takes the first free slot: theirs.
    ready, done = context.Queue(), context.Event()
    restarted = context.Process(target=_claim, args=(path, 5, ready, done))
    restarted.start()
    try:
        assert ready.get(timeout=30) == 0
    finally:
        done.set()
        restarted.join(30)
        ours.close()


def test_a_process_that_cannot_share_its_count_serves_unspread(tmp_path, monkeypatch):
    from litestar import Litestar

    from rackcard import app as app_module

    def refuse(path):
        raise OSError(37, "No locks available")

    monkeypatch.setenv("RACKCARD_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RACKCARD_SECRET_KEY", "w" * 40)
    monkeypatch.setattr(app_module, "Shares", refuse)
    assert isinstance(app_module.worker_app(), Litestar)
    monkeypatch.undo()
    monkeypatch.setenv("RACKCARD_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RACKCARD_SECRET_KEY", "w" * 40)
    spread_app = app_module.worker_app()
    assert isinstance(spread_app, spread.SpreadKeepAlive)
    spread_app.shares.close()
