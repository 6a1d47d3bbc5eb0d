"""Incident-side tables.

Check state: the latest observed state of each (asset, check) with `since` and
the length of its current streak (hold-down counts consecutive bad polls).
"""

from piccolo.columns import JSON, Boolean, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
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


class SampleRollup(Table, tablename="inc_sample_rollup"):
    """Samples older than the raw window, folded into fixed buckets (5 minutes,
    then 1 hour): min, max, sum and count per asset, key and bucket, so a year
    of graphs costs a few hundred rows per check instead of half a million.
    UNIQUE(asset, key, resolution_s, bucket) in the migration."""

    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade)
    key = Varchar(length=64)
    resolution_s = Integer()  # 300 | 3600
    bucket = Timestamptz()  # start of the bucket
    min_value = DoublePrecision()
    max_value = DoublePrecision()
    sum_value = DoublePrecision()
    samples = Integer()  # how many raw samples the bucket holds


class RollupMark(Table, tablename="inc_rollup_mark"):
    """How far each resolution has been rolled up: samples before `upto` are
    already in its buckets (each bucket is written once, when it is complete)."""

    resolution_s = Integer(unique=True)
    upto = Timestamptz()


class ProbeBatch(Table, tablename="inc_probe_batch"):
    """Batch ids already applied: a replayed batch is acknowledged, not applied twice."""

    batch_id = Varchar(length=64, unique=True, index=True)
    probe = Varchar(length=100, default="")
    observations = Integer(default=0)
    received_at = Timestamptz(default=TimestamptzNow())


class ProbeSite(Table, tablename="inc_probe_site"):
    """When each probe worker last posted observations of each site: a worker that
    polled a site and went quiet (its token refused, its host down) is a `probe
    stale` incident. UNIQUE(probe, site_id) in migration."""

    probe = Varchar(length=100)
    site_id = Integer(index=True)
    last_at = Timestamptz()


# ---------------------------------------------------------------- incidents
# Below: the incident engine's own tables. Affected assets and clients are plain
# ids plus a snapshot of their names (no foreign keys): an incident's history
# stays true after the inventory changes or an asset is deleted.


class SlaPlan(Table, tablename="inc_sla_plan"):
    """Response and resolution minutes per priority; 24x7 or business hours in a time zone.
    Attached to clients through cmdb Client.sla_plan_id."""

    name = Varchar(length=100, unique=True)
    hours = Varchar(length=10, default="24x7")  # 24x7 | business
    timezone = Varchar(length=64, default="UTC")
    business_days = Varchar(length=20, default="1,2,3,4,5")  # ISO weekdays, Monday = 1
    business_start = Varchar(length=5, default="09:00")
    business_end = Varchar(length=5, default="18:00")
    response_p1 = Integer(default=15)
    response_p2 = Integer(default=30)
    response_p3 = Integer(default=120)
    response_p4 = Integer(default=480)
    resolution_p1 = Integer(default=240)
    resolution_p2 = Integer(default=480)
    resolution_p3 = Integer(default=1440)
    resolution_p4 = Integer(default=4320)
    created_at = Timestamptz(default=TimestamptzNow())


