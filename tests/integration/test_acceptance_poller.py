"""Acceptance (issue 3, poller): a bound on SNMP requests in flight, and one
SnmpEngine / dispatcher per event loop. The "device" is a real UDP socket on
loopback that takes requests and never answers."""

from __future__ import annotations

import asyncio
import socket
import time

from probes.snmp import SnmpPoller, dispatcher_for_loop, engine_for_loop
from probes.wire import Target


async def _requests_seen_in_the_first_window(max_in_flight: int, devices: int = 4) -> tuple[int, list]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    port = sink.getsockname()[1]
    poller = SnmpPoller(timeout=1.0, retries=0, max_in_flight=max_in_flight)
    targets = [Target(asset_id=i, name=f"dev{i}", kind="switch", host="127.0.0.1", port=port, version="2c",
                      community=f"dev{i}") for i in range(devices)]
    polls = asyncio.gather(*(poller.get(t, ["1.3.6.1.2.1.1.3.0"]) for t in targets))
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_recv(sink, 2048)  # the first request
        first = time.monotonic()
        seen = 1
        # every request sent before the first one can time out (1 s) has arrived well within 0.3 s
        while True:
            left = 0.3 - (time.monotonic() - first)
            if left <= 0:
                break
            try:
                await asyncio.wait_for(loop.sock_recv(sink, 2048), left)
                seen += 1
            except asyncio.TimeoutError:
                break
        results = await polls
    finally:
        sink.close()
    return seen, results


async def test_requests_in_flight_are_bounded():
    seen, results = await _requests_seen_in_the_first_window(max_in_flight=2)
    assert seen == 2
    assert [r.status for r in results] == ["timeout"] * 4  # unanswered, reported, the loop goes on
    unbounded, _ = await _requests_seen_in_the_first_window(max_in_flight=64)
    assert unbounded == 4


async def test_one_snmp_engine_and_dispatcher_per_event_loop():
    assert engine_for_loop() is engine_for_loop()
    assert dispatcher_for_loop() is dispatcher_for_loop()
    engine, dispatcher = engine_for_loop(), dispatcher_for_loop()

    async def elsewhere():
        return engine_for_loop(), dispatcher_for_loop()

    other_engine, other_dispatcher = await asyncio.to_thread(asyncio.run, elsewhere())
    assert other_engine is not engine and other_dispatcher is not dispatcher
