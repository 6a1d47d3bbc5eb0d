"""Issue 8, item 1: every input that once answered 500 is a 4xx problem naming
the field, on both engines, and a rejected request changes nothing.

The causes, as the fuzzing run found them: integers beyond the column type
(path ids, query ids, offsets), malformed observation batches, text longer
than its column after normalisation, NUL bytes, "--1" / "²" where an integer
is expected, `q=10.0.0.0/²`, JSON nested 5,000 deep, CSV with byte 0x98 or a
131k-character cell, webhook `events: [["x"]]`, dates at year 1 or 9999.
"""

from __future__ import annotations

import json

import pytest

from accounts.tables import AuditLog
from cmdb.tables import Asset, Client, Site


def _problem(response, status: int = 422) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return response.json()


def _fields(problem: dict) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


async def _site(api) -> dict:
    r = await api.post("/api/v1/sites", json={"name": "DC One", "kind": "datacenter", "code": "DC1"})
    assert r.status_code == 201, r.text
    return r.json()


BIG = [2**31, 3_000_000_000, 10**20, -1, 0]


async def test_ids_beyond_the_column_are_4xx(api):
    for value in BIG:
        for path in (f"/api/v1/assets/{value}", f"/api/v1/incidents/{value}", f"/api/v1/clients/{value}/card",
                     f"/api/v1/assets/{value}/checks", f"/api/v1/sla-plans/{value}"):
            r = await api.get(path)
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    for query in ("client_id=3000000000", "client_id=10000000000000000000000", "site_id=-5",
                  "client_id=--1", "client_id=%C2%B2", "offset=100000000000000000000", "offset=-1",
                  "limit=0", "limit=100000", "limit=abc", "family=40000"):
        r = await api.get(f"/api/v1/assets?{query}")
        assert r.status_code == 422, (query, r.text)
    for query in ("client_id=3000000000", "offset=100000000000000000000", "asset_id=--1"):
        r = await api.get(f"/api/v1/incidents?{query}")
        assert r.status_code in (400, 422), (query, r.text)


async def test_bad_integers_in_bodies_name_the_field(api):
    site = await _site(api)
    for bad in ("--1", "²", 3_000_000_000, 10**20, "1e5", True, [1]):
        r = await api.post("/api/v1/racks", json={"site_id": site["id"], "name": "R1", "height_u": bad})
        assert "height_u" in _fields(_problem(r)), bad
        r = await api.post("/api/v1/racks", json={"site_id": bad, "name": "R1"})
        assert "site_id" in _fields(_problem(r)), bad
    assert await Asset.count() == 0


async def test_three_bad_fields_give_three_errors(api):
    r = await api.post("/api/v1/assets", json={"name": "x" * 500, "kind": "toaster", "site_id": "--1",
                                               "snmp_port": 70000})
    problem = _problem(r)
    assert {"name", "kind", "site_id", "snmp_port"} <= set(_fields(problem)), problem


async def test_text_is_bounded_by_its_column_even_after_normalisation(api):
    site = await _site(api)
    # A community longer than its column once passed validation and broke PostgreSQL.
    r = await api.post("/api/v1/assets", json={"name": "a", "kind": "switch", "site_id": site["id"],
                                               "snmp_version": "2c", "snmp_community": "c" * 150})
    assert "snmp_community" in _fields(_problem(r))
    # NFKC turns U+FDFA into 18 characters: 20 of them fit `name` but not `name_norm`.
    r = await api.post("/api/v1/assets", json={"name": "\ufdfa" * 20, "kind": "switch", "site_id": site["id"]})
    assert "name" in _fields(_problem(r))
    # Text columns are bounded too (a 9 MB address was once stored).
    r = await api.post("/api/v1/sites", json={"name": "Big", "kind": "remote", "address": "x" * 20_000})
    assert "address" in _fields(_problem(r))
    assert await Asset.count() == 0 and await Site.count() == 1


