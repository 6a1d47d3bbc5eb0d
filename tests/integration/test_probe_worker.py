"""The worker end to end against a real HTTP server (uvicorn on loopback), a
real agent (snmpsim) and real traps (net-snmp's snmptrap)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil

import pytest

from _probe_support import LiveServer, make_asset, make_site, wait_until as _wait
from probes.client import ServerClient
from probes.simulator import SimAgent, free_udp_port, media_converter_rec
from probes.wire import Observation
from probes.worker import Outbox, Worker, WorkerConfig

pytestmark = pytest.mark.slow

DEVICE_IP = "127.0.3.1"  # the agent listens here, so traps sent from here come from "the device"
UPS_IP = "127.0.3.2"  # nothing listens here


@pytest.fixture
async def live(app):
    server = LiveServer(app)
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = SimAgent(root=tmp_path_factory.mktemp("snmpsim"), host=DEVICE_IP)
    agent.write("mc-trap", media_converter_rec("mc-trap"))
    agent.start()
    yield agent
    agent.close()


async def _probe_token(name="edge") -> str:
    from accounts.services import create_token

    return await create_token(probe=name)


async def test_server_down_for_five_batches_then_up_nothing_lost_in_order(db, live, tmp_path):
    from incidents.tables import CheckState, ProbeBatch, Sample

    site = await make_site()
    asset = await make_asset(site.id, "ups-spool", "ups", "127.0.0.1", 161)
    client = ServerClient(live.url, await _probe_token(), tmp_path / "spool", probe="edge")
    outbox = Outbox(client, flush_s=0.05, max_backoff_s=0.05)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    sent_order: list[str] = []

    def batch_of(n: int) -> list[Observation]:
        return [Observation(asset_id=asset.id, key="power:input_voltage", state="ok",
                            observed_at=(start + dt.timedelta(seconds=10 * n + k)).isoformat(),
                            value=str(200 + 2 * n + k), number=float(200 + 2 * n + k)) for k in range(2)]

    await live.start()
    outbox.add(batch_of(0))
    await outbox.flush()
    assert client.spooled() == [] and outbox.server_up

    await live.stop()
    for n in range(1, 6):
        outbox.add(batch_of(n))
        await outbox.flush()
        await asyncio.sleep(0.06)  # past the back-off: every flush really tries the server
        assert not outbox.server_up
    spooled = client.spooled()
    assert len(spooled) == 5
    sent_order = [p.name.split("-", 1)[1].removesuffix(".json") for p in spooled]

    # A batch the server applied but whose acknowledgement was lost is replayed too.
    shutil.copy(spooled[0], tmp_path / "replayed.json")

    await live.start()
    await asyncio.sleep(0.06)
    await outbox.flush()
    assert client.spooled() == []
    (tmp_path / "replayed.json").rename(tmp_path / "spool" / ("9" * 20 + "-" + sent_order[0] + ".json"))
    assert await client.drain() == 1

    values = [r["value"] for r in await Sample.select(Sample.value).where(Sample.asset == asset.id).order_by(Sample.at)]
    assert values == [float(v) for v in range(200, 212)]  # all 12, once each
    batches = await ProbeBatch.select(ProbeBatch.batch_id).order_by(ProbeBatch.id)
    assert len(batches) == 6
    assert [b["batch_id"] for b in batches][1:] == sent_order  # applied in the order they were spooled
    state = await CheckState.objects().where(CheckState.asset == asset.id).first()
    assert state.value == "211" and state.streak == 12
    await client.aclose()


async def _snmptrap(source: str, port: int, *varbinds: str, trap_oid: str = "1.3.6.1.6.3.1.1.5.3") -> None:
    exe = shutil.which("snmptrap")
    assert exe, "net-snmp's snmptrap is needed (Debian package snmp)"
    process = await asyncio.create_subprocess_exec(
        exe, "-v2c", "-c", "public", f"--clientaddr={source}", f"127.0.0.1:{port}", "", trap_oid, *varbinds,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    assert await process.wait() == 0


async def test_worker_polls_then_a_real_linkdown_trap_changes_the_check(db, live, agent, tmp_path):
    from incidents.tables import CheckEvent, CheckState

    site = await make_site()
    asset = await make_asset(site.id, "mc-trap", "media_converter", DEVICE_IP, agent.port, community="mc-trap",
                             interfaces=[(1, "copper", "slot_1_tp"), (2, "fiber", "slot_1_fx")], poll_interval_s=600)
    # A UPS whose agent does not answer: its polls fail, the loop goes on, its traps still count.
    ups = await make_asset(site.id, "ups-silent", "ups", UPS_IP, agent.port, community="ups-silent", poll_interval_s=600)
    await live.start()
    trap_port = free_udp_port()
    worker = Worker(WorkerConfig(
        server=live.url, token=await _probe_token(), spool_dir=tmp_path / "spool", probe="edge",
        trap_host="127.0.0.1", trap_port=trap_port, refresh_s=0.5, flush_s=0.05, timeout_s=0.3, retries=1,
    ))
    task = asyncio.create_task(worker.run())
    try:
        async def state_of(key):
            row = await CheckState.objects().where((CheckState.asset == asset.id) & (CheckState.key == key)).first()
            return row

        polled = await _wait(lambda: state_of("link:2"))
        assert polled.state == "ok" and polled.source == "poll"
        assert (await state_of("reachability")).state == "ok"

        await _snmptrap(DEVICE_IP, trap_port, "1.3.6.1.2.1.2.2.1.1.2", "i", "2")

        async def trapped():
            row = await state_of("link:2")
            return row if row.state == "critical" else None

        row = await _wait(trapped)
        assert row.source == "trap" and "linkDown" in row.message
        assert await CheckEvent.exists().where((CheckEvent.key == "link:2") & (CheckEvent.to_state == "critical"))

        # linkUp brings it back; an unknown sender and an unknown notification are counted, not applied.
        await _snmptrap(DEVICE_IP, trap_port, "1.3.6.1.2.1.2.2.1.1.2", "i", "2", trap_oid="1.3.6.1.6.3.1.1.5.4")
        await _wait(lambda: _is(state_of("link:2"), "ok"))
        await _snmptrap("127.0.3.99", trap_port, "1.3.6.1.2.1.2.2.1.1.2", "i", "2")
        await _snmptrap(DEVICE_IP, trap_port, trap_oid="1.3.6.1.4.1.99999.0.1")

        async def counted():
            c = worker.traps.counters
            return c["unknown_sender"] == 1 and c["unknown_trap"] == 1

        await _wait(counted)
        assert worker.traps.counters["applied"] == 2

        silent = await _wait(lambda: _ups_check(ups.id, "reachability"))
        assert silent.state == "critical" and "after 2 tries" in silent.message
        await _snmptrap(UPS_IP, trap_port, trap_oid="1.3.6.1.2.1.33.2.1")  # upsTrapOnBattery
        on_battery = await _wait(lambda: _ups_check(ups.id, "power:source"))
        assert (on_battery.state, on_battery.source) == ("critical", "trap")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _is(row_coro, state):
    row = await row_coro
    return row is not None and row.state == state


async def _ups_check(asset_id, key):
    from incidents.tables import CheckState

    return await CheckState.objects().where((CheckState.asset == asset_id) & (CheckState.key == key)).first()
