"""The client portal API on a real database (both engines): each client sees
only itself — its equipment with live state, its ports on shared equipment,
its incidents with public entries only and other clients' names masked, its
SLA terms and whether each incident is within them, the maintenance that
affects it — and files requests and comments that reach the staff side."""

from __future__ import annotations

import datetime as dt
import json
import socket

import two_clients

from incidents.tables import CheckState, Incident, TimelineEntry


async def _world(client_as):
    w = await two_clients.build()
    return w, await client_as("client", w.alpha), await client_as("client", w.bravo)


def _no_leak(response, markers):
    text = response.text
    leaked = [m for m in markers if m.lower() in text.lower()]
    assert not leaked, (str(response.url), leaked)


async def test_a_shared_power_incident_shows_each_client_only_itself(db, client_as, api):
    w, alpha, bravo = await _world(client_as)
    for who, other, me, my_asset, their_asset in ((alpha, w.bravo_markers, w.alpha, w.alpha_asset, w.bravo_asset),
                                                  (bravo, w.alpha_markers, w.bravo, w.bravo_asset, w.alpha_asset)):
        r = await who.get(f"/api/v1/portal/incidents/{w.shared_incident}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert [a["asset_id"] for a in body["affected_assets"]] == [my_asset]
        assert "affected_clients" not in body
        assert "[another client]" in body["title"]
        # public entries only: the opening and the staff update; never the internal note
        assert [e["body"].splitlines()[0] for e in body["timeline"]] == ["opened: ups-khimki on battery",
                                                                         "Engineers are on the way to Khimki node"]
        assert {e["author"] for e in body["timeline"]} == {"monitoring", "support"}
        _no_leak(r, other)
        listing = await who.get("/api/v1/portal/incidents")
        assert {i["id"] for i in listing.json()["results"]} == {w.shared_incident,
                                                                w.alpha_incident if me == w.alpha else w.bravo_incident}
        _no_leak(listing, other)
    staff = (await api.get(f"/api/v1/incidents/{w.shared_incident}")).json()
    assert {c["client_id"] for c in staff["affected_clients"]} == {w.alpha, w.bravo}  # the staff view is whole


async def test_foreign_ids_are_not_found_and_change_nothing(db, client_as):
    w, alpha, _ = await _world(client_as)
    assert (await alpha.get(f"/api/v1/portal/incidents/{w.bravo_incident}")).status_code == 404
    assert (await alpha.get(f"/api/v1/portal/incidents/{w.bravo_incident + 1000}")).status_code == 404
    assert (await alpha.get(f"/api/v1/portal/assets/{w.bravo_asset}/samples")).status_code == 404
    entries = await TimelineEntry.count()
    r = await alpha.post(f"/api/v1/portal/incidents/{w.bravo_incident}/comments", json={"body": "hello"})
    assert r.status_code == 404
    incidents = await Incident.count()
    for asset in (w.bravo_asset, w.ups, 10**6):
        r = await alpha.post("/api/v1/portal/requests", json={"category": "reboot", "asset_id": asset})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "asset_id", r.text
        assert "rtr-bravo-1" not in r.text
    assert await Incident.count() == incidents and await TimelineEntry.count() == entries
    # staff routes: 403, never data
    for path in ("/api/v1/incidents", f"/api/v1/clients/{w.alpha}/card", f"/api/v1/assets/{w.alpha_asset}"):
        assert (await alpha.get(path)).status_code == 403


async def test_equipment_with_live_state_ports_addresses_and_services(db, client_as):
    w, alpha, _ = await _world(client_as)
    from incidents.services import utcnow

    now = utcnow()
    await CheckState.insert(
        CheckState(asset=w.alpha_asset, key="reachability", state="critical", since=now, last_observed_at=now,
                   message="no answer from 10.1.1.1"),
        CheckState(asset=w.chassis, key="link:3", state="ok", since=now, last_observed_at=now),
        CheckState(asset=w.chassis, key="link:5", state="critical", since=now, last_observed_at=now),
    )
    r = await alpha.get("/api/v1/portal/assets")
    assert r.status_code == 200, r.text
    body = r.json()
    (asset,) = body["assets"]
    assert asset["name"] == "rtr-alpha-1" and asset["state"] == "critical"
    assert asset["rack"]["name"] == "A01" and asset["site"]["name"] == "Moscow DC1"
    assert asset["checks"][0]["key"] == "reachability"
    assert not {"mgmt_ip", "snmp_community", "snmp_version", "notes"} & set(asset)
    (port,) = body["ports"]
    assert (port["equipment"], port["if_index"], port["state"]) == ("mc-chassis-khimki", 3, "ok")
    assert [i["address"] for i in body["ip_addresses"]] == ["192.0.2.10"]
    assert [p["prefix"] for p in body["prefixes"]] == ["192.0.2.0/24"]
    assert [s["bandwidth_mbps"] for s in body["services"]] == [100]
    _no_leak(r, w.bravo_markers)
    assert "no answer" not in r.text  # check messages are staff-side detail


async def test_sla_terms_and_whether_each_incident_is_within_them(db, client_as):
    w, alpha, bravo = await _world(client_as)
    company = (await alpha.get("/api/v1/portal/company")).json()
    assert company["sla"]["name"] == "Gold" and company["sla"]["response_minutes"]["P2"] == 30
    assert [c["email"] for c in company["contacts"]] == ["alice@alpha.test", "andrew@alpha.test"]
    assert "notes" not in company
    inc = (await alpha.get(f"/api/v1/portal/incidents/{w.alpha_incident}")).json()
    # opened two hours ago at P2, no response yet: Gold's 30-minute response time is breached
    assert inc["sla"]["applies"] and inc["sla"]["response_breached"] and not inc["sla"]["within"]
    assert (await bravo.get("/api/v1/portal/company")).json()["sla"] is None
    inc_b = (await bravo.get(f"/api/v1/portal/incidents/{w.bravo_incident}")).json()
    assert inc_b["sla"] == {**inc_b["sla"], "applies": False, "within": True}


async def test_maintenance_windows_that_affect_the_client(db, client_as):
    w, alpha, bravo = await _world(client_as)
    r = await alpha.get("/api/v1/portal/maintenance")
    reasons = {m["reason"]: m["current"] for m in r.json()}
    assert reasons == {"Alpha router firmware": False, "DC1 power feed maintenance": True}
    _no_leak(r, w.bravo_markers)


async def test_maintenance_on_shared_equipment_reaches_the_clients_it_would_hit(db, client_as):
    """Windows on the chassis carrying a client's port, on the UPS feeding its
    router, and on the remote site where it has only a port: they affect it."""
    from accounts.viewer import SYSTEM
    from incidents import admin
    from incidents.services import utcnow

    w, alpha, bravo = await _world(client_as)
    now = utcnow()
    window = {"starts_at": (now + dt.timedelta(hours=2)).isoformat(),
              "ends_at": (now + dt.timedelta(hours=3)).isoformat()}
    await admin.create_window(SYSTEM, {**window, "asset_id": w.chassis, "reason": "chassis PSU swap"})
    await admin.create_window(SYSTEM, {**window, "asset_id": w.ups, "reason": "UPS battery test"})
    await admin.create_window(SYSTEM, {**window, "site_id": w.site_remote, "reason": "Khimki node works"})
    await admin.create_window(SYSTEM, {**window, "asset_id": w.bravo_asset, "reason": "bravo only"})
    for who, expected in ((alpha, {"Alpha router firmware", "DC1 power feed maintenance"}),
                          (bravo, {"Bravo fiber cut repair", "DC1 power feed maintenance", "bravo only"})):
        reasons = {m["reason"] for m in (await who.get("/api/v1/portal/maintenance")).json()}
        assert reasons == expected | {"chassis PSU swap", "UPS battery test", "Khimki node works"}, reasons


async def test_a_reboot_request_opens_an_l1_incident_from_the_portal(db, client_as, api):
    w, alpha, bravo = await _world(client_as)
    r = await alpha.post("/api/v1/portal/requests", json={"category": "reboot", "asset_id": w.alpha_asset,
                                                          "description": "please power-cycle it"})
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["title"] == "Reboot request: rtr-alpha-1" and mine["category"] == "request"
    staff = (await api.get(f"/api/v1/incidents/{mine['id']}")).json()
    assert (staff["source"], staff["line"], staff["category"]) == ("portal", "L1", "request")
    assert [c["client_id"] for c in staff["affected_clients"]] == [w.alpha]
    # a request on our shared chassis, where Alpha has a port, is allowed too
    r = await alpha.post("/api/v1/portal/requests", json={"category": "no_internet", "asset_id": w.chassis})
    assert r.status_code == 201, r.text
    # bad input: named field, nothing written
    before = await Incident.count()
    for body, field in (({"category": "coffee"}, "category"), ({"category": "reboot"}, "asset_id"),
                        ({"category": "other", "asset_id": "x"}, "asset_id"), ({"category": "other", "foo": 1}, "foo")):
        r = await alpha.post("/api/v1/portal/requests", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)
    assert await Incident.count() == before


async def test_a_client_comment_is_public_to_that_client_only(db, client_as, api):
    w, alpha, bravo = await _world(client_as)
    r = await alpha.post(f"/api/v1/portal/incidents/{w.shared_incident}/comments",
                         json={"body": "Alpha here: our office is dark"})
    assert r.status_code == 201, r.text
    assert r.json()["timeline"][-1]["body"] == "Alpha here: our office is dark"
    assert r.json()["timeline"][-1]["author"].endswith("@example.test")
    seen_by_bravo = await bravo.get(f"/api/v1/portal/incidents/{w.shared_incident}")
    assert "office is dark" not in seen_by_bravo.text
    staff = (await api.get(f"/api/v1/incidents/{w.shared_incident}")).json()
    assert staff["timeline"][-1]["body"] == "Alpha here: our office is dark"
    assert (await alpha.post(f"/api/v1/portal/incidents/{w.shared_incident}/comments",
                             json={"body": "  "})).status_code == 422


async def test_samples_of_own_assets(db, client_as):
    w, alpha, _ = await _world(client_as)
    from incidents.services import utcnow
    from incidents.tables import Sample

    await Sample.insert(Sample(asset=w.alpha_asset, key="power:voltage", value=229.5, at=utcnow()),
                        Sample(asset=w.bravo_asset, key="power:voltage", value=111.0, at=utcnow()))
    r = await alpha.get(f"/api/v1/portal/assets/{w.alpha_asset}/samples")
    assert [s["value"] for s in r.json()] == [229.5]
    assert (await alpha.get(f"/api/v1/portal/assets/{w.alpha_asset}/samples?since=yesterday")).status_code == 422


async def test_staff_and_probes_are_refused_by_the_portal(db, client_as):
    for role in ("admin", "engineer", "noc"):
        staff = await client_as(role)
        assert (await staff.get("/api/v1/portal/assets")).status_code == 403


async def test_management_addresses_in_the_engines_text_never_reach_the_client(db, client_as):
    """A real poll of a silent device: the poller's message names the address it
    polled, the engine puts it in the incident's description and its public
    opening entry; the client reads the incident with the address masked."""
    from _probe_support import fast_poller, poll
    from accounts.viewer import Viewer
    from cmdb import services as cmdb_services
    from e2e._processes import free_port
    from incidents import engine
    from incidents.checks import probe_targets, record_observations
    from incidents.client_view import MASKED_ADDRESS
    from incidents.services import utcnow
    from probes.wire import ObservationBatch

    w, alpha, _ = await _world(client_as)
    # at the remote site: DC1 is under maintenance in this world, which holds incidents back
    silent = (await cmdb_services.assets.create(two_clients.SYSTEM, {
        "name": "rtr-alpha-2", "kind": "router", "site_id": w.site_remote, "client_id": w.alpha,
        "mgmt_ip": "127.0.0.1", "snmp_port": free_port(socket.SOCK_DGRAM), "snmp_version": "2c",
        "snmp_community": "public"}))["id"]
    probe = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")
    (target,) = await probe_targets(probe, asset_id=silent)
    now = utcnow()
    for i in range(4):  # the hold-down confirms after 3
        seen = await poll(fast_poller(), target)
        assert seen["reachability"].state == "critical" and "127.0.0.1" in seen["reachability"].message
        await record_observations(ObservationBatch.new(seen.values(), probe="test"), probe,
                                  now=now + dt.timedelta(seconds=10 * i))
    await engine.tick(now + dt.timedelta(seconds=60))
    opened = await Incident.select(Incident.id, Incident.description).where(
        Incident.id.not_in([w.shared_incident, w.alpha_incident, w.bravo_incident])).first()
    assert opened is not None and "127.0.0.1" in (opened["description"] or "") + " ".join(
        e["body"] for e in await TimelineEntry.select(TimelineEntry.body).where(TimelineEntry.incident == opened["id"]))
    r = await alpha.get(f"/api/v1/portal/incidents/{opened['id']}")
    assert r.status_code == 200, r.text
    assert "127.0.0.1" not in r.text and MASKED_ADDRESS in r.text
    shared = await alpha.get(f"/api/v1/portal/incidents/{w.shared_incident}")
    _no_leak(shared, two_clients.MGMT)


async def test_a_contact_linked_to_its_user_sets_its_own_incident_email(db, client_as, api):
    """Staff link a contact to its client's portal user (only a user of that client,
    one contact per user); that user sees itself marked among the contacts and turns
    its own incident e-mail on or off and picks its language — no other contact."""
    from accounts.tables import User
    from cmdb.tables import Contact

    w, alpha, bravo = await _world(client_as)
    alpha_user = (await User.select(User.id).where(User.client_id == w.alpha).first())["id"]
    bravo_user = (await User.select(User.id).where(User.client_id == w.bravo).first())["id"]
    unlinked = await alpha.patch("/api/v1/portal/me/notifications", json={"notify": False, "language": "en"})
    assert unlinked.status_code == 404 and unlinked.json()["errors"][0]["field"] == "contact"

    wrong = await api.patch(f"/api/v1/contacts/{w.alpha_contact}", json={"user_id": bravo_user})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "user_id", wrong.text
    linked = await api.patch(f"/api/v1/contacts/{w.alpha_contact}", json={"user_id": alpha_user})
    assert linked.status_code == 200 and linked.json()["user_id"] == alpha_user, linked.text
    other = (await Contact.select(Contact.id).where((Contact.client == w.alpha) & (Contact.id != w.alpha_contact))
             .first())["id"]
    twice = await api.patch(f"/api/v1/contacts/{other}", json={"user_id": alpha_user})
    assert twice.status_code in (409, 422) and twice.json()["errors"][0]["field"] == "user_id", twice.text

    contacts = (await alpha.get("/api/v1/portal/company")).json()["contacts"]
    assert [c["name"] for c in contacts if c["you"]] == ["Alice Alpha"]
    r = await alpha.patch("/api/v1/portal/me/notifications", json={"notify": False, "language": "en"})
    assert r.status_code == 200 and (r.json()["notify"], r.json()["language"], r.json()["you"]) == (False, "en", True)
    row = await Contact.select(Contact.notify, Contact.language).where(Contact.id == w.alpha_contact).first()
    assert (row["notify"], row["language"]) == (False, "en")
    bad = await alpha.patch("/api/v1/portal/me/notifications", json={"notify": True, "language": "de"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "language"
    assert (await bravo.patch("/api/v1/portal/me/notifications", json={"notify": True})).status_code == 404
    assert all(not c["you"] for c in (await bravo.get("/api/v1/portal/company")).json()["contacts"])


async def test_a_reboot_request_for_a_switchable_device_offers_the_power_cycle_on_that_request(db, session_as):
    """The portal's "reboot equipment" request: filed as an incident, then — when
    the device is alone on a known outlet and the contract allows it — the
    confirmation page, whose power-cycle goes on the request just filed."""
    from conftest import page_csrf
    from incidents.tables import PowerJob

    w = await two_clients.build()
    await two_clients.add_pdu(w)
    page, _ = await session_as("client", client_id=w.alpha)
    csrf = await page_csrf(page, "/portal/requests/new")
    r = await page.post("/portal/requests", data={"csrf_token": csrf, "category": "reboot",
                                                  "asset_id": str(w.alpha_outlet_asset), "title": "", "description": ""})
    assert r.status_code == 303, r.text
    filed = await Incident.select(Incident.id).where(Incident.source == "portal").order_by(Incident.id,
                                                                                          ascending=False).first()
    assert r.headers["location"] == f"/portal/assets/{w.alpha_outlet_asset}/power-cycle?incident_id={filed['id']}"
    confirm = await page.get(r.headers["location"])
    assert confirm.status_code == 200 and 'id="request-filed"' in confirm.text
    assert f'name="incident_id" value="{filed["id"]}"' in confirm.text
    done = await page.post(f"/portal/assets/{w.alpha_outlet_asset}/power-cycle",
                           data={"csrf_token": csrf, "reason": "no link since the storm", "incident_id": str(filed["id"])})
    assert done.status_code == 303 and done.headers["location"] == f"/portal/incidents/{filed['id']}#timeline", done.text
    assert [j["incident_id"] for j in await PowerJob.select(PowerJob.incident_id)] == [filed["id"]]
    # another client's incident cannot carry it; a device not switchable is not offered
    foreign = await page.get(f"/portal/assets/{w.alpha_outlet_asset}/power-cycle?incident_id={w.bravo_incident}")
    assert foreign.status_code == 404
    r = await page.post("/portal/requests", data={"csrf_token": csrf, "category": "reboot",
                                                  "asset_id": str(w.alpha_shared_asset), "title": "", "description": ""})
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/incidents/")
