"""A live server and a worker: changes reach the worker at once (targets long
poll), traps are applied at once and in order while polls time out, and the
server's poll-now, the worker and a remote `rackcard probe --once` read the
same asset identically with the same RACKCARD_PROFILES."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import _trap_scenario
from _probe_support import make_site, wait_until
from probes.simulator import SimAgent
from probes.worker import Worker, WorkerConfig

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "snmprec"


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = SimAgent(root=tmp_path_factory.mktemp("snmpsim"), host="127.0.4.9")
    shutil.copy(RECORDINGS / "apc-smartups.snmprec", agent.data_dir / "apc.snmprec")
    shutil.copy(RECORDINGS / "rfc1628-tenths.snmprec", agent.data_dir / "tenths.snmprec")
    shutil.copy(RECORDINGS / "planet-mc1610mr.snmprec", agent.data_dir / "chassis.snmprec")
    agent.start()
    yield agent
    agent.close()


async def _token(name="edge") -> str:
    from accounts.services import create_token

    return await create_token(probe=name)


async def test_a_new_asset_is_polled_within_5_s_of_its_creation(db, live_app, api, agent, tmp_path):
    from incidents.tables import CheckState

    site = await make_site()
    worker = Worker(WorkerConfig(server=live_app.url, token=await _token(), spool_dir=tmp_path / "spool", probe="edge",
                                 trap_host=None, refresh_s=60, flush_s=0.2, timeout_s=0.5))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.targets_loaded.wait(), 10)
        r = await api.post("/api/v1/assets", json={
            "name": "ups-new", "kind": "ups", "site_id": site.id, "mgmt_ip": agent.host, "snmp_port": agent.port,
            "snmp_version": "2c", "snmp_community": "apc"})
        assert r.status_code == 201, r.text
        asset_id = r.json()["id"]

        async def polled():
            return await CheckState.exists().where((CheckState.asset == asset_id) & (CheckState.key == "power:source"))

        await wait_until(polled, attempts=100, delay=0.05)  # 5 s, far below the 60 s target refresh
        # ... and an edit reaches it as fast: the profile chosen is shown
        r = await api.patch(f"/api/v1/assets/{asset_id}", json={"profile": "ups"})
        assert r.status_code == 200

        async def reprofiled():
            row = await CheckState.select().where((CheckState.asset == asset_id) & (CheckState.key == "profile")).first()
            return row and row["value"] == "ups"

        await wait_until(reprofiled, attempts=100, delay=0.05)

        # A new chassis: the worker reports what its agent says its ports are, by name.
        r = await api.post("/api/v1/assets", json={
            "name": "mc-new", "kind": "media_converter", "site_id": site.id, "mgmt_ip": agent.host,
            "snmp_port": agent.port, "snmp_version": "2c", "snmp_community": "chassis"})
        chassis_id = r.json()["id"]

        async def discovered():
            return await CheckState.select().where(
                (CheckState.asset == chassis_id) & (CheckState.key == "discovery")).first()

        row = await wait_until(discovered, attempts=100, delay=0.05)
        assert row["message"].startswith("18 interfaces: lo (1, other), eth0 (2, other), slot_1_tp (1001, copper), "
                                         "slot_1_fx (1002, fiber)"), row["message"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_poll_now_worker_and_remote_probe_read_the_same_with_one_profile_set(db, live_app, api, agent, tmp_path,
                                                                                   monkeypatch):
    """RACKCARD_PROFILES names a set where 'site_ups' reads input voltage x0.1: every poller uses it."""
    from probes import profiles as profile_module
    from probes.worker import poll_once

    extra = tmp_path / "profiles"
    extra.mkdir()
    data = {"site_ups": {**profile_module.PROFILE_DATA["ups"], "sys_object_ids": []}}
    data["site_ups"]["checks"] = [dict(c) for c in data["site_ups"]["checks"]]
    for check in data["site_ups"]["checks"]:
        if check["key"] == "power:input_voltage":
            check["params"] = {**check["params"], "scale": 0.1, "low_warning": 200}
    (extra / "site.json").write_text(json.dumps(data))
    monkeypatch.setenv("RACKCARD_PROFILES", str(extra))

    site = await make_site()
    r = await api.post("/api/v1/assets", json={
        "name": "ups-t", "kind": "ups", "site_id": site.id, "mgmt_ip": agent.host, "snmp_port": agent.port,
        "snmp_version": "2c", "snmp_community": "tenths", "profile": "site_ups"})
    assert r.status_code == 201, r.text  # a name known only through RACKCARD_PROFILES
    asset_id = r.json()["id"]

    def shape(observations):
        return {o["key"]: (o["state"], o["value"] if o["key"] != "reachability" else None,
                           o["message"] if o["key"] != "reachability" else None) for o in observations}

    r = await api.post(f"/api/v1/assets/{asset_id}/poll")
    by_server = shape(r.json()["observations"])
    assert by_server["power:input_voltage"][1] == "230.1" and by_server["profile"][1] == "site_ups"

    token = await _token("remote")
    worker = Worker(WorkerConfig(server=live_app.url, token=token, spool_dir=tmp_path / "w", trap_host=None))
    [target] = [t for t in await worker.client.targets() if t.asset_id == asset_id]
    by_worker = shape([o.to_dict() for o in await poll_once(target, None, worker.profiles)])
    await worker.client.aclose()

    # the remote worker is not given the set: it polls with the one the server serves
    env = {k: v for k, v in os.environ.items() if k != "RACKCARD_PROFILES"} | {"RACKCARD_PROBE_TOKEN": token}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rackcard.cli", "probe", "--server", live_app.url, "--once", str(asset_id), "--json",
        "--spool-dir", str(tmp_path / "once"), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    by_remote = shape(json.loads(out))
    assert by_server == by_worker == by_remote


async def test_traps_are_applied_at_once_and_in_order_while_polls_time_out(db, live_app, tmp_path):
    run = await _trap_scenario.run(live_app.url, await _token("bench"), tmp_path, traps=20)
    assert len(run.latencies_ms) == 20
    # every trap made exactly one state change, in the order sent
    assert run.events == ["critical", "ok"] * 10, run.events
    assert run.unanswered > 0  # the worker really was busy with silent agents meanwhile
