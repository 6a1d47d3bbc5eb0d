"""Who may power-cycle what, and when (pure: no I/O).

An asset may be power-cycled when exactly one known PDU outlet feeds it and that
outlet feeds nothing of another client; a client's own users only for their own
assets and only when their contract allows self-service; never twice within the
cool-down, never more than a client's hourly allowance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Feed:
    """One power dependency of the asset: the PDU and the outlet (None = not recorded)."""

    pdu_id: int
    pdu_name: str
    outlet_number: int | None
    outlet_name: str = ""
    pdu_polled: bool = True  # the PDU has a management IP and SNMP settings
    pdu_controllable: bool = True  # its profile (when set) says how to switch outlets
    pdu_writable: bool = True  # it has write credentials (a v2c write community or a v3 write user)


@dataclass(frozen=True)
class Sharer:
    """Another asset on the same outlet."""

    asset_id: int
    name: str
    client_id: int | None
    client_name: str = ""


@dataclass(frozen=True)
class Refusal:
    kind: str  # forbidden | conflict | too_many
    message: str
    field: str
    retry_after: int = 0


def refuse_viewer(is_staff: bool, viewer_client_id: int | None, asset_client_id: int | None,
                  self_service: bool) -> Refusal | None:
    if is_staff:
        return None
    if viewer_client_id is None or viewer_client_id != asset_client_id:
        return Refusal("not_found", "no such asset", "id")
    if not self_service:
        return Refusal("forbidden", "your contract does not include self-service power-cycles; "
                                    "file a reboot request instead", "id")
    return None


def the_outlet(feeds: list[Feed]) -> Feed | Refusal:
    """The one outlet feeding the asset, or why there is none to switch."""
    if not feeds:
        return Refusal("conflict", "no power dependency is recorded for this asset: no outlet to switch", "id")
    if len(feeds) > 1:
        names = ", ".join(f"{f.pdu_name} outlet {f.outlet_number or '?'}" for f in feeds)
        return Refusal("conflict", f"fed by {len(feeds)} power sources ({names}): switching one outlet "
                                   "would not power-cycle it", "id")
    feed = feeds[0]
    if feed.outlet_number is None:
        return Refusal("conflict", f"the outlet of {feed.pdu_name} feeding this asset is not recorded", "id")
    if not feed.pdu_polled:
        return Refusal("conflict", f"PDU {feed.pdu_name} has no management IP or SNMP settings", "id")
    if not feed.pdu_writable:
        return Refusal("conflict", f"PDU {feed.pdu_name} has no SNMP write credentials (snmp_write_community, or "
                                   "snmp_v3_write_user for v3)", "id")
    if not feed.pdu_controllable:
        return Refusal("conflict", f"the probe profile of PDU {feed.pdu_name} does not say how to switch outlets",
                       "id")
    return feed


def foreign_sharers(asset_client_id: int | None, sharers: list[Sharer], for_client: bool = False) -> Refusal | None:
    """Refuse when the outlet also feeds equipment of another client (or ours under a client's asset).
    Staff are told what shares it by name; a client user how many devices, never another client's names."""
    foreign = [s for s in sharers if s.client_id != asset_client_id]
    if not foreign:
        return None
    if for_client:
        return Refusal("conflict", f"this outlet also feeds {len(foreign)} device(s) that are not yours: "
                                   "ask us to power-cycle it", "id")
    names = ", ".join(s.name + (f" ({s.client_name})" if s.client_name else "") for s in foreign)
    return Refusal("conflict", f"this outlet also feeds {names}: power-cycle those by hand", "id")


def cooldown_left(last_request_at: dt.datetime | None, now: dt.datetime, cooldown_s: int) -> int:
    """Seconds until the asset may be power-cycled again (0 = now)."""
    if last_request_at is None:
        return 0
    left = (last_request_at + dt.timedelta(seconds=cooldown_s) - now).total_seconds()
    return max(0, int(left + 0.999))


def rate_left(recent: list[dt.datetime], now: dt.datetime, per_hour: int) -> int:
    """Seconds until the client may request another power-cycle (0 = now)."""
    window = [t for t in recent if t > now - dt.timedelta(hours=1)]
    if len(window) < per_hour:
        return 0
    oldest = sorted(window)[len(window) - per_hour]
    return max(1, int((oldest + dt.timedelta(hours=1) - now).total_seconds() + 0.999))
