"""CMDB tables. Uniqueness and overlap rules live here too (indexes in the
migrations), not only in the service layer: a race cannot break them.

`*_norm` and `*_key` columns hold normalised copies (lower-case text, digits-only phones,
fixed-width hex IPs) so that search and range lookups use plain B-tree indexes
on both SQLite and PostgreSQL.
"""

from piccolo.columns import Boolean, ForeignKey, Integer, SmallInt, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Client(Table, tablename="cmdb_client"):
    code = Varchar(length=50, unique=True, index=True)
    name = Varchar(length=200)
    name_norm = Varchar(length=200, index=True)
    contract_number = Varchar(length=100, default="")
    status = Varchar(length=16, default="active")  # active | suspended | terminated
    notes = Text(default="")  # internal: never shown to client users
    sla_plan_id = Integer(null=True, default=None)  # incidents.SlaPlan (cmdb does not import incidents)
    timezone = Varchar(length=64, default="UTC")
    # the contract lets the client's own users power-cycle their equipment from the portal
    self_service_power = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Contact(Table, tablename="cmdb_contact"):
    client = ForeignKey(references=Client, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=200)
    name_norm = Varchar(length=200, index=True)
    email = Varchar(length=254, default="")
    email_norm = Varchar(length=254, default="", index=True)  # lower-case; unique per client (index in migration)
    phone = Varchar(length=50, default="")
    phone_norm = Varchar(length=32, default="", index=True)  # digits only, national trunk prefix normalised
    role = Varchar(length=100, default="")
    notify = Boolean(default=False)  # wants incident e-mail (opening, public updates)
    language = Varchar(length=8, default="en")  # en | ru: the language of that e-mail
    user_id = Integer(null=True, default=None)  # the client user who is this contact (portal; unique index in migration)


class Site(Table, tablename="cmdb_site"):
    code = Varchar(length=50, unique=True, index=True)
    name = Varchar(length=200, unique=True)
    name_norm = Varchar(length=200, index=True)
    kind = Varchar(length=20)  # datacenter | remote | client_premises
    address = Text(default="")
    timezone = Varchar(length=64, default="UTC")


class Rack(Table, tablename="cmdb_rack"):
    site = ForeignKey(references=Site, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=100)  # unique per site (index in migration)
    name_norm = Varchar(length=100, index=True)
    height_u = SmallInt(default=42)
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.set_null, index=True)


class Asset(Table, tablename="cmdb_asset"):
    name = Varchar(length=200)
    name_norm = Varchar(length=200, index=True)
    kind = Varchar(length=20, index=True)  # media_converter|router|switch|server|ups|pdu|other
    manufacturer = Varchar(length=100, default="")
    model = Varchar(length=100, default="")
    serial = Varchar(length=100, null=True, default=None)  # unique when given (partial index in migration)
    serial_norm = Varchar(length=100, null=True, default=None, index=True)
    site = ForeignKey(references=Site, on_delete=OnDelete.restrict, index=True)
    rack = ForeignKey(references=Rack, null=True, on_delete=OnDelete.restrict, index=True)
    position_u = SmallInt(null=True, default=None)
    rack_face = Varchar(length=5, null=True, default=None)  # front | rear: which side it is mounted on
    height_u = SmallInt(default=1)
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.restrict, index=True)
    mgmt_ip = Varchar(length=45, null=True, default=None, index=True)
    status = Varchar(length=16, default="active")  # active | spare | decommissioned
    # SNMP settings: secrets are returned to admins and probe workers only.
    snmp_version = Varchar(length=4, null=True, default=None)  # 2c | 3 | None = not polled
    snmp_community = Varchar(length=100, null=True, default=None)
    snmp_port = Integer(default=161)
    snmp_v3_user = Varchar(length=100, null=True, default=None)
    snmp_v3_auth_protocol = Varchar(length=16, null=True, default=None)  # MD5 | SHA | SHA256 ...
    snmp_v3_auth_key = Varchar(length=200, null=True, default=None)
    snmp_v3_priv_protocol = Varchar(length=16, null=True, default=None)  # DES | AES | AES256 ...
    snmp_v3_priv_key = Varchar(length=200, null=True, default=None)
    snmp_v3_context = Varchar(length=100, null=True, default=None)  # v3 context name, when the agent wants one
    poll_interval_s = Integer(default=60)
    profile = Varchar(length=50, null=True, default=None)  # probe profile; None/"auto": by sysObjectID, else by kind
    probe_overrides = Text(default="")  # JSON: check key -> rule parameters replacing the profile's
    notes = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class RackUnit(Table, tablename="cmdb_rack_unit"):
    """One row per occupied U: UNIQUE(rack, unit) makes overlaps impossible, even under races."""

    rack = ForeignKey(references=Rack, on_delete=OnDelete.cascade, index=True)
    unit = SmallInt()
    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)


