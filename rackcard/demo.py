"""`rackcard demo`: demo data, then simulated SNMP agents for the demo assets."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

log = logging.getLogger("rackcard.demo")

CREDENTIALS_FILE = "demo-credentials.txt"


@asynccontextmanager
async def demo_context(settings):
    from cmdb.demo import seed_demo

    result = await seed_demo()
    announce(result, settings.var_dir, f"http://{settings.host}:{settings.port}")
    from incidents.desk_demo import seed_desk_demo

    desk = await seed_desk_demo()
    if desk.seeded:
        log.info("support desk demo: %d articles, %d canned replies, %d incidents over six weeks",
                 desk.articles, desk.replies, desk.incidents)
    # Simulated SNMP agents for the demo assets (probes feature): one snmpsim
    # process, one recording per polled demo asset (community = its name).
    async with _demo_snmp_agents(settings):
        yield


@asynccontextmanager
async def _demo_snmp_agents(settings):
    from cmdb.demo import demo_snmp_port
    from cmdb.tables import Asset, Interface
    from probes.simulator import SimDevice, demo_agents

    port = demo_snmp_port()
    rows = await Asset.select(Asset.id, Asset.kind, Asset.snmp_community, Asset.mgmt_ip).where(
        Asset.mgmt_ip.like("127.%") & (Asset.snmp_port == port) & (Asset.snmp_version == "2c")
        & Asset.snmp_community.is_not_null()
    )
    ifaces: dict[int, list] = {}
    if rows:
        for i in await Interface.select().where(Interface.asset.is_in([r["id"] for r in rows])):
            ifaces.setdefault(i["asset"], []).append((i["if_index"], i["role"], i["name"]))
    devices = [SimDevice(r["snmp_community"], r["kind"], tuple(ifaces.get(r["id"], ()))) for r in rows]
    hosts = sorted({r["mgmt_ip"] for r in rows})  # each demo device has its own loopback address
    async with demo_agents(devices, port, root=Path(settings.var_dir) / "demo-snmpsim", host=hosts[0] if hosts else
                           "127.0.0.1", hosts=hosts) as agent:
        yield agent


def announce(result, var_dir: Path, base_url: str) -> None:
    """Log how to log in and a first API token; login and password are also kept in var/ (mode 600)."""
    path = Path(var_dir) / CREDENTIALS_FILE
    if not result.seeded:
        hint = f" (see {path})" if path.exists() else ""
        log.info("demo data already present; log in as %s%s", result.admin_email, hint)
        return
    log.info("demo data seeded: %s", ", ".join(f"{v} {k}" for k, v in result.counts.items()))
    if result.admin_password is None:
        return
    lines = [
        f"login:    {result.admin_email}",
        f"password: {result.admin_password}",
        f"token:    {result.admin_token}",
        f"try:      curl -H 'Authorization: Bearer {result.admin_token}' '{base_url}/api/v1/search?q=romashka'",
    ]
    log.info("demo admin (the token is shown once; login and password also saved to %s):\n    %s",
             path, "\n    ".join(lines))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines[:2]) + "\n")
    path.chmod(0o600)
