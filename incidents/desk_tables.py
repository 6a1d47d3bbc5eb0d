"""The support desk's own tables: per-incident KPI facts (a cache of
incidents.kpi.facts for incidents whose history no longer changes), the
knowledge base and canned replies."""

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from incidents.tables import Incident


class KpiFact(Table, tablename="inc_kpi_fact"):
    """incidents.kpi.Facts per incident (durations in whole seconds, which is
    what kpi.facts measures to): kept for resolved and closed incidents
    until a trigger marks them dirty (inc_kpi_dirty); rewritten on every report
    for open ones (they depend on now)."""

    incident = Integer(unique=True)  # inc_incident.id (no FK: rebuilt freely)
    stamp = Timestamptz()
    opened_at = Timestamptz(index=True)
    resolved_at = Timestamptz(null=True, default=None)
    category = Varchar(length=16)
    priority = Varchar(length=2)
    source = Varchar(length=8)
    status = Varchar(length=16)
    line = Varchar(length=8)
    plan_id = Integer(null=True, default=None)
    self_healed = Boolean(default=False)
    ttfr = Integer(null=True, default=None)  # seconds
    ttfr_bus = Integer(null=True, default=None)  # seconds
    tta = Integer(null=True, default=None)  # seconds
    tta_bus = Integer(null=True, default=None)  # seconds
    ttr = Integer(null=True, default=None)  # seconds
    ttr_bus = Integer(null=True, default=None)  # seconds
    aht = Integer(null=True, default=None)  # seconds
    aht_bus = Integer(null=True, default=None)  # seconds
    fcr = Boolean(null=True, default=None)
    resolutions = Integer(default=0)
    reopens = Integer(default=0)
    escalated_from = Varchar(length=32, default="")
    response_breached = Boolean(null=True, default=None)
    resolution_breached = Boolean(null=True, default=None)
    linked_to = Varchar(length=200, default="")  # a client call: the auto-opened incidents it is linked to
    first_call = Integer(null=True, default=None)  # seconds: detection -> the first linked call


class KpiDirty(Table, tablename="inc_kpi_dirty"):
    """Incidents whose kept KPI facts must be measured again: written by database
    triggers (migration) whenever a resolved or closed incident changes, is
    resolved, or is reopened — whoever writes it — and consumed by the report."""

    incident = Integer()


class KbArticle(Table, tablename="inc_kb_article"):
    """A knowledge-base article. Full-text search: an FTS5 table (SQLite) or a
    generated tsvector column (PostgreSQL), both made in the migration."""

    title = Varchar(length=300)
    body = Text(default="")  # Markdown, rendered without raw HTML
    categories = Varchar(length=200, default="")  # comma-separated incident categories
    asset_kinds = Varchar(length=200, default="")  # comma-separated cmdb asset kinds
    asset_models = Varchar(length=500, default="")  # comma-separated models (case-insensitive match)
    visibility = Varchar(length=8, default="internal")  # public | internal
    language = Varchar(length=8, default="en")  # en | ru
    created_by = Varchar(length=254, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class KbUse(Table, tablename="inc_kb_use"):
    """An article used on an incident ("used in N incidents"). UNIQUE(article, incident) in the migration."""

    article = ForeignKey(references=KbArticle, on_delete=OnDelete.cascade, index=True)
    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    used_by = Varchar(length=254, default="")
    at = Timestamptz(default=TimestamptzNow())


class CannedReply(Table, tablename="inc_canned_reply"):
    """A reply template with {placeholders}, per category (empty = any) and language."""

    name = Varchar(length=200)
    category = Varchar(length=16, default="")
    language = Varchar(length=8, default="en")
    body = Text()
    visibility = Varchar(length=8, default="public")  # the comment it becomes
    uses = Integer(default=0)
    created_by = Varchar(length=254, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
