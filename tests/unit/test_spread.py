"""Keep-alive connections spread over the processes of `serve --workers N` (rackcard.spread)."""

from __future__ import annotations

import asyncio

from rackcard import spread


class _OtherProcesses:
    """Shares as one process sees them: its own published count and the others' fixed ones."""

    def __init__(self, others: list[int]):
        self.path = "shares"
        self.others = others
        self.mine = 0

    def publish(self, connections: int) -> None:
        self.mine = connections

    def counts(self) -> dict[int, int]:
        return {0: self.mine, **{i + 1: n for i, n in enumerate(self.others)}}


async def _answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _request(app, client: tuple[str, int]) -> dict:
    sent = []

    async def send(message):
        sent.append(message)

    await app({"type": "http", "client": client, "path": "/"}, None, send)
    return dict(sent[0]["headers"])


def test_surplus_evens_the_shares_and_leaves_an_odd_one_alone():
    assert spread.surplus(20, [20, 12]) == 4
    assert spread.surplus(12, [20, 12]) == 0
    assert spread.surplus(17, [17, 15]) == 1
    assert spread.surplus(17, [17, 16]) == 0  # 33 can't split evenly
    assert spread.surplus(9, [9]) == 0  # one process: nothing to spread
    assert spread.surplus(10, [10, 2, 3]) == 5


def test_a_process_with_more_than_its_share_closes_the_surplus_and_no_more(monkeypatch):
    async def scenario():
        shares = _OtherProcesses(others=[2])
        app = spread.SpreadKeepAlive(_answer, shares)
        clients = [("127.0.0.1", 40000 + i) for i in range(10)]
        for client in clients:  # ten connections ask once; the comparison is not due yet
            app._next = float("inf")
            assert b"connection" not in await _request(app, client)
        app._next = 0.0  # the next request compares: 10 here against 2 there, so 4 go
        closed = [c for c in clients if (await _request(app, c)).get(b"connection") == b"close"]
        assert len(closed) == 4
        assert shares.mine == 10
        shares.others = [6]  # the four reconnected, to the other process
        for client in clients:  # the rest stay open, also at the next comparisons
            if client not in closed:
                app._next = 0.0
                assert b"connection" not in await _request(app, client)
        assert shares.mine == 6

    asyncio.run(scenario())


def test_a_websocket_or_lifespan_passes_untouched():
    async def scenario():
        seen = []

        async def app(scope, receive, send):
            seen.append(scope["type"])

        wrapped = spread.SpreadKeepAlive(app, _OtherProcesses(others=[0]))
        await wrapped({"type": "lifespan"}, None, None)
        await wrapped({"type": "websocket", "client": ("127.0.0.1", 1)}, None, None)
        assert seen == ["lifespan", "websocket"]

    asyncio.run(scenario())
