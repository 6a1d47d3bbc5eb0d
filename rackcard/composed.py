"""Endpoints that need both inventory and incidents (the client card), composed
here so that cmdb never imports incidents.

The client card is a list of sections: each is an async function
(viewer, client_id) -> dict whose keys are merged into the card, in order.
The inventory comes first (it also checks the client exists and the viewer
may see it); to add a part, append a function to CARD_SECTIONS, e.g.

    async def incidents_section(viewer, client_id):
        return {"open_incidents": [...], "history": [...]}

    CARD_SECTIONS.append(incidents_section)
"""

from __future__ import annotations

from typing import Awaitable, Callable

from litestar import get

from accounts.http import CurrentViewer, require_staff
from accounts.viewer import Viewer
from validation.params import PathId
from cmdb.resources import read_all, reading
from cmdb.services import client_card
from incidents.services import client_card_incidents
from incidents.schemas import ClientCard

CardSection = Callable[[Viewer, int], Awaitable[dict]]

#: Sections of the client card, merged in order. They read side by side; the
#: first one (the inventory) raises NotFound for an unknown client, and the card
#: is then that error, whatever the others found.
CARD_SECTIONS: list[CardSection] = [client_card, client_card_incidents]  # ... then open_incidents, incident_history


async def build_card(viewer: Viewer, client_id: int) -> dict:
    """Sections are read-only and read side by side on one connection, their
    statements batched (see cmdb.resources.read_all)."""
    card: dict = {}
    async with reading():
        for part in await read_all(*(section(viewer, client_id) for section in CARD_SECTIONS)):
            card.update(part)
    return card


@get(
    "/clients/{item_id:int}/card",
    guards=[require_staff],
    tags=["clients"],
    summary="The client card: client, contacts, IP space, services by site, racks, assets, dependencies",
)
async def card(viewer: CurrentViewer, item_id: PathId) -> ClientCard:
    return await build_card(viewer, item_id)


api_routes: list = [card]