class Service(Table, tablename="cmdb_service"):
    client = ForeignKey(references=Client, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(references=Site, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=20)  # internet | l2_channel | colocation | rack_rental | power | other
    bandwidth_mbps = Integer(null=True, default=None)
    status = Varchar(length=16, default="active")  # active | planned | suspended | terminated
    description = Text(default="")


class ServiceAsset(Table, tablename="cmdb_service_asset"):
    """Which assets deliver a service (unique pair, index in migration)."""

    service = ForeignKey(references=Service, on_delete=OnDelete.cascade, index=True)
    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)


class Interface(Table, tablename="cmdb_interface"):
    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)
    if_index = Integer()  # unique per asset (index in migration)
    name = Varchar(length=100, default="")
    role = Varchar(length=16, default="other")  # fiber | copper | uplink | client | other
    if_name = Varchar(length=100, default="")  # ifName read at discovery: polls verify the ifIndex still has it
    if_descr = Varchar(length=255, default="")  # ifDescr read at discovery
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.set_null, index=True)
    service = ForeignKey(references=Service, null=True, on_delete=OnDelete.set_null, index=True)


class Prefix(Table, tablename="cmdb_prefix"):
    prefix = Varchar(length=49)  # canonical CIDR; unique per VRF (index in migration)
    vrf = Varchar(length=50, default="")  # "" = global table
    family = SmallInt()  # 4 | 6
    prefix_len = SmallInt()
    first_key = Varchar(length=32, index=True)  # fixed-width hex of the first address
    last_key = Varchar(length=32)  # ... and of the last: containment is a range test
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(references=Site, null=True, on_delete=OnDelete.set_null, index=True)
    description = Text(default="")


class IPAddress(Table, tablename="cmdb_ip_address"):
    address = Varchar(length=45)  # canonical text, no mask
    vrf = Varchar(length=50, default="")
    family = SmallInt()
    ip_key = Varchar(length=32)  # fixed-width hex; UNIQUE(vrf, ip_key) in migration
    prefix_len = SmallInt(null=True, default=None)  # mask given with the address, if any
    client = ForeignKey(references=Client, null=True, on_delete=OnDelete.restrict, index=True)
    asset = ForeignKey(references=Asset, null=True, on_delete=OnDelete.set_null, index=True)
    description = Text(default="")


class Dependency(Table, tablename="cmdb_dependency"):
    """asset depends on depends_on: `power` (fed by that UPS/PDU) or `uplink` (reached through it)."""

    asset = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)
    depends_on = ForeignKey(references=Asset, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=10)  # power | uplink
    # power only: the PDU outlet feeding the asset (what a remote power-cycle switches)
    outlet_number = Integer(null=True, default=None)
    outlet_name = Varchar(length=100, default="")


class ImportRun(Table, tablename="cmdb_import_run"):
    """An import run in the background (`?background=true`, its progress read at
    GET /api/v1/imports/{id}) or chunked on SQLite. A chunked run's chunks are
    committed as they go (writers keep flowing), so the ids each chunk made are
    recorded with it (ImportRunRow): a run that fails is undone by the import
    itself, one whose process died (heartbeat gone stale) by
    cmdb.csvio.undo_interrupted."""

    kind = Varchar(length=20)
    status = Varchar(length=8, default="running")  # running | done | rejected | undone
    started_at = Timestamptz()
    heartbeat_at = Timestamptz()
    started_by = Varchar(length=254, default="")
    rows = Integer(default=0)  # data rows in the file
    done = Integer(default=0)  # rows gone through so far
    report = Text(default="")  # the final report (JSON), when finished
    finished_at = Timestamptz(null=True, default=None)


class ImportRunRow(Table, tablename="cmdb_import_run_row"):
    run = ForeignKey(references=ImportRun, on_delete=OnDelete.cascade, index=True)
    row_id = Integer()
