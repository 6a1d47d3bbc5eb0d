"""Probe workers scaled under one name on one volume (`docker compose up
--scale probe=N`): each takes its own spool slot and its own worker id, so they
share the targets by lease instead of both polling everything and writing one
spool; a killed worker's slot is free again, and batches a worker left behind
are taken over by the next one to start."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from _probe_support import make_asset, make_site
from e2e._processes import free_port, stop_all, until
from probes.client import SpoolSlot

pytestmark = pytest.mark.slow


def _batch(folder, seq: int, name: str) -> None:
    (folder / f"{seq:020d}-{name}.json").write_text(json.dumps({"batch_id": name, "observations": []}))


def test_a_second_worker_takes_the_next_slot_and_a_freed_slot_is_taken_back(tmp_path):
    base = tmp_path / "probe-spool" / "dc1"
    first = SpoolSlot.claim(base)
    second = SpoolSlot.claim(base)
    assert (first.path, first.number) == (base, 1)
    assert (second.path, second.number) == (base.with_name("dc1.2"), 2)
    first.release()
    again = SpoolSlot.claim(base)
    assert again.path == base
    again.release()
    second.release()


def test_a_killed_worker_frees_its_slot(tmp_path):
    """The lock is the process's: kill -9 leaves no stale lock file behind to clear."""
    base = tmp_path / "dc1"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from probes.client import SpoolSlot
        slot = SpoolSlot.claim({str(base)!r})
        print(slot.number, flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "1"
        taken = SpoolSlot.claim(base)
        assert taken.number == 2
        taken.release()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        freed = SpoolSlot.claim(base)
        assert freed.number == 1
        freed.release()
    finally:
        holder.kill()


def test_batches_left_in_a_free_slot_are_taken_over_in_time_order(tmp_path):
    base = tmp_path / "dc1"
    running = SpoolSlot.claim(base)  # a live worker's slot: its batches stay its own
    _batch(base, 5, "mine")
    left = base.with_name("dc1.3")  # a scaled-down replica's slot
    left.mkdir()
    _batch(left, 2, "old-a")
    _batch(left, 7, "old-b")
    (left / "worker.status").write_text("{}")  # not a batch
    other = base.with_name("dc10")  # another worker's name, not a slot of dc1
    other.mkdir()
    _batch(other, 1, "someone-else")

    starting = SpoolSlot.claim(base)
    assert starting.number == 2
    assert sorted(p.name for p in starting.path.glob("*.json")) == [
        f"{2:020d}-old-a.json", f"{7:020d}-old-b.json"]
    assert not list(left.glob("*.json")) and (left / "worker.status").exists()
    assert [p.name for p in base.glob("*.json")] == [f"{5:020d}-mine.json"]
    assert [p.name for p in other.glob("*.json")] == [f"{1:020d}-someone-else.json"]
    starting.release()
    running.release()


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, probe_lease_s=6, min_poll_interval_s=5)


async def test_two_workers_with_one_name_and_one_volume_split_the_targets(db, app, live_app, tmp_path):
    """What `--scale probe=2` starts: the same command, the same RACKCARD_VAR_DIR."""
    from accounts.services import create_token
    from incidents import leases

    site = await make_site("dc1")
    silent = free_port()  # nothing answers there: the polls time out, the leases are what is looked at
    for i in range(10):
        await make_asset(site.id, f"mc{i}", "media_converter", "127.0.0.1", silent, poll_interval_s=5)
    token = await create_token(probe="dc1")
    env = dict(os.environ, RACKCARD_PROBE_TOKEN=token, RACKCARD_VAR_DIR=str(tmp_path / "var"),
               RACKCARD_PROBE_NAME="dc1", RACKCARD_LOG_LEVEL="INFO")
    log = open(tmp_path / "workers.log", "ab")
    workers = [subprocess.Popen([sys.executable, "-m", "rackcard.cli", "probe", "--server", live_app.url,
                                 "--no-traps", "--timeout", "0.2", "--retries", "0"],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)
               for _ in range(2)]
    try:
        async def split():
            held = await leases.holders()
            return len(held) == 2 and sorted(held.values()) == [5, 5] and held

        held = await until(split, 60, f"the two workers did not split the targets: {await leases.holders()}")
        assert sorted(h.rsplit("@", 1)[0].rsplit("/", 1)[-1] for h in held) == ["dc1", "dc1"]
        assert len({h.rsplit("@", 1)[1] for h in held}) == 2, held  # NAME@HOST and NAME@HOST.2
        spool = tmp_path / "var" / "probe-spool"
        assert sorted(p.name for p in spool.iterdir()) == ["dc1", "dc1.2"]
    finally:
        stop_all(workers, timeout=15)
        log.close()
    assert all(w.returncode == 0 for w in workers), (tmp_path / "workers.log").read_text()
    # the workers are gone: their slots are free for the next start
    assert SpoolSlot.claim(tmp_path / "var" / "probe-spool" / "dc1").number == 1
