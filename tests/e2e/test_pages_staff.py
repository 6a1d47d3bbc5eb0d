"""Staff pages over HTTP: the board, search straight to the client card, the
card as a call sheet, the incident page and each of its actions (through the
same services as the API, so a refused action changes nothing)."""

from __future__ import annotations

import re

import pytest
from conftest import page_csrf
from pages_data import fiber_cut, observe, operator, switch_down_with_a_redundant_neighbour

from incidents.tables import Incident, TimelineEntry


@pytest.fixture
async def data(api):
    return await operator(api)


async def _open_incident(data) -> int:
    await fiber_cut(data)
    row = await Incident.select(Incident.id).where(Incident.status == "new").first()
    assert row, "the fiber cut opened no incident"
    return row["id"]


async def test_board_lists_open_incidents_most_urgent_first_with_clients_and_sites(data, session_as):
    noc, _ = await session_as("noc")
    incident_id = await _open_incident(data)
    html = (await noc.get("/")).text
    assert f"#{incident_id}" in html and "Romashka LLC" in html
    assert "Not acknowledged" in html
    assert re.search(r'class="site site-\w+[^"]*"[^>]*>\s*<span class="dot"', html)
    # the remote node comes first in the site strip, and is red (a critical check)
    strip = html[html.index('class="site-strip"'):]
    assert strip.index("KHM") < strip.index("DC1")
    assert "site-red" in strip[:strip.index("KHM") + 10] or 'site site-red' in strip
    # title counts P1/P2 for the tab
    assert "<title>" in html
    fragment = await noc.get("/", headers={"hx-request": "true", "hx-target": "board-body"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert re.match(r"\s*<title>\(P[12]: 1\) Board · rackcard</title>\s*<div id=\"board-body\"", fragment.text)


async def test_board_counts_clients_down_and_clients_at_risk_apart(api, data, session_as):
    noc, _ = await session_as("noc")
    await switch_down_with_a_redundant_neighbour(api, data)
    listed = (await api.get("/api/v1/incidents", params={"status": "open"})).json()["results"]
    (incident,) = listed
    assert (incident["clients_down"], incident["clients_at_risk"]) == (1, 1)
    html = (await noc.get("/")).text
    row = html[html.index(f'data-incident="{incident["id"]}"'):]
    row = row[:row.index("</tr>")]
    assert 'data-clients-down="1" data-clients-at-risk="1">1 <small class="at-risk"' in row
    assert "1 client at risk" in row
    names = re.search(r'<div class="clients-line">([^<]*)</div>', row).group(1)
    assert "Romashka LLC" in names and "Vasilek" not in names  # only the clients who are down are named


async def test_incident_page_links_assets_and_marks_what_is_only_at_risk(api, data, session_as):
    noc, _ = await session_as("noc")
    await switch_down_with_a_redundant_neighbour(api, data)
    incident_id = (await Incident.select(Incident.id).first())["id"]
    html = (await noc.get(f"/incidents/{incident_id}")).text
    assets = html[html.index('id="assets-h"'):html.index('id="calls-h"')]
    for key, role in (("switch", "root cause"), ("mc", "impacted"), ("mc_other", "at risk")):
        asset = data[key]
        cell = assets[assets.index(f'<a href="/assets/{asset["id"]}">{asset["name"]}</a>'):]
        assert re.match(r"[^\n]*\n\s*<td>([^<]*)</td>", cell).group(1) == role, (key, cell[:300])
    calls = html[html.index('id="calls-h"'):]
    down = calls[calls.index('data-impact="down"'):calls.index('data-impact="at_risk"')]
    at_risk = calls[calls.index('data-impact="at_risk"'):]
    assert "Romashka LLC" in down and "at risk" not in down  # the clients who are down come first
    assert "Vasilek JSC" in at_risk and '<small class="tag at-risk">at risk</small>' in at_risk
    await noc.post("/preferences/language", data={"language": "ru", "csrf_token": await page_csrf(noc)})
    russian = (await noc.get(f"/incidents/{incident_id}")).text
    assert russian.count("под угрозой") >= 2 and "SNMP-трап" in russian  # the asset's role, the call list; the source


async def test_the_russian_card_shows_the_kinds_roles_and_statuses_in_russian(data, session_as):
    eng, _ = await session_as("engineer")
    await eng.post("/preferences/language", data={"language": "ru", "csrf_token": await page_csrf(eng)})
    html = (await eng.get(f"/clients/{data['client']['id']}")).text
    equipment = html[html.index('id="equipment-h"'):]
    assert '<span class="count">маршрутизатор: 1</span>' in equipment  # the counts by kind
    assert '<span class="count">неизвестно: 1</span>' in equipment  # and by manufacturer, none given
    assert "<td>маршрутизатор</td>" in equipment and ">router<" not in html
    assert "<strong>Интернет</strong>" in html and "<strong>internet</strong>" not in html
    ports = html[html.index('id="ports-h"'):]
    assert "<td>оптика</td>" in ports and "<td>медь</td>" in ports and "<td>fiber</td>" not in ports


async def test_board_filters_are_kept_in_the_url(data, session_as):
    noc, _ = await session_as("noc")
    incident_id = await _open_incident(data)
    assert f"#{incident_id}" in (await noc.get("/?category=fiber")).text
    assert f"#{incident_id}" not in (await noc.get("/?category=power")).text
    assert f"#{incident_id}" in (await noc.get(f"/?site={data['node']['id']}")).text
    assert f"#{incident_id}" not in (await noc.get(f"/?site={data['dc']['id']}")).text
    assert f"#{incident_id}" in (await noc.get(f"/?client={data['client']['id']}")).text
    assert f"#{incident_id}" not in (await noc.get(f"/?client={data['other']['id']}")).text
    assert f"#{incident_id}" in (await noc.get("/?line=L1")).text
    assert f"#{incident_id}" not in (await noc.get("/?line=L2")).text
    page = (await noc.get("/?category=fiber&line=L1")).text
    assert 'hx-get="/?line=L1&amp;category=fiber"' in page  # the refresh keeps the filters
    refused = await noc.get("/?line=L9")
    assert refused.status_code == 422 and "line must be one of" in refused.text


@pytest.mark.parametrize("typed", ["+74951234567", "8 (495) 123 45 67", "495-123-45-67"])
async def test_a_phone_in_another_format_opens_the_client_card(data, session_as, typed):
    noc, _ = await session_as("engineer")
    response = await noc.get("/search", params={"q": typed})
    assert response.status_code == 303 and response.headers["location"] == f"/clients/{data['client']['id']}"


@pytest.mark.parametrize("typed", ["198.51.100.9", "RTR-1", "ivan@romashka.example", "romashka"])
async def test_anything_of_a_client_opens_its_card(data, session_as, typed):
    noc, _ = await session_as("noc")
    response = await noc.get("/search", params={"q": typed})
    assert response.headers.get("location") == f"/clients/{data['client']['id']}", (typed, response.text[:300])


async def test_what_belongs_to_no_client_opens_its_own_page(api, data, session_as):
    noc, _ = await session_as("noc")
    rack = (await api.post("/api/v1/racks", json={"site_id": data["dc"]["id"], "name": "Row-7 rack"})).json()
    spare = (await api.post("/api/v1/prefixes", json={"prefix": "203.0.113.0/24"})).json()
    for typed, page in (
        ("Ivan Petrov", f"/clients/{data['client']['id']}"),  # a contact by name: its client's card
        ("Khimki node", f"/sites/{data['node']['id']}"),
        ("DC1", f"/sites/{data['dc']['id']}"),
        ("Row-7 rack", f"/racks/{rack['id']}"),
        ("sw-khm-1", f"/assets/{data['switch']['id']}"),  # shared equipment
        ("MC-123456", f"/assets/{data['mc']['id']}"),  # by its serial
        ("203.0.113.0/24", "/prefixes?q=203.0.113.0%2F24"),  # an unassigned prefix: the prefix list, filtered
        ("203.0.113.77", "/prefixes?q=203.0.113.0%2F24"),  # an address inside it
        ("198.51.100.0/28", f"/clients/{data['client']['id']}"),  # the client's own prefix: its card
    ):
        response = await noc.get("/search", params={"q": typed})
        assert response.status_code == 303, (typed, response.status_code, response.text[:300])
        assert response.headers["location"] == page, typed
        assert (await noc.get(page)).status_code == 200, page
    listed = (await noc.get("/prefixes", params={"q": spare["prefix"]})).text
    assert "203.0.113.0/24" in listed and "198.51.100.0/28" not in listed


async def test_search_suggests_as_you_type_and_finds_incident_numbers(data, session_as):
    noc, _ = await session_as("noc")
    incident_id = await _open_incident(data)
    suggest = await noc.get("/search/suggest", params={"q": "roma"})
    assert suggest.status_code == 200 and "Romashka LLC" in suggest.text
    assert f'href="/clients/{data["client"]["id"]}"' in suggest.text and "<html" not in suggest.text
    response = await noc.get("/search", params={"q": f"#{incident_id}"})
    assert response.headers["location"] == f"/incidents/{incident_id}"
    nothing = await noc.get("/search", params={"q": "no such thing anywhere"})
    assert nothing.status_code == 200 and "Nothing found" in nothing.text
    everything = await noc.get("/search", params={"q": "roma", "all": "1"})
    assert everything.status_code == 200 and "Romashka LLC" in everything.text


async def test_the_card_is_a_call_sheet(data, session_as):
    eng, _ = await session_as("engineer")
    incident_id = await _open_incident(data)
    page = await eng.get(f"/clients/{data['client']['id']}")
    assert page.status_code == 200
    html = page.text
    for expected in ("Romashka LLC", "D-2041", "Gold", 'href="tel:', 'href="mailto:ivan@romashka.example"',
                     "mc-khm-1", "sw-khm-1", "ups-khm-1", "slot_1_fx", "198.51.100.0/28", "198.51.100.5",
                     "RTR-1", f"#{incident_id}", 'media="print"'):
        assert expected in html, expected
    # the fiber port's live state is shown critical, the copper one OK
    fx = html[html.index("slot_1_fx"):]
    assert "state-critical" in fx[:600]
    # the upstream path of the media converter: its switch (uplink) and the UPS (power)
    path = html[html.index('class="path"'):]
    assert path.index("sw-khm-1") < path.index("ups-khm-1")
    assert (await eng.get("/clients/999999")).status_code == 404


async def test_incident_page_actions_follow_the_workflow(data, session_as):
    noc, user = await session_as("noc")
    incident_id = await _open_incident(data)
    url = f"/incidents/{incident_id}"
    page = (await noc.get(url)).text
    assert "Romashka LLC" in page and 'href="tel:' in page and "Ivan Petrov" in page
    assert 'action="/incidents/%d/acknowledge"' % incident_id in page
    assert "Resolve" not in re.sub(r"<[^>]+>", "", page.split('class="actions')[1].split("</section>")[0]) \
        or 'action="/incidents/%d/resolve"' % incident_id not in page

    async def act(action: str, **form):
        return await noc.post(f"{url}/{action}", data={**form, "csrf_token": await page_csrf(noc, url)})

    assert (await act("acknowledge")).status_code == 303
    row = await Incident.select().where(Incident.id == incident_id).first()
    assert row["status"] == "acknowledged" and row["assignee"] == user.email
    # an illegal move is refused, changes nothing and shows a page, not JSON
    refused = await act("transition", to="closed")
    assert refused.status_code == 409 and "text/html" in refused.headers["content-type"]
    assert (await Incident.select(Incident.status).where(Incident.id == incident_id).first())["status"] == "acknowledged"
    assert (await act("comment", body="Calling the client now", visibility="public")).status_code == 303
    assert (await act("comment", body="", visibility="public")).status_code == 422
    assert (await act("priority", priority="P1", reason="")).status_code == 422
    assert (await act("priority", priority="P1", reason="hospital on this line")).status_code == 303
    assert (await act("escalate", reason="needs a field engineer")).status_code == 303
    assert (await act("transition", to="in_progress")).status_code == 303
    assert (await act("maintenance", minutes="60", reason="splicing")).status_code == 303
    assert (await act("resolve", note="")).status_code == 422
    assert (await act("resolve", note="fiber spliced")).status_code == 303
    row = await Incident.select().where(Incident.id == incident_id).first()
    assert row["status"] == "resolved" and row["priority"] == "P1" and row["line"] == "L2"
    entries = await TimelineEntry.select(TimelineEntry.kind, TimelineEntry.visibility, TimelineEntry.body) \
        .where(TimelineEntry.incident == incident_id)
    assert {"kind": "comment", "visibility": "public", "body": "Calling the client now"} in entries
    page = (await noc.get(url)).text
    assert "entry-public" in page and "entry-internal" in page
    assert 'value="closed"' in page and 'action="/incidents/%d/resolve"' % incident_id not in page
    board = (await noc.get("/")).text  # off the open list, into "resolved in the last 30 minutes"
    assert f'data-incident="{incident_id}"' not in board and f'data-resolved="{incident_id}"' in board


async def test_acknowledge_from_the_board_through_htmx(data, session_as):
    noc, _ = await session_as("noc")
    incident_id = await _open_incident(data)
    response = await noc.post(f"/incidents/{incident_id}/acknowledge",
                              headers={"hx-request": "true", "X-CSRF-Token": await page_csrf(noc)})
    assert response.status_code == 204 and response.headers["hx-trigger"] == "board-refresh"


async def test_pages_render_in_russian(data, session_as):
    noc, _ = await session_as("noc")
    await noc.post("/preferences/language", data={"language": "ru", "csrf_token": await page_csrf(noc)})
    incident_id = await _open_incident(data)
    board = (await noc.get("/")).text
    assert "Табло" in board and "Не подтверждён" in board and "Оптика" in board  # labels from the macros too
    card = (await noc.get(f"/clients/{data['client']['id']}")).text
    assert "Контакты" in card and "Оборудование" in card and "Новый" in card and "Авария" in card
    suggest = (await noc.get("/search/suggest", params={"q": "roma"})).text
    assert "Клиент" in suggest
    incident = (await noc.get(f"/incidents/{incident_id}")).text
    assert "Подтвердить" in incident and "Хронология" in incident
