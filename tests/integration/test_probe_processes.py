"""The probe processes as `rackcard serve` and an engineer start them: the
embedded worker (a `rackcard probe` subprocess with a generated probe token)
and `rackcard probe --once ASSET`."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys

import pytest

from _probe_support import make_asset, make_site, start_agent, wait_until as _wait
from probes.simulator import free_udp_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = start_agent(tmp_path_factory, mcs=("mc1",), upses=("ups1",))
    yield agent
    agent.close()


async def test_embedded_worker_process_reports_to_the_server(db, app, settings, live_app, agent):
    from accounts.tables import ApiToken
    from incidents.embedded_probe import background
    from incidents.tables import CheckState

    site = await make_site()
    ups = await make_asset(site.id, "ups1", "ups", agent.host, agent.port, community="ups1")
    settings = dataclasses.replace(settings, port=live_app.port, trap_host="127.0.0.1", trap_port=free_udp_port())
    async with background(app.state, settings):
        async def polled():
            return await CheckState.exists().where((CheckState.asset == ups.id) & (CheckState.key == "power:source"))

        await _wait(polled, attempts=300)
        token = await ApiToken.objects().where(ApiToken.kind == "probe").first()
        assert token.name.startswith("probe embedded@") and not token.revoked

        first = app.state.probe_process
        first.kill()  # a crashed worker is started again

        async def restarted():
            current = app.state.probe_process
            return current is not first and current.returncode is None

        await _wait(restarted, attempts=100)
    assert app.state.probe_process.returncode is not None  # stopped with the app
    assert await ApiToken.count().where((ApiToken.kind == "probe") & (ApiToken.revoked == False)) == 0  # noqa: E712


async def test_probe_once_prints_what_it_saw(db, live_app, agent):
    from accounts.services import create_token

    site = await make_site()
    await make_asset(site.id, "mc1", "media_converter", agent.host, agent.port, community="mc1",
                     interfaces=[(1, "copper", "slot_1_tp"), (2, "fiber", "slot_1_fx")])
    env = dict(os.environ, RACKCARD_PROBE_TOKEN=await create_token(probe="phone"))

    async def run(*args):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rackcard.cli", "probe", "--server", live_app.url, "--timeout", "0.3", *args,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        return process.returncode, out.decode(), err.decode()

    code, out, err = await run("--once", "MC1")
    assert code == 0, err
    assert "link:2" in out and "OK" in out and "reachability" in out
    code, out, err = await run("--once", "no-such-asset")
    assert code == 2 and "no polled asset" in err
