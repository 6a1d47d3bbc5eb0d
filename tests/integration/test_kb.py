"""The knowledge base and canned replies through the API, on both engines:
stemmed search in Russian and English, safe Markdown, suggestions for an
incident, "used in N incidents", internal articles hidden from client users,
and canned replies that refuse to send with a placeholder missing."""

from __future__ import annotations

import pytest

from accounts.viewer import SYSTEM
from cmdb.tables import Asset, Interface
from incidents import services
from incidents.tables import IncidentCheck
from tests.integration import incident_data as data

FIBER_RU = {
    "title": "Оптика: как читать индикаторы медиаконвертера",
    "body": "Если индикатор FX не горит, проверьте оптический патч-корд и соседние медиаконвертеры.\n\n"
            "Затем перезагрузите **маршрутизатор** клиента.",
    "categories": ["fiber"], "asset_kinds": ["media_converter"], "visibility": "public", "language": "ru",
}
POWER_EN = {
    "title": "Remote node on battery: what the runtime means",
    "body": "The UPS reports the minutes of battery remaining. Rebooting does not help; call the site's power team.",
    "categories": ["power"], "asset_kinds": ["ups"], "visibility": "internal", "language": "en",
}


async def _article(api, body) -> dict:
    response = await api.post("/api/v1/kb", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _results(api, query: str) -> list[str]:
    response = await api.get(f"/api/v1/kb?{query}")
    assert response.status_code == 200, response.text
    return [r["title"] for r in response.json()["results"]]


async def test_search_finds_inflected_russian_and_english_words(db, api):
    fiber = await _article(api, FIBER_RU)
    power = await _article(api, POWER_EN)
    # the body says "медиаконвертеры", "маршрутизатор"; the query inflects them differently
    assert await _results(api, "q=медиаконвертеров") == [fiber["title"]]
    assert await _results(api, "q=маршрутизатору") == [fiber["title"]]
    assert await _results(api, "q=оптический+маршрутизатора") == [fiber["title"]]
    assert await _results(api, "q=reboots") == [power["title"]]  # "Rebooting" in the body
    assert await _results(api, "q=batteries+minute") == [power["title"]]
    assert await _results(api, "q=маршрутизатор+battery") == []  # every word must match
    assert await _results(api, "q=xyzzy") == []
    # an edit is searchable at once, the old text no longer
    await api.patch(f"/api/v1/kb/{power['id']}", json={"body": "Generator start order"})
    assert await _results(api, "q=remaining") == []  # was only in the old body
    assert await _results(api, "q=generators") == [power["title"]]
    assert await _results(api, "category=fiber") == [fiber["title"]]
    assert await _results(api, "language=en") == [power["title"]]


async def test_markdown_renders_inert(db, api):
    article = await _article(api, {
        "title": "XSS", "body": "<script>alert(1)</script>\n\n[click](javascript:alert(1)) "
                                "[vb](VBScript:msgbox) [ok](https://example.org) <img src=x onerror=alert(1)>"})
    html = article["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")
    assert 'href="javascript' not in html.lower() and 'href="vbscript' not in html.lower()
    assert "<img" not in html
    assert '<a href="https://example.org" rel="nofollow noopener noreferrer">ok</a>' in html


async def _fiber_incident(api, n: int = 1) -> tuple[int, int]:
    acme = await data.client("Acme")
    site = await data.site("remote", name="Khimki" if n == 1 else f"Khimki {n}")
    mc = await data.asset(site, f"mc-khimki-{n}", client_id=acme)
    await Asset.update({Asset.model: "MC-1610MR"}).where(Asset.id == mc)
    await Interface(asset=mc, if_index=3, name="slot_1_fx", role="fiber").save()
    incident = await services.create_manual(SYSTEM, services.ManualIncident(
        title="no link", category="fiber", client_id=acme, source="phone", asset_ids=(mc,), priority="P3"))
    await IncidentCheck(incident=incident["id"], asset_id=mc, key="link:3").save()
    return incident["id"], acme


async def test_a_fiber_incident_on_a_media_converter_suggests_the_fiber_article(db, api):
    power = await _article(api, POWER_EN)
    fiber = await _article(api, FIBER_RU)
    other = await _article(api, {"title": "Any converter", "body": "generic", "asset_kinds": ["media_converter"]})
    model = await _article(api, {"title": "MC-1610MR chassis slots", "body": "slots",
                                 "asset_models": ["mc-1610mr"], "language": "en"})
    incident_id, _ = await _fiber_incident(api)
    response = await api.get(f"/api/v1/incidents/{incident_id}/suggestions")
    assert response.status_code == 200, response.text
    titles = [a["title"] for a in response.json()["articles"]]
    assert titles[0] == fiber["title"]
    assert titles == [fiber["title"], model["title"], other["title"]]
    assert power["title"] not in titles
    # used on two incidents -> "used in 2 incidents"; a second use on the same one counts once
    second, _ = await _fiber_incident(api, 2)
    for i in (incident_id, incident_id, second):
        used = await api.post(f"/api/v1/incidents/{i}/kb-uses", json={"article_id": fiber["id"]})
        assert used.status_code == 200, used.text
    assert (await api.get(f"/api/v1/kb/{fiber['id']}")).json()["used_in"] == 2
    suggestions = (await api.get(f"/api/v1/incidents/{incident_id}/suggestions")).json()
    assert [a["title"] for a in suggestions["used"]] == [fiber["title"]]
    timeline = (await api.get(f"/api/v1/incidents/{incident_id}")).json()["timeline"]
    assert sum(1 for t in timeline if t["data"].get("kb_article") == fiber["id"]) == 1
    bad = await api.post(f"/api/v1/incidents/{incident_id}/kb-uses", json={"article_id": 999})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "article_id"


async def test_client_users_never_see_internal_articles(db, api, client_as):
    public = await _article(api, FIBER_RU)
    internal = await _article(api, POWER_EN)
    acme = await data.client("Acme")
    client = await client_as("client", acme)
    listed = (await client.get("/api/v1/kb")).json()
    assert [r["id"] for r in listed["results"]] == [public["id"]] and listed["count"] == 1
    assert (await client.get("/api/v1/kb?q=battery")).json()["count"] == 0
    assert (await client.get("/api/v1/kb?visibility=internal")).json()["count"] == 0
    assert (await client.get(f"/api/v1/kb/{internal['id']}")).status_code == 404
    one = await client.get(f"/api/v1/kb/{public['id']}")
    assert one.status_code == 200
    # how often staff used it counts every client's incidents: not for client users
    assert "used_in" not in one.json() and all("used_in" not in r for r in listed["results"])
    assert "used_in" in (await api.get(f"/api/v1/kb/{public['id']}")).json()
    for method, path in (("POST", "/api/v1/kb"), ("PATCH", f"/api/v1/kb/{public['id']}"),
                         ("DELETE", f"/api/v1/kb/{public['id']}")):
        assert (await client.request(method, path, json={"title": "x"})).status_code == 403, (method, path)
    assert (await api.get("/api/v1/kb")).json()["count"] == 2  # staff see both


@pytest.mark.parametrize("body, field", [
    ({"body": "x"}, "title"),
    ({"title": "x", "categories": ["tea"]}, "categories"),
    ({"title": "x", "asset_kinds": "toaster"}, "asset_kinds"),
    ({"title": "x", "visibility": "secret"}, "visibility"),
    ({"title": "x", "language": "de"}, "language"),
    ({"title": "x", "colour": "red"}, "colour"),
    ({"title": "x", "body": 5}, "body"),
])
async def test_bad_articles_are_422_naming_the_field(db, api, body, field):
    response = await api.post("/api/v1/kb", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert (await api.get("/api/v1/kb")).json()["count"] == 0


async def test_canned_reply_fills_from_the_incident_and_counts_its_use(db, api):
    incident_id, _ = await _fiber_incident(api)
    created = await api.post("/api/v1/canned-replies", json={
        "name": "fiber down", "category": "fiber", "language": "en",
        "body": "Dear {client_name}, the fiber on {asset} port {port} at {site} is down (incident "
                "{incident_number}). We are on it."})
    assert created.status_code == 201, created.text
    reply = created.json()
    assert reply["placeholders"] == ["client_name", "asset", "port", "site", "incident_number"]
    rendered = await api.post(f"/api/v1/incidents/{incident_id}/canned-replies/{reply['id']}/render")
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["body"] == (f"Dear Acme, the fiber on mc-khimki-1 port slot_1_fx at Khimki is down "
                                       f"(incident {incident_id}). We are on it.")
    sent = await api.post(f"/api/v1/incidents/{incident_id}/canned-replies/{reply['id']}/send", json={})
    assert sent.status_code == 200, sent.text
    comments = [t for t in sent.json()["timeline"] if t["kind"] == "comment"]
    assert comments[-1]["visibility"] == "public" and comments[-1]["body"].startswith("Dear Acme")
    assert (await api.get(f"/api/v1/canned-replies/{reply['id']}")).json()["uses"] == 1
    listed = (await api.get(f"/api/v1/incidents/{incident_id}/suggestions")).json()["replies"]
    assert [r["id"] for r in listed] == [reply["id"]]


async def test_a_missing_placeholder_is_an_error_before_sending(db, api):
    incident_id, _ = await _fiber_incident(api)
    reply = (await api.post("/api/v1/canned-replies", json={
        "name": "battery", "language": "ru",
        "body": "Узел работает от батареи, осталось {battery_minutes} мин. Срок: {sla_due}."})).json()
    before = len((await api.get(f"/api/v1/incidents/{incident_id}")).json()["timeline"])
    for action in ("render", "send"):
        response = await api.post(f"/api/v1/incidents/{incident_id}/canned-replies/{reply['id']}/{action}")
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["errors"][0]["field"] == "battery_minutes"
        assert "battery_minutes" in problem["detail"]
    assert len((await api.get(f"/api/v1/incidents/{incident_id}")).json()["timeline"]) == before  # nothing sent
    assert (await api.get(f"/api/v1/canned-replies/{reply['id']}")).json()["uses"] == 0
    given = await api.post(f"/api/v1/incidents/{incident_id}/canned-replies/{reply['id']}/render",
                           json={"values": {"battery_minutes": 42, "sla_due": "сегодня 18:00"}})
    assert given.status_code == 200, given.text
    assert given.json()["body"] == "Узел работает от батареи, осталось 42 мин. Срок: сегодня 18:00."
    blank = await api.post(f"/api/v1/incidents/{incident_id}/canned-replies/{reply['id']}/render",
                           json={"values": {"battery_minutes": "  ", "sla_due": "x"}})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "battery_minutes"


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "body": "Hello {clinet_name}"}, "body"),
    ({"name": "x", "body": "Hello {client_name"}, "body"),
    ({"name": "x", "body": "hi", "category": "tea"}, "category"),
    ({"name": "x", "body": "hi", "language": "fr"}, "language"),
    ({"body": "hi"}, "name"),
])
async def test_bad_canned_replies_are_422_naming_the_field(db, api, body, field):
    response = await api.post("/api/v1/canned-replies", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
