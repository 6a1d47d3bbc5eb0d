"""CSV import and export: all or nothing per file, every bad row reported
(row as in the file, header = row 1; column; problem), through the CLI
function and the HTTP endpoint; export imports back as the same rows."""

from __future__ import annotations

import asyncio
import io

import pytest

from accounts.viewer import SYSTEM
from cmdb.commands import ProgressBar, export_file, import_file
from cmdb.csvio import KINDS, ImportRejected, export_text, import_csv
from cmdb.tables import Asset, Client, IPAddress, Rack, Site

SITES = """code,name,kind,address
MSK-DC1,Moscow DC-1,datacenter,"Moscow, Elektrodnaya st. 2"
KHIMKI,Khimki node,remote,Khimki
"""

CLIENTS = """code;name;contract_number;status
ROMASHKA;Romashka LLC;RC-1;active
VOLGA;Volga Trans;RC-2;active
"""

RACKS = """site,name,height_u,client
MSK-DC1,A01,42,
Moscow DC-1,A02,42,romashka
KHIMKI,N1,24,
"""

ASSETS = """name,kind,manufacturer,model,serial,site,rack,position_u,height_u,client,mgmt_ip,snmp_version,snmp_community
sw-core-1,switch,Cisco,C9300,FOC1,MSK-DC1,A01,40,1,,10.0.0.2,2c,public-sw
mc-1,media_converter,Planet,FT-802,PL1,KHIMKI,N1,10,1,ROMASHKA,,,
srv-1,server,Dell,R650,,MSK-DC1,A02,10,2,ROMASHKA,,,
"""

IPS = """address,vrf,client,asset,description
185.71.40.1,,ROMASHKA,PL1,gateway
185.71.40.2,,ROMASHKA,srv-1,
10.0.0.2,mgmt,,sw-core-1,mgmt
2a0c:9a40::1,,VOLGA,,
"""


async def _load(*pairs):
    for kind, text in pairs:
        await import_csv(kind, text, SYSTEM)


async def _base():
    await _load(("sites", SITES), ("clients", CLIENTS), ("racks", RACKS))


async def test_good_files_import_every_row(db, tmp_path):
    await _base()
    path = tmp_path / "assets.csv"
    path.write_text(ASSETS)
    report = await import_file(path, "assets")
    assert (report.rows, report.created, report.errors) == (3, 3, [])
    report = await import_csv("ip-addresses", IPS, SYSTEM)
    assert report.created == 4
    assert await Site.count() == 2 and await Client.count() == 2 and await Rack.count() == 3
    srv = await Asset.objects().where(Asset.name == "srv-1").first()
    rack = await Rack.objects().where(Rack.id == srv.rack).first()
    assert rack.name == "A02" and srv.client is not None and srv.serial is None
    gateway = await IPAddress.objects().where(IPAddress.address == "185.71.40.1").first()
    mc = await Asset.objects().where(Asset.serial == "PL1").first()
    assert gateway.asset == mc.id


async def test_one_bad_row_imports_nothing_and_is_reported(db, tmp_path):
    await _base()
    bad = ASSETS.replace("mc-1,media_converter", "mc-1,toaster")  # row 3 (header = row 1)
    path = tmp_path / "assets.csv"
    path.write_text(bad)
    with pytest.raises(ImportRejected) as info:
        await import_file(path, "assets")
    errors = info.value.report.errors
    assert [(e.row, e.column) for e in errors] == [(3, "kind")]
    assert "media_converter" in errors[0].message  # the problem names the allowed kinds
    assert await Asset.count() == 0  # the good rows 2 and 4 were rolled back too


async def test_every_bad_row_is_listed_with_its_column(db):
    await _base()
    text = (
        "name,kind,site,rack,position_u,serial\n"
        "sw-1,switch,MSK-DC1,A01,40,S1\n"
        "sw-2,switch,NOWHERE,,,S2\n"  # unknown site (natural key)
        "sw-3,switch,MSK-DC1,A01,40,S3\n"  # U40 taken by sw-1 (the service's overlap rule)
        "sw-4,switch,MSK-DC1,A01,x,S4\n"  # not a number
        "sw-5,switch,MSK-DC1,,,S1\n"  # duplicate serial
        "sw-6,switch,MSK-DC1,A01,42,S6\n"
    )
    with pytest.raises(ImportRejected) as info:
        await import_csv("assets", text, SYSTEM)
    found = {(e.row, e.column) for e in info.value.report.errors}
    assert found == {(3, "site"), (4, "position_u"), (5, "position_u"), (6, "serial")}
    messages = {e.row: e.message for e in info.value.report.errors}
    assert "sw-1" in messages[4]  # "U40 is already occupied by sw-1"
    assert await Asset.count() == 0


async def test_services_name_their_assets_as_a_list(db):
    from cmdb.tables import ServiceAsset

    await _base()
    await import_csv("assets", ASSETS, SYSTEM)
    text = (
        "client,site,kind,bandwidth_mbps,assets\n"
        "ROMASHKA,KHIMKI,internet,100,PL1 | sw-core-1\n"
        "VOLGA,MSK-DC1,l2_channel,,\n"
    )
    assert (await import_csv("services", text, SYSTEM)).created == 2
    assert await ServiceAsset.count() == 2
    with pytest.raises(ImportRejected) as info:
        await import_csv("services", text.replace("PL1 | sw-core-1", "PL1|no-such-box"), SYSTEM)
    [error] = info.value.report.errors
    assert (error.row, error.column) == (2, "assets") and "no-such-box" in error.message


async def test_header_problems_are_reported_on_row_1(db):
    with pytest.raises(ImportRejected) as info:
        await import_csv("clients", "code,nmae\nA,Acme\n", SYSTEM)
    assert {(e.row, e.column) for e in info.value.report.errors} == {(1, "nmae"), (1, "name")}