class MaintenanceWindow(Table, tablename="inc_maintenance_window"):
    """On an asset, a site or a client: problems inside it open no incident and notify no one."""

    asset_id = Integer(null=True, default=None, index=True)
    site_id = Integer(null=True, default=None, index=True)
    client_id = Integer(null=True, default=None, index=True)
    starts_at = Timestamptz()
    ends_at = Timestamptz(index=True)
    reason = Text(default="")
    created_by = Varchar(length=254, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Suppression(Table, tablename="inc_suppression"):
    """A problem recorded inside a maintenance window instead of opening an incident."""

    window = ForeignKey(references=MaintenanceWindow, on_delete=OnDelete.cascade, index=True)
    asset_id = Integer(index=True)
    check_key = Varchar(length=64)
    at = Timestamptz()


class Incident(Table, tablename="inc_incident"):
    # At most one open incident per fingerprint: a unique partial index (migration).
    fingerprint = Varchar(length=200, index=True)
    title = Varchar(length=300)
    description = Text(default="")
    category = Varchar(length=16, index=True)  # fiber | power | equipment | reboot | request | other
    priority = Varchar(length=2, default="P3")  # P1..P4
    status = Varchar(length=16, default="new", index=True)  # see incidents.workflow
    line = Varchar(length=8, default="L1")  # L1 | L2 | L3 | vendor
    line_since = Timestamptz()  # when the current line took it (OLA clock)
    ola_exceeded = Boolean(default=False)  # the current line's OLA ran out with nowhere automatic to go
    assignee = Varchar(length=254, null=True, default=None)
    source = Varchar(length=8, default="probe")  # probe | trap | phone | email | chat | portal
    opened_at = Timestamptz(index=True)
    acknowledged_at = Timestamptz(null=True, default=None)
    first_response_at = Timestamptz(null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    sla_plan_id = Integer(null=True, default=None)  # the most demanding affected client's plan
    response_due_at = Timestamptz(null=True, default=None)
    resolution_due_at = Timestamptz(null=True, default=None)
    response_breached = Boolean(default=False)
    resolution_breached = Boolean(default=False)
    flapping = Boolean(default=False)
    self_healed = Boolean(default=False)
    acted = Boolean(default=False)  # a person acknowledged, commented or moved it
    parent_id = Integer(null=True, default=None)
    # a UPS on battery: when it runs out (from its runtime samples) and the minutes the title shows
    battery_exhausted_at = Timestamptz(null=True, default=None)
    battery_minutes_left = Integer(null=True, default=None)
    created_by = Varchar(length=254, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class AffectedAsset(Table, tablename="inc_affected_asset"):
    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    asset_id = Integer(index=True)  # UNIQUE(incident, asset_id) in migration
    name = Varchar(length=200, default="")  # snapshot
    site_id = Integer(null=True, default=None, index=True)  # snapshot
    role = Varchar(length=10, default="impacted")  # root | impacted | at_risk (fed by a source in trouble)
    added_at = Timestamptz()


class IncidentCheck(Table, tablename="inc_incident_check"):
    """The root checks of an incident: recovery watches these."""

    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    asset_id = Integer()  # UNIQUE(incident, asset_id, key) in migration
    key = Varchar(length=64)


class AffectedClient(Table, tablename="inc_affected_client"):
    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    client_id = Integer(index=True)  # UNIQUE(incident, client_id) in migration
    name = Varchar(length=200, default="")  # snapshot
    added_at = Timestamptz()
    impact = Varchar(length=8, default="down")  # down | at_risk (only equipment at risk so far)


class TimelineEntry(Table, tablename="inc_timeline"):
    """The incident's record: append-only (the service layer never updates or deletes a row)."""

    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    at = Timestamptz()
    kind = Varchar(length=16)  # event | probe | comment | status | escalation | sla | priority | notification | assets
    visibility = Varchar(length=8, default="internal")  # internal | public
    author = Varchar(length=254, default="system")
    author_user_id = Integer(null=True, default=None)
    body = Text(default="")
    data = JSON(default="{}")  # e.g. {"from": "new", "to": "acknowledged"}


class WebhookEndpoint(Table, tablename="inc_webhook"):
    """A notification target: a signed JSON webhook, a Slack/Mattermost incoming
    webhook, or a Telegram bot chat. All share the outbox, retries and event filters."""

    name = Varchar(length=100, unique=True)
    url = Varchar(length=1000)  # telegram: the Bot API base URL (https://api.telegram.org)
    secret = Varchar(length=200)  # webhook: HMAC-SHA256 key; telegram: the bot token; admins only
    events = Varchar(length=200, default="")  # comma-separated; "" = every event
    active = Boolean(default=True)
    kind = Varchar(length=10, default="webhook")  # webhook | slack (also Mattermost) | telegram
    chat_id = Varchar(length=100, default="")  # telegram: the chat (or @channel) to post to
    language = Varchar(length=5, default="en")  # en | ru: chat messages
    created_at = Timestamptz(default=TimestamptzNow())


class MailMessage(Table, tablename="inc_mail_message"):
    """The Message-IDs of an incident's mail, incoming and outgoing: a reply is
    threaded by its In-Reply-To / References through this table, and outgoing
    mail names the thread's earlier messages so mail clients thread it too."""

    message_id = Varchar(length=300, unique=True, index=True)  # without the angle brackets
    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    direction = Varchar(length=3)  # in | out
    address = Varchar(length=254, default="")  # the sender (in) or the recipient (out)
    at = Timestamptz()


class Notification(Table, tablename="inc_notification"):
    """Outbox: one row per incident event, written in the incident's transaction,
    fanned out into deliveries after commit by incidents.notify."""

    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    event = Varchar(length=20)  # opened | escalated | breached | resolved | reopened | comment
    public = Boolean(default=False)  # also for the affected clients' contacts
    payload = JSON(default="{}")
    created_at = Timestamptz()
    expanded = Boolean(default=False, index=True)


class Delivery(Table, tablename="inc_delivery"):
    """One notification to one target, retried with backoff; its attempts are logged."""

    notification = ForeignKey(references=Notification, on_delete=OnDelete.cascade, index=True)
    channel = Varchar(length=8)  # webhook | email
    target = Varchar(length=1000)  # webhook id or e-mail address
    status = Varchar(length=10, default="pending", index=True)  # pending | delivered | failed
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    last_error = Text(default="")
    delivered_at = Timestamptz(null=True, default=None)


class DeliveryAttempt(Table, tablename="inc_delivery_attempt"):
    """The delivery log."""

    delivery = ForeignKey(references=Delivery, on_delete=OnDelete.cascade, index=True)
    at = Timestamptz()
    ok = Boolean(default=False)
    status_code = Integer(null=True, default=None)
    error = Text(default="")
    duration_ms = Integer(default=0)


def _link_client_sla_plan() -> None:
    """A client's `sla_plan_id` must name an SLA plan (422 naming the field).
    cmdb cannot import incidents, so the reference is declared from here; the
    tables module is loaded whenever an engine is bound (rackcard.db.all_tables)."""
    from cmdb.services import CLIENT

    field = CLIENT.by_name["sla_plan_id"]
    field.ref, field.ref_label = SlaPlan, "SLA plan"


_link_client_sla_plan()


class PowerJob(Table, tablename="inc_power_job"):
    """A remote power-cycle of one asset through its PDU outlet. The state lives here, so a
    restarted server or worker picks up where it was; a job never runs twice (no retries).
    At most one active (waiting/queued/running) job per asset and per outlet: partial unique
    indexes (migration)."""

    asset_id = Integer(index=True)
    asset_name = Varchar(length=200, default="")
    client_id = Integer(null=True, default=None, index=True)  # the asset's owner, for the per-client rate limit
    pdu_id = Integer()
    pdu_name = Varchar(length=200, default="")
    outlet_number = Integer()
    outlet_name = Varchar(length=100, default="")
    site_code = Varchar(length=50, default="")  # the PDU's site: the probe worker serving it runs the job
    incident_id = Integer(index=True)
    status = Varchar(length=10, default="queued", index=True)  # waiting | queued | running | done | failed
    after_job_id = Integer(null=True, default=None)  # waiting for this job to bring its device back ...
    after_s = Integer(default=0)  # ... and then this many seconds (media converter first, then the router)
    not_before = Timestamptz(null=True, default=None)  # queued, but not to be taken before
    step = Varchar(length=32, default="queued")  # the last step reported
    reason = Text(default="")
    requested_by = Varchar(length=254, default="")
    requested_from = Varchar(length=64, default="")
    created_at = Timestamptz(index=True)
    claimed_by = Varchar(length=100, default="")
    claimed_at = Timestamptz(null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    result = Text(default="")
