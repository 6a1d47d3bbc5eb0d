"""Integration tables: the NetBox id map, unmatched alerts, quarantined mail
and mail attachments. References to other apps' rows are plain ids (or
foreign keys to incidents, which sit below this app)."""

from piccolo.columns import JSON, Bytea, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from incidents.tables import Incident


class NetboxLink(Table, tablename="int_netbox_link"):
    """One NetBox object -> the rackcard row made from it. One mapping table
    (not a column per CMDB table): the CMDB stays free of one source's ids.
    UNIQUE(kind, netbox_id) in the migration."""

    kind = Varchar(length=20)  # tenant | contact | site | rack | device | interface | cable | prefix | ip | power
    netbox_id = Integer()
    local_id = Integer(index=True)  # id in the rackcard table for that kind
    synced_at = Timestamptz(default=TimestamptzNow())


class UnmatchedAlert(Table, tablename="int_unmatched_alert"):
    """Alerts whose host matched no asset: counted per (source, host). UNIQUE(source, host) in the migration."""

    source = Varchar(length=16)  # alertmanager | librenms | zabbix
    host = Varchar(length=200)
    count = Integer(default=0)
    last_alert = Varchar(length=200, default="")
    labels = JSON(default="{}")  # the last alert's identifying labels
    first_seen = Timestamptz()
    last_seen = Timestamptz(index=True)


class QuarantinedMail(Table, tablename="int_quarantined_mail"):
    """Mail from a sender no contact has: kept for staff to accept (-> a contact,
    then processed) or drop; never an incident by itself."""

    message_id = Varchar(length=300, default="", index=True)
    sender = Varchar(length=254, index=True)
    subject = Varchar(length=300, default="")
    body = Text(default="")  # the new text (quoted history stripped), for the list
    raw = Bytea()  # the whole message, processed again when accepted
    received_at = Timestamptz(index=True)
    status = Varchar(length=10, default="pending", index=True)  # pending | accepted | dropped
    decided_by = Varchar(length=254, default="")
    decided_at = Timestamptz(null=True, default=None)
    incident_id = Integer(null=True, default=None)  # the incident it became, once accepted


class MailAttachment(Table, tablename="int_mail_attachment"):
    """A file that came with an incident's mail (within the size and type limits)."""

    incident = ForeignKey(references=Incident, on_delete=OnDelete.cascade, index=True)
    message_id = Varchar(length=300, default="")
    filename = Varchar(length=255, default="")
    content_type = Varchar(length=100, default="application/octet-stream")
    size = Integer(default=0)
    data = Bytea()
    received_at = Timestamptz()