async def test_dry_run_checks_and_writes_nothing(db):
    report = await import_csv("sites", SITES, SYSTEM, dry_run=True)
    assert report.ok and report.rows == 2 and report.created == 0
    assert await Site.count() == 0


async def test_progress_is_reported_per_row(db):
    seen = []
    await import_csv("sites", SITES, SYSTEM, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_progress_bar_prints_to_a_non_terminal_by_tenths():
    out = io.StringIO()
    bar = ProgressBar("import assets", stream=out, min_rows=10)
    for i in range(1, 101):
        bar(i, 100)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("import assets: 1/100") and lines[-1] == "import assets: 100/100 rows (100%)"
    assert len(lines) == 11


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = ProgressBar("import assets", stream=out, min_rows=10, interval_s=0)
    for i in range(1, 51):
        bar(i, 50)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("[" + "#" * 30 + "] 50/50 rows (100%)\n")
    assert text.count("\r") == 50


async def test_windows_1251_semicolon_file_with_bom_less_header(db):
    data = "code;name;kind\nMSK-DC9;Москва ЦОД-9;datacenter\n".encode("cp1251")
    await import_csv("sites", data, SYSTEM)
    assert (await Site.objects().first()).name == "Москва ЦОД-9"


# --------------------------------------------------------------------------- HTTP


async def test_http_import_good_csv_body(api):
    response = await api.post("/api/v1/import/sites", content=SITES, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    assert await Site.count() == 2


async def test_http_import_bad_row_is_a_problem_listing_the_row(api):
    bad = CLIENTS.replace("VOLGA;Volga Trans", "VOLGA;")  # row 3: empty name
    response = await api.post("/api/v1/import/clients", content=bad, headers={"content-type": "text/csv"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "name")]
    assert "nothing was imported" in body["detail"]
    assert await Client.count() == 0


async def test_http_import_multipart_upload(api):
    files = {"file": ("clients.csv", CLIENTS.encode(), "text/csv")}
    response = await api.post("/api/v1/import/clients", files=files)
    assert response.status_code == 200, response.text
    assert await Client.count() == 2


async def test_http_import_is_for_admins(client_as):
    engineer = await client_as("engineer")
    response = await engineer.post("/api/v1/import/sites", content=SITES, headers={"content-type": "text/csv"})
    assert response.status_code == 403
    assert await Site.count() == 0


async def test_http_unknown_kind_is_404(api):
    response = await api.get("/api/v1/export/toasters")
    assert response.status_code == 404


async def test_http_export_never_carries_snmp_secrets_in_clear(api, client_as):
    await _base()
    await import_csv("assets", ASSETS, SYSTEM)
    admin_csv = (await api.get("/api/v1/export/assets")).text
    # administrators get them sealed (they import back into this installation), others not at all
    assert "public-sw" not in admin_csv and "snmp_community" in admin_csv.splitlines()[0] and "enc1:" in admin_csv
    engineer = await client_as("engineer")
    response = await engineer.get("/api/v1/export/assets")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "public-sw" not in response.text and "snmp_community" not in response.text
    assert len(response.text.splitlines()) == 4


# --------------------------------------------------------------------------- round trip


def _without_ids(text: str) -> list[list[str]]:
    import csv

    return [row[1:] for row in csv.reader(io.StringIO(text))]


async def test_export_imports_back_into_an_empty_database_as_the_same_rows(db, tmp_path):
    from cmdb.demo import seed_demo

    await seed_demo()
    before = {}
    for kind in KINDS:
        path = tmp_path / f"{kind}.csv"
        with path.open("w", newline="") as out:
            rows = await export_file(kind, out)
        assert rows > 0, kind
        before[kind] = _without_ids(path.read_text())
    await _empty(db)
    for kind in KINDS:
        await import_file(tmp_path / f"{kind}.csv", kind)
    for kind in KINDS:
        assert _without_ids(await export_text(kind, SYSTEM)) == before[kind], kind


async def _empty(engine) -> None:
    from conftest import _empty_all_tables  # tests/ is on sys.path (rootdir conftest)

    await _empty_all_tables(engine)


# --------------------------------------------------------------------------- the CLI


async def test_cli_import_reports_the_bad_row_and_exits_1(db, db_url, tmp_path, monkeypatch, capsys):
    from rackcard import db as rdb
    from rackcard.cli import main

    await _base()
    monkeypatch.setenv("RACKCARD_DATABASE_URL", db_url)
    monkeypatch.setenv("RACKCARD_SECRET_KEY", "t" * 40)
    monkeypatch.setenv("RACKCARD_VAR_DIR", str(tmp_path / "var"))
    bad = tmp_path / "assets.csv"
    bad.write_text(ASSETS.replace("srv-1,server", "srv-1,blender"))
    good = tmp_path / "sites.csv"
    good.write_text("name,kind\nTver node,remote\n")
    out = tmp_path / "export.csv"
    try:
        # The CLI runs its own event loop (asyncio.run), so it gets a thread.
        assert await asyncio.to_thread(main, ["import", str(bad), "--kind", "assets"]) == 1
        err = capsys.readouterr().err
        assert "row 4, column kind:" in err and "nothing was imported" in err
        assert await asyncio.to_thread(main, ["import", str(good), "--kind", "sites", "--quiet"]) == 0
        assert "imported 1 rows" in capsys.readouterr().out
        assert await asyncio.to_thread(main, ["export", "--kind", "sites", "-o", str(out)]) == 0
    finally:
        rdb.use_engine(db)  # the CLI bound the tables to its own (now closed) engine
    assert await Asset.count() == 0
    assert await Site.count() == 3
    assert "Tver node" in out.read_text()
