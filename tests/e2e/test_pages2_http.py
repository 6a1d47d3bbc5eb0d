"""Staff pages II over HTTP (both engines): who may open the admin pages, the
pages in Russian, editing and deleting through the generic forms, the
fragments htmx asks for (free units, next free IP, the site redraw)."""

from __future__ import annotations

from conftest import page_csrf
from integration.cmdb_seed import seed

from cmdb.tables import Asset, Site


async def test_admin_pages_are_for_administrators_only(db, session_as):
    noc, _ = await session_as("noc")
    token = await page_csrf(noc)
    for path in ("/admin/users", "/admin/tokens", "/import"):
        assert (await noc.get(path)).status_code == 403, path
    for path in ("/admin/tokens", "/admin/users"):
        response = await noc.post(path, data={"csrf_token": token, "email": "x@example.test", "role": "noc"})
        assert response.status_code == 403, path
    admin, _ = await session_as("admin")
    for path in ("/admin/users", "/admin/tokens", "/import"):
        assert (await admin.get(path)).status_code == 200, path


async def test_pages_speak_russian(db, session_as):
    ids = await seed()
    engineer, _ = await session_as("engineer")
    engineer.cookies.set("rc_lang", "ru", domain="rackcard.test")
    site = await engineer.get(f"/sites/{ids['dc']}")
    assert site.status_code == 200 and "Топология" in site.text and "свободно" in site.text
    assert "Входное" not in site.text  # (no samples here) but the asset page has its own words:
    asset = await engineer.get(f"/assets/{ids['ups-remote-7']}")
    assert "Если оно откажет" in asset.text and "Зависят от него" in asset.text
    listing = await engineer.get("/assets")
    assert "Экспорт CSV" in listing.text and "Оборудование" in listing.text


async def test_edit_and_delete_through_the_generic_forms(db, session_as):
    ids = await seed()
    engineer, _ = await session_as("engineer")
    token = await page_csrf(engineer, f"/assets/{ids['core-sw']}/edit")
    form = (await engineer.get(f"/assets/{ids['core-sw']}/edit")).text
    assert 'value="core-sw"' in form and 'name="snmp_community"' in form
    moved = await engineer.post(f"/assets/{ids['core-sw']}/edit", data={
        "csrf_token": token, "name": "core-sw-renamed", "kind": "switch", "site_id": str(ids["dc"]),
        "rack_id": str(ids["r2"]), "position_u": "5", "height_u": "1"})
    assert moved.status_code == 409 and "U5 is already occupied by srv-globex" in moved.text  # next to position_u
    assert "f-position_u-error" in moved.text
    assert (await Asset.select(Asset.name).where(Asset.id == ids["core-sw"]).first())["name"] == "core-sw"
    ok = await engineer.post(f"/assets/{ids['core-sw']}/edit", data={
        "csrf_token": token, "name": "core-sw-renamed", "rack_id": str(ids["r2"]), "position_u": "20"})
    assert ok.status_code == 303 and ok.headers["location"] == f"/assets/{ids['core-sw']}"
    assert (await Asset.select(Asset.name).where(Asset.id == ids["core-sw"]).first())["name"] == "core-sw-renamed"

    refused = await engineer.post(f"/sites/{ids['dc']}/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and "still referenced" in refused.text
    assert await Site.exists().where(Site.id == ids["dc"])
    site = await engineer.post("/sites/new", data={"csrf_token": token, "name": "Spare Room", "kind": "datacenter"})
    assert site.status_code == 303
    new_id = int(site.headers["location"].rsplit("/", 1)[1])
    gone = await engineer.post(f"/sites/{new_id}/delete", data={"csrf_token": token})
    assert gone.status_code == 303 and not await Site.exists().where(Site.id == new_id)
    assert (await engineer.post(f"/sites/{ids['dc']}/delete", data={})).status_code == 403  # no CSRF token


async def test_htmx_fragments(db, session_as):
    ids = await seed()
    engineer, _ = await session_as("engineer")
    space = await engineer.get("/assets/rack-space", params={"rack_id": ids["r2"], "height_u": 2})
    assert '<option value="3">' in space.text and '<option value="5">' not in space.text
    prefix = (await engineer.get("/prefixes", params={"q": "10.20.0.0"})).text
    assert "10.20.0.0/24" in prefix
    from cmdb.tables import Prefix

    pid = (await Prefix.select(Prefix.id).where(Prefix.prefix == "10.20.0.0/24").first())["id"]
    free = await engineer.get("/ip-addresses/next-free", params={"prefix_id": pid})
    assert 'value="10.20.0.1"' in free.text
    live = await engineer.get(f"/sites/{ids['remote']}/live")
    assert live.status_code == 200 and "<html" not in live.text and "topo-node" in live.text


async def test_contact_form_offers_the_portal_notify_choice(db, session_as):
    """The contact's notify flag (client e-mail only to contacts who asked) is a true/false choice on the
    generic form, and the NOC (who keep contacts current) can set it."""
    from cmdb.tables import Client, Contact

    client = Client(code="acme", name="Acme", name_norm="acme")
    await client.save()
    noc, _ = await session_as("noc")
    token = await page_csrf(noc, "/contacts/new")
    form = (await noc.get("/contacts/new")).text
    assert 'name="notify"' in form and '<option value="false" selected>' in form
    made = await noc.post("/contacts/new", data={"csrf_token": token, "name": "Ann", "client_id": str(client.id),
                                                 "email": "ann@acme.test", "notify": "true"})
    assert made.status_code == 303
    row = await Contact.select(Contact.id, Contact.notify).where(Contact.email == "ann@acme.test").first()
    assert row["notify"] is True
    assert '<option value="true" selected>' in (await noc.get(f"/contacts/{row['id']}/edit")).text
