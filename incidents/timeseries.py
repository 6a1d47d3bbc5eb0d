"""Samples that stay small: raw for a short window, then rolled up.

- raw samples (`inc_sample`) are kept for `raw_keep` (default 48 h);
- complete 5-minute buckets are folded into `inc_sample_rollup` (min, max,
  sum, count) and kept 30 days; complete hours are folded from the 5-minute
  buckets and kept a year;
- a bucket is rolled once, when it is complete and `LATE` has passed (a probe
  worker replaying its spool sends old samples late); the watermark of each
  resolution moves in the same transaction as its rows, so a crash mid-way
  neither loses nor doubles a bucket;
- pruning deletes in small batches, each its own short transaction, so
  writers (probe batches) never wait long behind it.

`maintain(now)` runs on the server's timer; `series()` picks the resolution
that fits the span asked for, so a graph of a year reads ~9,000 rows, not
millions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from database.transactions import atomic
from database.rawsql import Sql, as_time
from incidents.tables import RollupMark, Sample, SampleRollup

#: How long after a bucket ends before it is rolled (late spool replays).
LATE = dt.timedelta(hours=1)
#: Rows deleted per pruning statement.
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class Retention:
    raw_keep: dt.timedelta = dt.timedelta(hours=48)
    five_minute_keep: dt.timedelta = dt.timedelta(days=30)
    hourly_keep: dt.timedelta = dt.timedelta(days=365)


#: (resolution in seconds, the table it is folded from)
LEVELS = ((300, "inc_sample"), (3600, "inc_sample_rollup"))


def _floor(at: dt.datetime, seconds: int) -> dt.datetime:
    epoch = int(at.timestamp()) // seconds * seconds
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def _bucket_sql(q: Sql, column: str, seconds: int) -> str:
    if q.sqlite:
        # Stored as str(datetime) in UTC; the bucket is written back the same way.
        return (f"strftime('%Y-%m-%d %H:%M:%S', (CAST(strftime('%s', {column}) AS INTEGER) / {seconds}) * {seconds}, "
                f"'unixepoch') || '+00:00'")
    return f"to_timestamp(floor(extract(epoch FROM {column}) / {seconds}) * {seconds})"


async def _mark(seconds: int) -> dt.datetime | None:
    row = await RollupMark.select(RollupMark.upto).where(RollupMark.resolution_s == seconds).first()
    return as_time(row["upto"]) if row else None


async def _earliest(source: str, finer: int | None) -> dt.datetime | None:
    q = Sql()
    where = f" WHERE resolution_s = {q(finer)}" if finer else ""
    column = "bucket" if finer else "at"
    rows = await q.fetch(f"SELECT MIN({column}) AS first FROM {source}{where}")
    return as_time(rows[0]["first"]) if rows and rows[0]["first"] is not None else None


async def roll_up(now: dt.datetime) -> dict[int, int]:
    """Fold every complete bucket not yet rolled; returns buckets written per resolution."""
    written: dict[int, int] = {}
    finer: int | None = None
    for seconds, source in LEVELS:
        upto = _floor(now - LATE, seconds)
        start = await _mark(seconds) or await _earliest(source, finer)
        if start is None or start >= upto:
            written[seconds], finer = 0, seconds
            continue
        start = _floor(start, seconds)
        async with atomic():
            q = Sql()
            bucket = _bucket_sql(q, "at" if finer is None else "bucket", seconds)
            if finer is None:
                select = (f"SELECT asset, key, {q(seconds)}, {bucket}, MIN(value), MAX(value), SUM(value), COUNT(*) "
                          f"FROM inc_sample WHERE at >= {q(start)} AND at < {q(upto)} GROUP BY asset, key, {bucket}")
            else:
                select = (f"SELECT asset, key, {q(seconds)}, {bucket}, MIN(min_value), MAX(max_value), SUM(sum_value), "
                          f"SUM(samples) FROM inc_sample_rollup WHERE resolution_s = {q(finer)} "
                          f"AND bucket >= {q(start)} AND bucket < {q(upto)} GROUP BY asset, key, {bucket}")
            await q.fetch("INSERT INTO inc_sample_rollup (asset, key, resolution_s, bucket, min_value, max_value, "
                          f"sum_value, samples) {select}")
            q2 = Sql()
            count = await q2.fetch(f"SELECT COUNT(*) AS n FROM inc_sample_rollup WHERE resolution_s = {q2(seconds)} "
                                   f"AND bucket >= {q2(start)} AND bucket < {q2(upto)}")
            written[seconds] = int(count[0]["n"])
            if await RollupMark.exists().where(RollupMark.resolution_s == seconds):
                await RollupMark.update({RollupMark.upto: upto}).where(RollupMark.resolution_s == seconds)
            else:
                await RollupMark.insert(RollupMark(resolution_s=seconds, upto=upto))
        finer = seconds
    return written


async def _prune(table: str, column: str, before: dt.datetime, resolution: int | None = None) -> int:
    removed = 0
    while True:
        async with atomic():
            q = Sql()
            where = f"{column} < {q(before)}"  # placeholders are numbered in the order they are made
            if resolution:
                where += f" AND resolution_s = {q(resolution)}"
            rows = await q.fetch(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where} "
                                 f"LIMIT {PRUNE_BATCH}) RETURNING id")
        removed += len(rows)
        if len(rows) < PRUNE_BATCH:
            return removed


async def prune(now: dt.datetime, retention: Retention = Retention()) -> dict[str, int]:
    """Delete what is past its resolution's keep time, and raw samples already rolled up."""
    rolled = await _mark(300)
    raw_before = now - retention.raw_keep
    if rolled is not None:
        raw_before = min(raw_before, rolled)  # never drop a raw sample before its bucket is rolled
    else:
        raw_before = now - max(retention.raw_keep, retention.five_minute_keep)
    return {
        "raw": await _prune("inc_sample", "at", raw_before),
        "5m": await _prune("inc_sample_rollup", "bucket", now - retention.five_minute_keep, 300),
        "1h": await _prune("inc_sample_rollup", "bucket", now - retention.hourly_keep, 3600),
    }


