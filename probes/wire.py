"""The wire format shared by probe workers and the server: targets (what to
poll) and observation batches (what was seen). Plain dataclasses that turn into
JSON and back; the only module of probes/ the server side imports.

Times travel as ISO 8601 strings in UTC.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field, fields

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
STATES = (OK, WARNING, CRITICAL, UNKNOWN)
SOURCES = ("poll", "trap")

#: Sent by a worker: its id (workers of one token share targets by lease, held apart by it).
WORKER_HEADER = "X-Probe-Worker"
#: Sent by the server with the targets: seconds the worker's lease on them runs unless renewed.
LEASE_HEADER = "X-Probe-Lease-Seconds"
#: What a worker id may hold.
WORKER_ID_CHARS = r"A-Za-z0-9._@:/+-"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_time(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = value.strip().replace("Z", "+00:00")
        if len(text) > 6 and text[-6] == " " and text[-3] == ":":
            text = text[:-6] + "+" + text[-5:]  # "+00:00" that arrived unescaped in a query string
        moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class TargetInterface:
    if_index: int
    role: str  # fiber | copper | uplink | client | other
    name: str = ""  # the engineer's label (often the ifName)
    if_name: str = ""  # ifName stored at discovery: verified against the device on polls
    if_descr: str = ""  # ifDescr stored at discovery (agents without ifXTable)
    client: str = ""  # the client this port serves: named in messages; a client port always gets a link check

    @property
    def label(self) -> str:
        """How messages name the port: "slot_1_fx (Romashka LLC)"."""
        base = self.name or self.if_name or self.if_descr or f"port {self.if_index}"
        return f"{base} ({self.client})" if self.client else base


@dataclass(frozen=True)
class Target:
    """One asset to poll, with its SNMP settings (secrets included: probe tokens only)."""

    asset_id: int
    name: str
    kind: str
    host: str
    port: int = 161
    version: str = "2c"  # 2c | 3
    community: str | None = None
    v3_user: str | None = None
    v3_auth_protocol: str | None = None  # MD5 | SHA | SHA224 | SHA256 | SHA384 | SHA512
    v3_auth_key: str | None = None
    v3_priv_protocol: str | None = None  # DES | AES | AES192 | AES256
    v3_priv_key: str | None = None
    v3_context: str = ""
    interval_s: int = 60
    profile: str | None = None  # None: the default profile of `kind`
    site_code: str | None = None
    interfaces: tuple[TargetInterface, ...] = ()
    #: check key -> parameters overriding the profile's (a DC-fed inverter's state map, voltage ×0.1 ...)
    overrides: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Target":
        data = _known(cls, data)
        data["interfaces"] = tuple(TargetInterface(**_known(TargetInterface, i)) for i in data.get("interfaces") or ())
        data["overrides"] = dict(data.get("overrides") or {})
        return cls(**data)


@dataclass(frozen=True)
class Observation:
    """One result of one check: what a poll or a trap saw."""

    asset_id: int
    key: str  # reachability | link:<ifIndex> | power:source | power:battery | uptime | ...
    state: str  # ok | warning | critical | unknown
    observed_at: str  # ISO 8601, UTC
    source: str = "poll"  # poll | trap
    value: str | None = None
    message: str = ""
    number: float | None = None  # numeric value kept as a sample (voltage, minutes, dBm, uptime ticks)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Observation":
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class ObservationBatch:
    """Observations posted together. `batch_id` makes a replay harmless."""

    batch_id: str
    probe: str = ""
    observations: tuple[Observation, ...] = ()
    sent_at: str = field(default_factory=lambda: utcnow().isoformat())
    stats: dict = field(default_factory=dict)  # worker counters (traps from unknown senders ...)

    @classmethod
    def new(cls, observations, probe: str = "", stats: dict | None = None) -> "ObservationBatch":
        return cls(batch_id=uuid.uuid4().hex, probe=probe, observations=tuple(observations), stats=dict(stats or {}))

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "probe": self.probe,
            "sent_at": self.sent_at,
            "stats": self.stats,
            "observations": [o.to_dict() for o in self.observations],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ObservationBatch":
        return cls(
            batch_id=str(data["batch_id"]),
            probe=str(data.get("probe") or ""),
            sent_at=str(data.get("sent_at") or utcnow().isoformat()),
            stats=dict(data.get("stats") or {}),
            observations=tuple(Observation.from_dict(o) for o in data.get("observations") or ()),
        )
