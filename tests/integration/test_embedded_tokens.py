"""Embedded probe tokens (issue 9): each server's worker owns a token named after
it, so two servers on one database never revoke each other's; a server's own
earlier token is replaced; embedded tokens of servers gone for a day expire."""

from __future__ import annotations

import dataclasses
import datetime as dt

from accounts.tables import ApiToken
from incidents.embedded_probe import _fresh_token, _token_name
from incidents.tables import ProbeBatch


async def _valid(name: str) -> int:
    return await ApiToken.count().where((ApiToken.name == name) & (ApiToken.revoked == False))  # noqa: E712


async def test_two_servers_keep_their_own_tokens_and_stale_ones_expire(db, settings):
    a = dataclasses.replace(settings, port=18041)
    b = dataclasses.replace(settings, port=18042)
    await _fresh_token(a)
    await _fresh_token(b)
    assert await _valid(_token_name(a)) == 1 and await _valid(_token_name(b)) == 1  # side by side
    await _fresh_token(a)  # server a restarts: its earlier token goes, b's stays
    assert await _valid(_token_name(a)) == 1 and await _valid(_token_name(b)) == 1
    assert await ApiToken.count().where(ApiToken.name == _token_name(a)) == 2

    # two servers gone: one posted an hour ago, one not for two days
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    for name in ("probe embedded@gone:8000", "probe embedded@quiet:8000"):
        await ApiToken(name=name, kind="probe", token_hash=name, prefix="rc_x", created_at=old).save()
    await ProbeBatch(batch_id="b1", probe="probe embedded@quiet:8000", observations=1,
                     received_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).save()
    await _fresh_token(b)
    assert await _valid("probe embedded@gone:8000") == 0  # expired
    assert await _valid("probe embedded@quiet:8000") == 1  # still posting: kept
    assert await _valid(_token_name(a)) == 1  # the other live server's: untouched