async def maintain(now: dt.datetime, retention: Retention | None = None) -> dict:
    return {"rolled": await roll_up(now), "pruned": await prune(now, retention or _retention)}


def resolution_for(span: dt.timedelta, retention: Retention) -> int:
    """0 (raw) while the span fits in the raw window, else 5 minutes up to 30 days, else hourly."""
    if span <= retention.raw_keep:
        return 0
    if span <= retention.five_minute_keep:
        return 300
    return 3600


_retention = Retention()


def configure(retention: Retention) -> None:
    """Set by the server's timer from the settings; read by maintain() and series()."""
    global _retention
    _retention = retention


async def series(asset_id: int, since: dt.datetime, key: str | None, limit: int,
                 retention: Retention | None = None, now: dt.datetime | None = None) -> list[dict]:
    """Points since `since` at the resolution the span calls for.

    Raw points are `{"key", "value", "at"}`; rolled points add `min`, `max` and
    `resolution_s`, with `value` the bucket's mean and `at` its start.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    resolution = resolution_for(now - since, retention or _retention)
    if resolution == 0:
        query = Sample.select(Sample.key, Sample.value, Sample.at).where((Sample.asset == asset_id) & (Sample.at >= since))
        if key:
            query = query.where(Sample.key == key)
        rows = await query.order_by(Sample.at).limit(limit)
        return [{"key": r["key"], "value": r["value"], "at": r["at"]} for r in rows]
    query = SampleRollup.select().where(
        (SampleRollup.asset == asset_id) & (SampleRollup.resolution_s == resolution) & (SampleRollup.bucket >= since))
    if key:
        query = query.where(SampleRollup.key == key)
    rows = await query.order_by(SampleRollup.bucket).limit(limit)
    points = [{"key": r["key"], "value": r["sum_value"] / r["samples"], "min": r["min_value"], "max": r["max_value"],
               "at": r["bucket"], "resolution_s": resolution} for r in rows]
    # The newest hour or so is not rolled yet: raw points carry the graph up to now.
    rolled_upto = await _mark(300)
    if rolled_upto is not None and len(points) < limit:
        tail = Sample.select(Sample.key, Sample.value, Sample.at).where(
            (Sample.asset == asset_id) & (Sample.at >= max(rolled_upto, since)))
        if key:
            tail = tail.where(Sample.key == key)
        for r in await tail.order_by(Sample.at).limit(limit - len(points)):
            points.append({"key": r["key"], "value": r["value"], "at": r["at"]})
    return points
