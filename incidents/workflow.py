"""The incident workflow — pure (no I/O): statuses, legal transitions, support
lines and their OLA escalation.

    new -> acknowledged -> in_progress <-> pending_client -> resolved -> closed
                                                             resolved -> in_progress (reopen)

The engine resolves and reopens by itself (rules.Resolve / rules.Reopen) from
any open status; people follow the table below.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from incidents.rules import CATEGORIES, PRIORITIES  # the engine's vocabulary, said once (pure too)

NEW, ACKNOWLEDGED, IN_PROGRESS, PENDING_CLIENT, RESOLVED, CLOSED = (
    "new",
    "acknowledged",
    "in_progress",
    "pending_client",
    "resolved",
    "closed",
)
STATUSES = (NEW, ACKNOWLEDGED, IN_PROGRESS, PENDING_CLIENT, RESOLVED, CLOSED)
#: "open" = every status before resolved.
OPEN_STATUSES = (NEW, ACKNOWLEDGED, IN_PROGRESS, PENDING_CLIENT)
#: The SLA clock stops while the incident waits for the client (or is resolved).
PAUSED_STATUSES = frozenset({PENDING_CLIENT, RESOLVED, CLOSED})

TRANSITIONS: dict[str, tuple[str, ...]] = {
    NEW: (ACKNOWLEDGED,),
    ACKNOWLEDGED: (IN_PROGRESS,),
    IN_PROGRESS: (PENDING_CLIENT, RESOLVED),
    PENDING_CLIENT: (IN_PROGRESS, RESOLVED),
    RESOLVED: (CLOSED, IN_PROGRESS),  # in_progress from resolved = reopen by hand
    CLOSED: (),
}

LINES = ("L1", "L2", "L3", "vendor")
#: Lines that escalate by themselves when their OLA runs out (vendor only by hand).
AUTO_ESCALATES = {"L1": "L2", "L2": "L3"}

MANUAL_SOURCES = ("phone", "email", "chat", "portal")
SOURCES = ("probe", "trap", *MANUAL_SOURCES)
VISIBILITIES = ("internal", "public")


def allowed_transitions(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def is_legal(from_status: str, to_status: str) -> bool:
    return to_status in allowed_transitions(from_status)


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def next_line(line: str) -> str | None:
    """The line a manual escalation moves to; None from vendor."""
    i = LINES.index(line)
    return LINES[i + 1] if i + 1 < len(LINES) else None


def ola_deadline(line: str, line_since: dt.datetime, ola_minutes: Sequence[int]) -> dt.datetime | None:
    """When the current line's OLA runs out (L1, L2, L3 have one; vendor none)."""
    i = LINES.index(line)
    if i >= len(ola_minutes) or i >= 3:
        return None
    return line_since + dt.timedelta(minutes=ola_minutes[i])


def ola_action(
    status: str, line: str, line_since: dt.datetime, ola_exceeded: bool, now: dt.datetime, ola_minutes: Sequence[int]
) -> str | None:
    """What the timer does for one incident: "escalate" (to the next line),
    "flag" (L3 ran out: vendor only by hand, so it is flagged once), or None."""
    if not is_open(status) or status == PENDING_CLIENT:
        # Waiting on the client is not the line sitting on it: no escalation
        # then, and the line's OLA restarts when the client answers.
        return None
    deadline = ola_deadline(line, line_since, ola_minutes)
    if deadline is None or now < deadline:
        return None
    if line in AUTO_ESCALATES:
        return "escalate"
    return None if ola_exceeded else "flag"
