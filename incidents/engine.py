"""The incident engine's storage wrapper: loads what rules.decide needs, applies
its decisions. Called by incidents.checks.record_observations inside the same
transaction as the check-state update, so a state change and its incident
land together or not at all."""

from __future__ import annotations

import datetime as dt

from incidents.rules import CheckUpdate


async def process(updates: list[CheckUpdate], now: dt.datetime) -> None:
    """Hand check updates to the rules and apply the decisions (filled in by the engine work)."""
    return None
