"""Integration commands: import-netbox."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _import_netbox(args: argparse.Namespace) -> int:
    from integrations.netbox import NetboxClient, NetboxError, import_netbox

    token = args.token or os.environ.get("RACKCARD_NETBOX_TOKEN", "")
    if not token:
        print("error: give --token or set RACKCARD_NETBOX_TOKEN (a NetBox API token with read access)", file=sys.stderr)
        return 2

    async def run():
        client = NetboxClient(args.url, token, page_size=args.page_size)
        try:
            return await import_netbox(client, dry_run=args.dry_run)
        finally:
            await client.aclose()

    try:
        report = args.run_async(run)
    except NetboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.text(diff=args.dry_run or args.verbose))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-netbox",
        help="import tenants, contacts, sites, racks, devices, interfaces, cables, VRFs, prefixes and IPs from NetBox",
        description="Read NetBox 4.x's REST API and create or update the matching clients, contacts, sites, racks, "
        "assets, interfaces, dependencies, prefixes and IP addresses, keeping NetBox ids so a re-run updates "
        "instead of duplicating (a device moved in NetBox moves here). Never deletes. One transaction.",
    )
    p.add_argument("--url", required=True, help="NetBox base URL, e.g. https://netbox.example.net")
    p.add_argument("--token", help="NetBox API token (default: RACKCARD_NETBOX_TOKEN)")
    p.add_argument("--dry-run", action="store_true", help="show what would change (a diff) and write nothing")
    p.add_argument("--page-size", type=int, default=250, help="objects per NetBox API page (default 250)")
    p.add_argument("--verbose", action="store_true", help="list every change, not only the counts")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_import_netbox)