async def test_nul_and_control_characters_are_refused(api):
    r = await api.post("/api/v1/clients", json={"code": "NUL", "name": "Acme\x00Ltd"})
    assert "name" in _fields(_problem(r))
    r = await api.post("/api/v1/clients", json={"code": "ESC", "name": "Acme\x1b[31m"})
    assert "name" in _fields(_problem(r))
    r = await api.post("/api/v1/sites", json={"name": "Multi", "kind": "remote", "address": "line 1\nline 2\tx"})
    assert r.status_code == 201, r.text  # line breaks and tabs in multi-line text are fine
    for path in ("/api/v1/clients?q=a%00b", "/api/v1/search?q=a%00b", "/api/v1/assets?manufacturer=a%00",
                 "/api/v1/incidents?status=a%00"):
        r = await api.get(path)
        assert r.status_code == 422, (path, r.text)
    assert await Client.count() == 0


async def test_search_with_odd_text_is_not_an_error(api):
    for q in ("10.0.0.0/²", "10.0.0.0/99", "::ffff:10.0.0.0/²", "%", "_", "²", "\\", "'", "x" * 1000):
        r = await api.get("/api/v1/search", params={"q": q})
        assert r.status_code in (200, 422), (q, r.text)


async def test_q_wildcards_are_literal(api):
    await api.post("/api/v1/clients", json={"code": "A", "name": "Alpha"})
    await api.post("/api/v1/clients", json={"code": "B", "name": "100% Beta"})
    assert (await api.get("/api/v1/clients", params={"q": "%"})).json()["count"] == 1
    assert (await api.get("/api/v1/clients", params={"q": "_"})).json()["count"] == 0
    assert (await api.get("/api/v1/clients", params={"q": "alp"})).json()["count"] == 1


