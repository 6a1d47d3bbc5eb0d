"""Samples stay small (both engines): raw for a short window, then 5-minute and
hourly buckets with the right min/mean/max; pruning never drops a raw sample
before its bucket exists; graphs read the resolution that fits the span."""

from __future__ import annotations

import datetime as dt

import pytest

from incidents import timeseries
from incidents.tables import RollupMark, Sample, SampleRollup

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
RETENTION = timeseries.Retention(raw_keep=dt.timedelta(hours=48))


async def _ups() -> int:
    import incident_data as data

    return await data.asset(await data.site("remote"), "ups-r", kind="ups")


async def _write(asset: int, start: dt.datetime, minutes: int, value) -> None:
    """One sample a minute for `minutes` minutes; value(i) gives the i-th value."""
    rows = [Sample(asset=asset, key="power:input_voltage", value=float(value(i)), at=start + dt.timedelta(minutes=i))
            for i in range(minutes)]
    await Sample.insert(*rows)


async def test_complete_buckets_roll_up_with_min_mean_max_once(db):
    ups = await _ups()
    start = NOW - dt.timedelta(hours=3)  # 12:00 minus 3 h: bucket-aligned
    await _write(ups, start, 180, lambda i: 220 + (i % 5))  # each 5-minute bucket: 220..224
    written = await timeseries.roll_up(NOW)
    # Buckets complete and older than the LATE allowance (1 h): 2 hours of them.
    assert written[300] == 24
    assert written[3600] == 2
    five = await SampleRollup.select().where(SampleRollup.resolution_s == 300).order_by(SampleRollup.bucket)
    assert len(five) == 24
    assert {(r["min_value"], r["max_value"], r["samples"], r["sum_value"]) for r in five} == {(220.0, 224.0, 5, 1110.0)}
    assert five[0]["bucket"] == start
    hourly = await SampleRollup.select().where(SampleRollup.resolution_s == 3600).order_by(SampleRollup.bucket)
    assert [(r["bucket"], r["samples"], r["min_value"], r["max_value"]) for r in hourly] == [
        (start, 60, 220.0, 224.0), (start + dt.timedelta(hours=1), 60, 220.0, 224.0)]

    # Running again writes nothing twice; a later run picks up only new complete buckets.
    assert await timeseries.roll_up(NOW) == {300: 0, 3600: 0}
    assert await SampleRollup.count() == 26
    await timeseries.roll_up(NOW + dt.timedelta(minutes=30))
    assert await SampleRollup.count().where(SampleRollup.resolution_s == 300) == 30


async def test_prune_keeps_raw_samples_until_rolled_and_within_the_raw_window(db):
    ups = await _ups()
    old = NOW - dt.timedelta(days=3)
    await _write(ups, old, 60, lambda i: 230)
    await _write(ups, NOW - dt.timedelta(hours=2), 60, lambda i: 231)

    # Nothing rolled yet: the old raw samples stay (they are the only copy).
    pruned = await timeseries.prune(NOW, RETENTION)
    assert pruned["raw"] == 0 and await Sample.count() == 120

    await timeseries.roll_up(NOW)
    pruned = await timeseries.prune(NOW, RETENTION)
    assert pruned["raw"] == 60
    assert await Sample.count().where(Sample.at < NOW - dt.timedelta(hours=48)) == 0
    assert await Sample.count() == 60
    old_buckets = await SampleRollup.count().where(
        (SampleRollup.resolution_s == 300) & (SampleRollup.bucket < NOW - dt.timedelta(days=2)))
    assert old_buckets == 12  # the pruned hour lives on as twelve 5-minute buckets


async def test_rollups_past_their_keep_time_are_pruned_in_batches(db, monkeypatch):
    ups = await _ups()
    monkeypatch.setattr(timeseries, "PRUNE_BATCH", 7)
    rows = [SampleRollup(asset=ups, key="power:input_voltage", resolution_s=300,
                         bucket=NOW - dt.timedelta(days=31, minutes=5 * i), min_value=1, max_value=1, sum_value=1,
                         samples=1) for i in range(20)]
    await SampleRollup.insert(*rows)
    await SampleRollup.insert(SampleRollup(asset=ups, key="power:input_voltage", resolution_s=300,
                                           bucket=NOW - dt.timedelta(days=29), min_value=1, max_value=1,
                                           sum_value=1, samples=1))
    pruned = await timeseries.prune(NOW, RETENTION)
    assert pruned["5m"] == 20
    assert await SampleRollup.count() == 1


@pytest.mark.parametrize("span_hours, resolution", [(24, None), (24 * 7, 300), (24 * 90, 3600)])
async def test_series_reads_the_resolution_that_fits_the_span(db, span_hours, resolution):
    ups = await _ups()
    start = NOW - dt.timedelta(days=100)
    # Hourly history far back, 5-minute history for the last week, raw for the last 3 hours.
    await SampleRollup.insert(*[
        SampleRollup(asset=ups, key="power:input_voltage", resolution_s=3600, bucket=start + dt.timedelta(hours=h),
                     min_value=200, max_value=240, sum_value=660, samples=3) for h in range(0, 100 * 24, 24)])
    await SampleRollup.insert(*[
        SampleRollup(asset=ups, key="power:input_voltage", resolution_s=300,
                     bucket=NOW - dt.timedelta(days=7) + dt.timedelta(minutes=5 * i),
                     min_value=210, max_value=230, sum_value=440, samples=2) for i in range(0, 7 * 288, 12)])
    await RollupMark.insert(RollupMark(resolution_s=300, upto=NOW - dt.timedelta(hours=1)))
    await _write(ups, NOW - dt.timedelta(hours=3), 180, lambda i: 229)

    points = await timeseries.series(ups, NOW - dt.timedelta(hours=span_hours), "power:input_voltage", 5000,
                                     RETENTION, now=NOW)
    rolled = [p for p in points if "resolution_s" in p]
    raw = [p for p in points if "resolution_s" not in p]
    if resolution is None:
        assert not rolled and len(raw) == 180
    else:
        assert rolled and {p["resolution_s"] for p in rolled} == {resolution}
        assert rolled[0]["value"] == (220.0 if resolution == 3600 else 220.0)
        # The not-yet-rolled last hour is carried by raw points.
        assert raw and all(p["at"] >= NOW - dt.timedelta(hours=1) for p in raw)
    times = [p["at"] for p in points]
    assert times == sorted(times)
