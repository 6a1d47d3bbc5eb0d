"""NetBox import (issue 12) against a loopback HTTP server replaying NetBox 4.x
API responses written by hand (tests/data/netbox/), paged by limit/offset the
way NetBox pages them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from cmdb.tables import Asset, Client, Contact, Dependency, Interface, IPAddress, Prefix, Rack, Site
from integrations.netbox import NetboxClient, NetboxError, import_netbox
from integrations.tables import NetboxLink

DATA = Path(__file__).resolve().parent.parent / "data" / "netbox"
TOKEN = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[2]


class FakeNetbox:
    """NetBox's list endpoints from the JSON files; `lists` can be edited between runs."""

    def __init__(self):
        self.lists = {f.stem.replace("__", "/"): json.loads(f.read_text())["results"] for f in DATA.glob("*.json")}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                fake.requests.append(self.path)
                url = urlparse(self.path)
                endpoint = url.path.removeprefix("/api/").strip("/")
                if self.headers.get("Authorization") != f"Token {TOKEN}":
                    return self._send(403, {"detail": "Invalid token"})
                if endpoint not in fake.lists:
                    return self._send(404, {"detail": "Not found."})
                query = parse_qs(url.query)
                limit, offset = int(query.get("limit", ["50"])[0]), int(query.get("offset", ["0"])[0])
                rows = fake.lists[endpoint]
                nxt = (f"http://{self.headers['Host']}/api/{endpoint}/?limit={limit}&offset={offset + limit}"
                       if offset + limit < len(rows) else None)
                self._send(200, {"count": len(rows), "next": nxt, "previous": None,
                                 "results": rows[offset:offset + limit]})

            def _send(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def device(self, name: str) -> dict:
        return next(d for d in self.lists["dcim/devices"] if d["name"] == name)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def netbox():
    fake = FakeNetbox()
    yield fake
    fake.close()


TABLES = (Client, Contact, Site, Rack, Asset, Interface, Dependency, Prefix, IPAddress, NetboxLink)


async def _counts() -> dict[str, int]:
    return {t.__name__: await t.count() for t in TABLES}


async def _run(netbox: FakeNetbox, dry_run: bool = False):
    client = NetboxClient(netbox.url, TOKEN, page_size=2)  # small pages: pagination is exercised
    try:
        return await import_netbox(client, dry_run=dry_run)
    finally:
        await client.aclose()


async def test_import_twice_gives_the_same_rows_and_a_moved_device_moves(db, netbox):
    first = await _run(netbox)
    # The management port carries no ifIndex in NetBox: skipped, never numbered by guess.
    assert first.problems == ["interface msk-border-1 fxp0: no ifindex custom field (SNMP ifIndex); not guessed"]
    counts = await _counts()
    assert counts == {"Client": 2, "Contact": 2, "Site": 2, "Rack": 2, "Asset": 5, "Interface": 5, "Dependency": 3,
                      "Prefix": 3, "IPAddress": 5, "NetboxLink": counts["NetboxLink"]}
    assert first.counts["device"]["created"] == 5 and first.counts["cable"]["created"] == 3
    # Pagination followed: 5 devices at 2 per page = 3 requests.
    assert sum(1 for r in netbox.requests if r.startswith("/api/dcim/devices/")) == 3

    # What landed, through the same service layer as the API.
    mc = await Asset.select().where(Asset.name == "mc-acme-1").first()
    acme = await Client.select().where(Client.code == "ACME").first()
    rack_b07 = await Rack.select().where(Rack.name == "B07").first()
    assert (mc["kind"], mc["manufacturer"], mc["model"], mc["serial"]) == ("media_converter", "Planet", "MC-1610MR", "PL-0001")
    assert (mc["rack"], mc["position_u"], mc["rack_face"], mc["height_u"]) == (rack_b07["id"], 10, "rear", 2)
    assert mc["client"] == acme["id"] and mc["mgmt_ip"] == "10.0.0.3" and rack_b07["client"] == acme["id"]
    lenina = await Site.select().where(Site.code == "NODE-LENINA-5").first()
    assert lenina["kind"] == "remote"
    ann = await Contact.select().where(Contact.email_norm == "ann@acme.example").first()
    assert ann["client"] == acme["id"] and ann["role"] == "Technical"
    names = {r["id"]: r["name"] for r in await Asset.select(Asset.id, Asset.name)}
    edges = {(names[d["asset"]], names[d["depends_on"]], d["kind"]) for d in await Dependency.select()}
    assert edges == {("msk-acc-1", "msk-border-1", "uplink"), ("mc-acme-1", "msk-acc-1", "uplink"),
                     ("mc-globex-lenina", "ups-lenina-5", "power")}
    fiber = await Interface.select().where(Interface.name == "slot_1_fx").first()
    assert (fiber["if_index"], fiber["role"]) == (4, "fiber")
    vrf_prefix = await Prefix.select().where(Prefix.prefix == "192.0.2.0/28").first()
    assert vrf_prefix["vrf"] == "CUST-ACME" and vrf_prefix["client"] == acme["id"]
    ip = await IPAddress.select().where(IPAddress.address == "10.0.0.3").first()
    assert ip["asset"] == mc["id"] and ip["prefix_len"] == 24

    # Second run: nothing new, nothing changed.
    second = await _run(netbox)
    assert await _counts() == counts
    assert all(c["created"] == 0 and c["updated"] == 0 for c in second.counts.values()), second.changes

    # The converter moves to rack A01, U20, front, in NetBox: here too.
    moved = netbox.device("mc-acme-1")
    moved["rack"] = copy.deepcopy(netbox.device("msk-border-1")["rack"])
    moved["position"], moved["face"] = 20.0, {"value": "front", "label": "Front"}
    third = await _run(netbox)
    assert await _counts() == counts
    assert third.counts["device"]["updated"] == 1
    (line,) = [c for c in third.changes if c.startswith("~ device mc-acme-1")]
    assert "position_u: 10 → 20" in line and "rack_face: 'rear' → 'front'" in line
    after = await Asset.select().where(Asset.id == mc["id"]).first()
    rack_a01 = await Rack.select().where(Rack.name == "A01").first()
    assert (after["rack"], after["position_u"], after["rack_face"]) == (rack_a01["id"], 20, "front")


async def test_dry_run_changes_nothing_and_shows_the_diff(db, netbox):
    report = await _run(netbox, dry_run=True)
    assert all(v == 0 for v in (await _counts()).values())
    assert report.dry_run and "+ device mc-acme-1" in report.changes and "+ tenant ACME (Acme Networks)" in report.changes
    assert "dry run: nothing was written" in report.text()

    await _run(netbox)
    before = await _counts()
    netbox.device("msk-acc-1")["position"] = 30.0
    diff = await _run(netbox, dry_run=True)
    assert await _counts() == before
    assert [c for c in diff.changes if c.startswith("~")] == ["~ device msk-acc-1: position_u: 38 → 30"]
    assert (await Asset.select(Asset.position_u).where(Asset.name == "msk-acc-1").first())["position_u"] == 38


async def test_validation_is_the_apis_and_a_bad_object_is_skipped_not_fatal(db, netbox):
    netbox.lists["dcim/devices"].append({**copy.deepcopy(netbox.device("msk-acc-1")), "id": 99, "name": "overlapper",
                                         "serial": "OVL-1", "primary_ip4": None})
    report = await _run(netbox)
    (problem,) = [p for p in report.problems if "overlapper" in p]
    assert problem == "device overlapper (NetBox id 99): U38 is already occupied by msk-acc-1"
    assert await Asset.count() == 5


async def test_a_wrong_token_is_a_clear_error(db, netbox):
    client = NetboxClient(netbox.url, "wrong")
    with pytest.raises(NetboxError, match="refused the token"):
        await import_netbox(client)
    await client.aclose()


def test_the_command_line_dry_run_and_help(tmp_path, netbox):
    env = {**os.environ, "RACKCARD_VAR_DIR": str(tmp_path / "var"), "RACKCARD_SECRET_KEY": "s" * 40,
           "RACKCARD_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}"}
    rackcard = [sys.executable, "-m", "rackcard.cli"]
    helped = subprocess.run([*rackcard, "import-netbox", "--help"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0 and "--dry-run" in helped.stdout
    dry = subprocess.run([*rackcard, "import-netbox", "--url", netbox.url, "--token", TOKEN, "--dry-run"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "+ device mc-acme-1" in dry.stdout
    real = subprocess.run([*rackcard, "import-netbox", "--url", netbox.url, "--token", TOKEN, "--json"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["counts"]["device"]["created"] == 5