async def test_deep_json_and_big_bodies(api):
    deep = "[" * 5000 + "]" * 5000
    r = await api.post("/api/v1/clients", content=deep, headers={"content-type": "application/json"})
    assert r.status_code in (400, 413, 422), r.text
    r = await api.post("/api/v1/clients", content='{"code": "D", "name": ' + "[" * 100 + "]" * 100 + "}",
                       headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    big = json.dumps({"code": "BIG", "name": "x", "notes": "y" * 3_000_000})
    r = await api.post("/api/v1/clients", content=big, headers={"content-type": "application/json"})
    _problem(r, 413)
    r = await api.post("/api/v1/clients", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert await Client.count() == 0


async def test_dates_out_of_range_are_refused(api):
    site = await _site(api)
    for starts, ends in (("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"),
                         ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59Z"),
                         ("2026-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59")):
        r = await api.post("/api/v1/maintenance-windows",
                           json={"site_id": site["id"], "starts_at": starts, "ends_at": ends, "reason": "x"})
        assert r.status_code == 422, (starts, r.text)
    r = await api.get("/api/v1/maintenance-windows", params={"active_at": "0001-01-01T00:00:00Z"})
    assert r.status_code == 422, r.text
    r = await api.get("/api/v1/assets/1/samples", params={"since": "9999-12-31T23:59:59Z"})
    assert r.status_code in (404, 422), r.text


async def test_webhook_bodies_of_the_wrong_shape(api):
    for body in ({"name": "w", "url": "http://example.test/x", "events": [["x"]]},
                 {"name": "w", "url": "http://example.test/x", "events": [{"a": 1}]},
                 {"name": ["w"], "url": 5, "events": "opened", "active": "yes"},
                 {"name": "w", "url": "http://example.test/x", "secret": ["s"]}):
        r = await api.post("/api/v1/webhooks", json=body)
        assert r.status_code == 422, (body, r.text)


async def test_webhook_with_three_bad_fields_lists_three(api):
    r = await api.post("/api/v1/webhooks", json={"name": "", "url": "ftp://x", "events": ["nope"]})
    assert {"name", "url", "events"} <= set(_fields(_problem(r)))


async def test_sla_plan_bodies_of_the_wrong_shape(api):
    for body in ({"name": "p", "response_minutes": {"P1": 10**20}},
                 {"name": "p", "response_minutes": {"P1": "abc"}},
                 {"name": ["p"]},
                 {"name": "p", "business_days": [[1]]},
                 {"name": "p", "timezone": "x\x00"}):
        r = await api.post("/api/v1/sla-plans", json=body)
        assert r.status_code == 422, (body, r.text)


BAD_BATCHES = [
    {"batch_id": "b1", "observations": "abc"},
    {"batch_id": "b2", "observations": [{"asset_id": 1, "key": 5, "state": "ok", "observed_at": "2026-01-01T00:00:00Z"}]},
    {"batch_id": "b3", "observations": [{"asset_id": 1, "key": "k", "state": "ok", "observed_at": None}]},
    {"batch_id": "b4", "observations": [{"asset_id": 3_000_000_000, "key": "k", "state": "ok",
                                         "observed_at": "2026-01-01T00:00:00Z"}]},
    {"batch_id": "b5", "observations": [{"asset_id": 1, "key": "k", "state": "ok", "observed_at": "0001-01-01T00:00:00Z"}]},
    {"batch_id": "b6", "observations": ["x"]},
    {"batch_id": ["b7"], "observations": []},
    {"batch_id": "b8", "observations": [{"asset_id": 1, "key": "k", "state": "ok", "observed_at": "2026-01-01T00:00:00Z",
                                         "number": "NaN-ish"}]},
    {"batch_id": "b9", "observations": [{"asset_id": 1, "key": "k", "state": "ok", "observed_at": "2026-01-01T00:00:00Z",
                                         "value": {"x": 1}}]},
    {"batch_id": "b10", "stats": "x", "observations": []},
]


async def test_malformed_observation_batches_are_refused_whole(app, db):
    import httpx

    from accounts.services import create_token
    from incidents.tables import CheckState, ProbeBatch

    site = Site(code="S", name="S", name_norm="s", kind="datacenter")
    await site.save()
    asset = Asset(name="a", name_norm="a", kind="switch", site=site.id)
    await asset.save()
    token = await create_token(probe="p1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"}) as probe:
        for batch in BAD_BATCHES:
            batch = json.loads(json.dumps(batch).replace('"asset_id": 1,', f'"asset_id": {asset.id},'))
            r = await probe.post("/api/v1/probe/observations", json=batch)
            assert r.status_code == 422, (batch, r.text)
        # One good and one bad observation: nothing of the batch is applied, both fields named.
        good = {"asset_id": asset.id, "key": "reachability", "state": "ok", "observed_at": "2026-01-01T00:00:00Z"}
        r = await probe.post("/api/v1/probe/observations", json={"batch_id": "mixed", "observations": [
            good, {**good, "state": "sideways", "key": ""}]})
        problem = _problem(r)
        assert {"observations[1].state", "observations[1].key"} <= set(_fields(problem)), problem
    assert await CheckState.count() == 0 and await ProbeBatch.count() == 0


async def test_csv_bad_bytes_and_huge_cells(api):
    await _site(api)
    r = await api.post("/api/v1/import/sites", content=b"name,kind\nS\x98x,remote\n",
                       headers={"content-type": "text/csv"})
    assert r.status_code in (200, 422), r.text
    huge = "name,kind,address\nBig,remote," + "x" * 140_000 + "\n"
    r = await api.post("/api/v1/import/sites", content=huge.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    r = await api.post("/api/v1/import/sites", content=b"name,kind\nNul\x00x,remote\n",
                       headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert await Site.count() in (1, 2)


async def test_csv_row_with_three_bad_cells_lists_three(api):
    await _site(api)
    csv_text = "name,kind,site,position_u,snmp_port\nsw1,toaster,NOPE,abc,70000\n"
    r = await api.post("/api/v1/import/assets", content=csv_text.encode(), headers={"content-type": "text/csv"})
    problem = _problem(r)
    columns = {e["column"] for e in problem["errors"] if e["row"] == 2}
    assert {"kind", "site", "position_u", "snmp_port"} <= columns, problem


async def test_rejected_requests_write_no_audit_rows(api):
    before = await AuditLog.count()
    await api.post("/api/v1/clients", json={"code": "X", "name": "a\x00"})
    await api.post("/api/v1/assets", json={"name": "a", "kind": "switch", "site_id": 3_000_000_000})
    assert await AuditLog.count() == before


@pytest.mark.parametrize("path", ["/api/v1/clients", "/api/v1/assets", "/api/v1/incidents"])
async def test_lists_accept_the_largest_offset(api, path):
    r = await api.get(path, params={"offset": 2**31 - 1})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == []


async def test_a_client_sla_plan_must_exist(api):
    r = await api.post("/api/v1/clients", json={"code": "ACME", "name": "Acme", "sla_plan_id": 999})
    problem = _problem(r)
    assert problem["errors"][0]["field"] == "sla_plan_id" and "999" in problem["errors"][0]["message"]
    plan = await api.post("/api/v1/sla-plans", json={"name": "Gold"})
    assert plan.status_code == 201, plan.text
    r = await api.post("/api/v1/clients", json={"code": "ACME", "name": "Acme", "sla_plan_id": plan.json()["id"]})
    assert r.status_code == 201, r.text
    r = await api.patch(f"/api/v1/clients/{r.json()['id']}", json={"sla_plan_id": 998})
    assert _problem(r)["errors"][0]["field"] == "sla_plan_id"


async def test_ip_uniqueness_is_per_vrf_and_family(api):
    assert (await api.post("/api/v1/ip-addresses", json={"address": "::1"})).status_code == 201
    r = await api.post("/api/v1/ip-addresses", json={"address": "0.0.0.1"})
    assert r.status_code == 201, r.text  # same integer key as ::1, another family
    assert (await api.post("/api/v1/ip-addresses", json={"address": "10.10.0.5"})).status_code == 201
    mapped = await api.post("/api/v1/ip-addresses", json={"address": "::ffff:10.10.0.5"})
    assert mapped.status_code == 409, mapped.text
    other_vrf = await api.post("/api/v1/ip-addresses", json={"address": "::ffff:10.10.0.5", "vrf": "red"})
    assert other_vrf.status_code == 201 and other_vrf.json()["address"] == "10.10.0.5"
    assert other_vrf.json()["family"] == 4


async def test_csv_export_defuses_formulas_and_imports_back(api):
    from cmdb.csvio import export_text
    from accounts.viewer import SYSTEM

    for code, name in (("F1", "=HYPERLINK(\"http://evil\")"), ("F2", "+cmd|' /C calc'!A0"), ("F3", "@SUM(1)"),
                       ("F4", "-2+3")):
        assert (await api.post("/api/v1/clients", json={"code": code, "name": name})).status_code == 201
    text = (await api.get("/api/v1/export/clients")).text
    for line in text.splitlines()[1:]:
        cells = line.split(",")
        assert not any(c.lstrip('"').startswith(("=", "+", "@", "-")) for c in cells), line
    exported = await export_text("clients", SYSTEM)
    await api.delete("/api/v1/clients/1")
    for i in range(2, 5):
        await api.delete(f"/api/v1/clients/{i}")
    r = await api.post("/api/v1/import/clients", content=exported.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    names = sorted(c["name"] for c in (await api.get("/api/v1/clients")).json()["results"])
    assert names == sorted(["=HYPERLINK(\"http://evil\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"])


async def test_csv_encoding_is_detected_or_named(api):
    latin1 = "name,kind,address\nCaf\u00e9 M\u00fcnchen,remote,Stra\u00dfe 5 \u00e0 c\u00f4t\u00e9 de l'\u00e9glise\n".encode("latin-1")
    r = await api.post("/api/v1/import/sites?encoding=latin-1", content=latin1, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    site = (await api.get("/api/v1/sites")).json()["results"][0]
    assert site["name"] == "Caf\u00e9 M\u00fcnchen"
    cyrillic = "name,kind,address\n\u0423\u0437\u0435\u043b \u0425\u0438\u043c\u043a\u0438,remote,\u041c\u043e\u0441\u043a\u043e\u0432\u0441\u043a\u0430\u044f \u043e\u0431\u043b\u0430\u0441\u0442\u044c, \u0443\u043b\u0438\u0446\u0430 \u041b\u0435\u043d\u0438\u043d\u0430\n"
    r = await api.post("/api/v1/import/sites", content=cyrillic.replace(", \u0443\u043b", " \u0443\u043b").encode("cp1251"),
                       headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    names = {s["name"] for s in (await api.get("/api/v1/sites")).json()["results"]}
    assert "\u0423\u0437\u0435\u043b \u0425\u0438\u043c\u043a\u0438" in names
    r = await api.post("/api/v1/import/sites?encoding=no-such-codec", content=latin1,
                       headers={"content-type": "text/csv"})
    assert _problem(r)["errors"][0]["field"] == "encoding"


async def test_latin1_csv_is_detected_without_naming_the_encoding(api):
    """Detection picks among the encodings an import may be in: a Latin-1 file once read as
    Windows-1250 ("Cafť MŁnchen"); a few letters that read as well in Latin as in Cyrillic are
    refused naming `encoding`, not guessed."""
    rows = ("name,kind,address\nB\u00fcro K\u00f6ln,remote,Hauptstra\u00dfe 12\n"
            "Caf\u00e9 M\u00fcnchen,remote,Stra\u00dfe 5 \u00e0 c\u00f4t\u00e9 de l'\u00e9glise\n")
    r = await api.post("/api/v1/import/sites", content=rows.encode("latin-1"), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    sites = {s["name"]: s for s in (await api.get("/api/v1/sites")).json()["results"]}
    assert set(sites) == {"B\u00fcro K\u00f6ln", "Caf\u00e9 M\u00fcnchen"}
    assert sites["Caf\u00e9 M\u00fcnchen"]["address"] == "Stra\u00dfe 5 \u00e0 c\u00f4t\u00e9 de l'\u00e9glise"
    short = "name,kind\n\u0423\u0437\u0435\u043b,remote\n".encode("cp1251")  # "Узел": also "Óçåë" in cp1252
    problem = _problem(await api.post("/api/v1/import/sites", content=short, headers={"content-type": "text/csv"}))
    assert _fields(problem) == ["encoding"] and "utf-8, cp1251" in problem["detail"], problem


async def test_the_import_page_takes_an_encoding(session_as):
    from conftest import page_csrf

    admin, _ = await session_as("admin")
    form = await admin.get("/import")
    assert '<select id="encoding" name="encoding"' in form.text and '<option value="cp1251">' in form.text
    token = await page_csrf(admin, "/import")
    short = "name,kind\n\u0423\u0437\u0435\u043b,remote\n".encode("cp1251")
    refused = await admin.post("/import", data={"csrf_token": token, "kind": "sites"},
                               files={"file": ("sites.csv", short, "text/csv")})
    assert refused.status_code == 422 and "name its encoding" in refused.text
    done = await admin.post("/import", data={"csrf_token": token, "kind": "sites", "encoding": "cp1251"},
                            files={"file": ("sites.csv", short, "text/csv")})
    assert done.status_code == 200 and 'id="import-report"' in done.text, done.text[-800:]
    assert [s.name for s in await Site.objects()] == ["\u0423\u0437\u0435\u043b"]
    odd = await admin.post("/import", data={"csrf_token": token, "kind": "sites", "encoding": "rot13"},
                           files={"file": ("sites.csv", short, "text/csv")})
    assert odd.status_code == 422 and 'aria-invalid="true"' in odd.text


#: Text a person or a client may send where a whole number belongs: a superscript
#: ("²".isdigit() is True, int("²") raises), Arabic-Indic digits, an exponent, a
#: negative zero, beyond every column. " 7 " is a number with blanks (accepted as 7).
NOT_IDS = ("²", "١٢", "1e3", "-0", "99999999999999999999")
NUMBERS = (*NOT_IDS, " 7 ")


async def test_unicode_digits_and_odd_numbers_never_answer_500(app, client_as, session_as):
    """Every place that reads a whole number from a request, API (admin, client and
    ingest tokens) and pages (sessions): a 4xx naming the field, or the page shown
    again with the field's error — never a 500."""
    from conftest import _client_as, page_csrf

    from accounts.services import create_token

    admin = await client_as("admin")
    site = (await admin.post("/api/v1/sites", json={"name": "DC One", "kind": "datacenter", "code": "DC1"})).json()
    client_row = (await admin.post("/api/v1/clients", json={"code": "ACME", "name": "Acme"})).json()
    rack = await admin.post("/api/v1/racks", json={"site_id": site["id"], "name": "R1"})
    assert rack.status_code == 201, rack.text
    client_api = await client_as("client", client_id=client_row["id"])
    ingest = await _client_as(app, await create_token(ingest="librenms-test"))
    admin_page, _ = await session_as("admin")
    admin_token = await page_csrf(admin_page)
    client_page, _ = await session_as("client", client_id=client_row["id"])
    client_token = await page_csrf(client_page, "/portal")

    def refused(response, field: str, value: str) -> None:
        assert response.status_code < 500, (field, value, response.status_code, response.text[:500])
        if value == " 7 ":
            return
        assert 400 <= response.status_code < 500, (field, value, response.status_code)
        if response.headers["content-type"].startswith("application/problem+json"):
            problem = response.json()
            named = {e.get("field") or e.get("column") for e in problem.get("errors", [])} | {problem.get("field")}
            assert field in named, (field, value, problem)
        else:
            assert field in response.text, (field, value, response.text[:500])

    try:
        for value in NUMBERS:
            # API: a field that takes an id or a name finds no such name; a field that takes an id refuses.
            r = await admin.get("/api/v1/audit", params={"user": value})
            assert r.status_code == 200, (value, r.text)
            r = await client_api.post("/api/v1/portal/requests", json={
                "category": "reboot", "title": "down", "asset_id": value})
            refused(r, "asset_id", value)
            r = await ingest.post("/api/v1/ingest/librenms", json={
                "hostname": value, "sysName": value, "name": "Devices up/down", "severity": "critical",
                "state": 1, "timestamp": "2026-11-23 10:00:00"})
            assert r.status_code < 500, (value, r.text)
            csv_text = f"name,kind,site_id,rack,position_u\nsw1,switch,{value},R1,1\n"
            r = await admin.post("/api/v1/import/assets", content=csv_text.encode(),
                                 headers={"content-type": "text/csv"})
            refused(r, "site_id", value)

            # Pages: the list and its filters, the generic forms, the admin and portal forms.
            for path in ("/incidents", "/sla-plans", "/clients"):
                r = await admin_page.get(path, params={"page": value})
                assert r.status_code < 500, (path, value, r.text[:300])
                if value.strip() not in ("7", "1"):
                    assert "page" in r.text
            r = await admin_page.get("/incidents", params={"client_id": value})
            assert r.status_code < 500, (value, r.text[:300])
            assert value == " 7 " or "client_id" in r.text, value  # the list, with the filter's error
            plan = {"csrf_token": admin_token, "name": f"Plan {value}", "hours": "business", "timezone": "UTC",
                    "business_days": value, "business_start": "09:00", "business_end": "18:00",
                    **{f"{kind}_p{n}": value for kind in ("response", "resolution") for n in range(1, 5)}}
            r = await admin_page.post("/sla-plans/new", data=plan)
            refused(r, "business_days", value)
            refused(r, "response_p1", value)
            r = await admin_page.post("/admin/users", data={
                "csrf_token": admin_token, "email": f"u{len(value)}@example.test", "role": "client",
                "client_id": value})
            refused(r, "client_id", value)
            r = await client_page.post("/portal/requests", data={
                "csrf_token": client_token, "category": "reboot", "title": "down", "asset_id": value})
            refused(r, "asset_id", value)
            r = await client_page.get("/portal/requests/suggestions", params={"category": "reboot", "asset_id": value})
            assert r.status_code < 500, (value, r.text[:300])
            r = await admin_page.get("/assets/rack-space", params={"rack_id": value, "height_u": value,
                                                                   "asset_id": value})
            assert r.status_code < 500, (value, r.text[:300])
            r = await admin_page.get("/ip-addresses/next-free", params={"prefix_id": value})
            assert r.status_code < 500, (value, r.text[:300])
            for path, field in (("/incidents/1/kb-use", "article_id"), ("/incidents/1/canned-reply", "reply_id"),
                                ("/mail/quarantine/1/accept", "client_id")):
                r = await admin_page.post(path, data={"csrf_token": admin_token, field: value})
                assert r.status_code < 500, (path, value, r.text[:300])
    finally:
        await ingest.aclose()
    assert await Asset.count() == 0
