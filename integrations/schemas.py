"""Response types of the integrations API (alert ingest, mail quarantine,
attachments), for the OpenAPI document.

No `from __future__ import annotations`: on Python 3.11 it hides NotRequired
from TypedDict."""

import datetime as dt
from typing import Any, NotRequired, Optional, TypedDict

from cmdb.schemas import ContactRow


class IngestResult(TypedDict):
    alerts: int  # in the webhook
    matched: int  # alerts whose host is an asset: observations
    applied: int
    duplicate: bool  # the same webhook again: acknowledged, not applied twice
    unmatched: list[str]  # hosts no asset matches


class UnmatchedHost(TypedDict):
    source: str  # alertmanager | librenms | zabbix
    host: str
    count: int
    last_alert: str
    labels: dict[str, Any]  # the last alert's identifying labels
    first_seen: dt.datetime
    last_seen: dt.datetime


class UnmatchedList(TypedDict):
    hosts: int
    alerts: int
    results: list[UnmatchedHost]


class QuarantinedOut(TypedDict):
    id: int
    message_id: str
    sender: str
    subject: str
    body: str
    received_at: dt.datetime
    status: str  # pending | accepted | dropped
    decided_by: str
    decided_at: Optional[dt.datetime]
    incident_id: Optional[int]  # the incident it became, once accepted


class QuarantineList(TypedDict):
    count: int
    results: list[QuarantinedOut]


class Dropped(TypedDict):
    id: int
    status: str  # dropped


class AttachmentOut(TypedDict):
    id: int
    filename: str
    content_type: str
    size: int  # bytes
    message_id: str
    received_at: dt.datetime


class ProcessedMail(TypedDict):
    """What became of one mail: opened, appended, duplicate, ignored (or quarantined)."""

    quarantine_id: int
    outcome: str
    incident_id: NotRequired[int]
    attachments: NotRequired[int]  # files kept
    refused: NotRequired[list[str]]  # files not kept, and why
    note: NotRequired[Optional[str]]
    reason: NotRequired[str]  # why it was ignored
    message_id: NotRequired[str]  # a duplicate's


class Accepted(TypedDict):
    contact: ContactRow  # type: ignore[valid-type]
    processed: list[ProcessedMail]
