"""Incident-side tables.

Check state: the latest observed state of each (asset, check) with `since` and
the length of its current streak (hold-down counts consecutive bad polls).
"""

from piccolo.columns import DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from cmdb.tables import Asset


class CheckState(Table, tablename="inc_check_state"):
    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)
    key = Varchar(length=64)  # reachability | link:3 | power:source ... UNIQUE(asset, key) in migration
    state = Varchar(length=10)  # ok | warning | critical | unknown
    value = Varchar(length=200, null=True, default=None)
    message = Text(default="")
    since = Timestamptz()  # when the current state began
    last_observed_at = Timestamptz()
    source = Varchar(length=8, default="poll")  # poll | trap
    streak = Integer(default=1)  # consecutive observations in `state`


class CheckEvent(Table, tablename="inc_check_event"):
    """A state change of a check: the asset's own history, kept even when no incident opens."""

    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)
    key = Varchar(length=64)
    from_state = Varchar(length=10, null=True, default=None)
    to_state = Varchar(length=10)
    value = Varchar(length=200, null=True, default=None)
    message = Text(default="")
    at = Timestamptz(index=True)
    source = Varchar(length=8, default="poll")


class Sample(Table, tablename="inc_sample"):
    """Numeric history for graphs (voltage, minutes remaining, rx power); pruned by retention."""

    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade)
    key = Varchar(length=64)
    value = DoublePrecision()
    at = Timestamptz()  # INDEX(asset, key, at) in migration


class ProbeBatch(Table, tablename="inc_probe_batch"):
    """Batch ids already applied: a replayed batch is acknowledged, not applied twice."""

    batch_id = Varchar(length=64, unique=True, index=True)
    probe = Varchar(length=100, default="")
    observations = Integer(default=0)
    received_at = Timestamptz(default=TimestamptzNow())
