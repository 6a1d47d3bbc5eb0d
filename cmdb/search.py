"""One search box for the support desk: client name/code, contact name/e-mail/
phone (any format), asset name/serial, IP address (exact, or the most specific
prefix containing it -> the client that owns it), site, rack.

Built to stay fast at 10,000 clients / 100,000 assets / 200,000 addresses:
- names, serials, e-mails and phones are matched through the indexed `*_norm`
  columns by exact and prefix lookups (a B-tree range: on PostgreSQL with the
  byte-wise operators its text_pattern_ops indexes answer, whatever the collation);
- an address is a point lookup on `ip_key`, and the prefixes that could contain
  it are a handful of point lookups on (family, first_key) — one per mask length;
- substring scans (clients, contacts) only when the index lookups found no
  exact match; asset names are scanned only when nothing matched at all.
Everything runs on one connection. Ranking: exact > prefix > prefix of a word > substring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from accounts.viewer import Viewer
from cmdb import addressing, normalise
from cmdb.resources import contains_sql, read_all, reading, require_staff
from database.rawsql import Sql, fetch_all

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

EXACT, PREFIX, WORD, SUBSTRING = 0, 1, 2, 3
FALLBACK_MIN_CHARS = 3
TYPE_ORDER = {"client": 0, "contact": 1, "ip_address": 2, "prefix": 3, "asset": 4, "site": 5, "rack": 6}
API_PATH = {
    "client": "clients", "contact": "contacts", "ip_address": "ip-addresses", "prefix": "prefixes",
    "asset": "assets", "site": "sites", "rack": "racks",
}


@dataclass
class Hit:
    type: str
    id: int
    label: str
    rank: int
    matched: str  # which field matched
    client_id: int | None = None
    client_name: str | None = None
    detail: str = ""
    order: float = 0.0  # within a rank (e.g. more specific prefixes first)
    extra: dict = field(default_factory=dict)

    def key(self) -> tuple:
        return (self.rank, self.order, TYPE_ORDER[self.type], self.label.casefold(), self.id)

    def as_dict(self) -> dict:
        return {
            "type": self.type,
            "id": self.id,
            "label": self.label,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "matched": self.matched,
            "detail": self.detail,
            "url": f"/api/v1/{API_PATH[self.type]}/{self.id}",
            **self.extra,
        }


def rank_of(value: str | None, needle: str) -> int | None:
    """How well normalised `value` matches normalised `needle`, or None."""
    if not value or not needle:
        return None
    if value == needle:
        return EXACT
    if value.startswith(needle):
        return PREFIX
    pos = value.find(needle)
    if pos < 0:
        return None
    return WORD if not value[pos - 1].isalnum() else SUBSTRING


def starts_with(q: Sql, column: str, value: str) -> str:
    """SQL: `column` starts with `value`, as a range of code points (SQLite's
    binary order; PostgreSQL's byte-wise `~>=~`/`~<~`, which its
    text_pattern_ops indexes answer whatever the collation). A range, not
    LIKE 'x%': the statement's plan does not depend on the value, so
    PostgreSQL plans it once per connection."""
    low, high = "", ""
    if not q.sqlite:
        low, high = "~", "~"
    return f"({column} {low}>={high} {q(value)} AND {column} {low}<{high} {q(value + chr(0xFFFF))})"


def contains(q: Sql, column: str, text: str) -> str:
    """SQL: `column` contains `text` (cmdb.resources.contains)."""
    return contains_sql(column, q(text.lower()), q.sqlite)


async def search(viewer: Viewer, q: str, limit: int = DEFAULT_LIMIT) -> list[dict]:
    require_staff(viewer)  # client users: scope results to viewer.client_id when the portal opens this
    q = (q or "").strip()
    limit = max(1, min(limit, MAX_LIMIT))
    if not q:
        return []
    hits: dict[tuple[str, int], Hit] = {}

    def add(hit: Hit) -> None:
        old = hits.get((hit.type, hit.id))
        if old is None or hit.key() < old.key():
            hits[(hit.type, hit.id)] = hit

    async with reading():
        parsed = addressing.parse_address_or_prefix(q)
        if isinstance(parsed, addressing.Address):
            await _by_address(parsed, add, limit)
        elif isinstance(parsed, addressing.Prefix):
            await _by_prefix(parsed, add, limit)
        else:
            await _by_text(q, add, limit)
        ordered = sorted(hits.values(), key=Hit.key)[:limit]
    return [h.as_dict() for h in ordered]


# --------------------------------------------------------------------------- addresses


async def _by_address(a: addressing.Address, add, limit: int) -> None:
    await read_all(_addresses(a, add, limit), _managed_at(a, add, limit), _containing_prefixes(a, add, limit))


async def _addresses(a: addressing.Address, add, limit: int) -> None:
    q = Sql()
    rows = await q.fetch(
        "SELECT i.id AS id, i.address AS address, i.vrf AS vrf, i.client AS client, i.asset AS asset,"
        " a.name AS asset_name, a.client AS asset_client, c.name AS client_name"
        " FROM cmdb_ip_address i LEFT JOIN cmdb_asset a ON i.asset = a.id"
        " LEFT JOIN cmdb_client c ON c.id = COALESCE(i.client, a.client)"
        f" WHERE i.ip_key = {q(a.key)} AND i.family = {q(a.family)} LIMIT {q(limit)}")
    for r in rows:
        owner = r["client"] or r["asset_client"]
        where = f"VRF {r['vrf']}" if r["vrf"] else "global table"
        add(Hit("ip_address", r["id"], r["address"], EXACT, "address", owner, r["client_name"],
                detail=f"{where}" + (f", on {r['asset_name']}" if r["asset_name"] else ""),
                extra={"vrf": r["vrf"], "asset_id": r["asset"]}))


async def _managed_at(a: addressing.Address, add, limit: int) -> None:
    q = Sql()
    for r in await q.fetch("SELECT a.id AS id, a.name AS name, a.client AS client, a.kind AS kind, c.name AS client_name"
                           " FROM cmdb_asset a LEFT JOIN cmdb_client c ON a.client = c.id"
                           f" WHERE a.mgmt_ip = {q(a.address)} LIMIT {q(limit)}"):
        add(Hit("asset", r["id"], r["name"], EXACT, "mgmt_ip", r["client"], r["client_name"],
                detail=f"{r['kind']}, management address"))


async def _containing_prefixes(a: addressing.Address, add, limit: int, max_len: int | None = None) -> None:
    """The prefixes containing `a`, most specific first; the owner of the most
    specific owned one is offered as a client hit ("whose address is this?")."""
    candidates = [key for length, key in addressing.containing_network_keys(a) if max_len is None or length <= max_len]
    q = Sql()
    rows = await q.fetch(
        "SELECT p.id AS id, p.prefix AS prefix, p.prefix_len AS prefix_len, p.vrf AS vrf, p.client AS client,"
        " c.name AS client_name FROM cmdb_prefix p LEFT JOIN cmdb_client c ON p.client = c.id"
        f" WHERE p.family = {q(a.family)} AND p.first_key IN {q.texts(candidates)} AND p.last_key >= {q(a.key)}"
        f" ORDER BY p.prefix_len DESC LIMIT {q(limit)}")
    owner_offered = False
    for r in rows:
        rank = EXACT if max_len is not None and r["prefix_len"] == max_len else PREFIX
        add(Hit("prefix", r["id"], r["prefix"], rank, "prefix contains address", r["client"], r["client_name"],
                detail=f"VRF {r['vrf']}" if r["vrf"] else "global table", order=-r["prefix_len"],
                extra={"vrf": r["vrf"]}))
        if r["client"] and not owner_offered:
            owner_offered = True
            add(Hit("client", r["client"], r["client_name"], PREFIX, f"owns {r['prefix']}", r["client"], r["client_name"],
                    detail=f"owns {r['prefix']}", order=-r["prefix_len"] - 0.5))


async def _by_prefix(p: addressing.Prefix, add, limit: int) -> None:
    first = addressing.Address(address=addressing.text_of(p.first, p.family), family=p.family, key=p.first_key, prefix_len=None)
    await _containing_prefixes(first, add, limit, max_len=p.prefix_len)


# --------------------------------------------------------------------------- text


#: Per result type: (matched field, row column, needle name) pairs to rank a row,
#: the client columns, and the detail line.
TEXT_MATCHES = {
    "client": ([("code", "code", "code"), ("name", "name_norm", "text")], "id", "name",
               lambda r: f"client {r['code']}"),
    "contact": ([("name", "name_norm", "text"), ("email", "email_norm", "email"), ("phone", "phone_norm", "phone")],
                "client", "client_name", lambda r: " ".join(x for x in (r["email_norm"], r["phone"]) if x)),
    "asset": ([("name", "name_norm", "text"), ("serial", "serial_norm", "serial")], "client", "client_name",
              lambda r: f"{r['kind']} at {r['site_name']}" + (f", s/n {r['serial']}" if r["serial"] else "")),
    "site": ([("name", "name_norm", "text"), ("code", "code", "code")], None, None, lambda r: f"{r['kind']} {r['code']}"),
    "rack": ([("name", "name_norm", "text")], "client", "client_name", lambda r: f"at {r['site_name']}"),
}


async def _by_text(q: str, add, limit: int) -> None:
    """Three tiers, cheapest first: index lookups (exact and prefix); substring
    scans of the smaller tables unless the first tier found an exact match; a
    scan of asset names only when nothing matched at all."""
    needles = {
        "text": normalise.text(q),
        "code": normalise.code(q),
        "serial": normalise.serial(q) or "",
        "email": normalise.email(q),
        "phone": normalise.phone(q) if normalise.looks_like_phone(q) else "",
    }
    text, code, phone = needles["text"], needles["code"], needles["phone"]

    def query(kind: str, where: Callable[[Sql], str]) -> tuple[str, Sql, str]:
        q = Sql()
        condition = where(q)
        return kind, q, f"{SELECTS[kind]} WHERE {condition} LIMIT {q(limit)}"

    indexed = [
        query("client", lambda q: starts_with(q, "c.code", code)),
        query("client", lambda q: starts_with(q, "c.name_norm", text)),
        query("contact", lambda q: starts_with(q, "k.name_norm", text)),
        query("asset", lambda q: starts_with(q, "a.name_norm", text)),
        # sites are few: a substring scan costs nothing
        query("site", lambda q: f"({contains(q, 's.name_norm', text)} OR {starts_with(q, 's.code', code)})"),
        query("rack", lambda q: starts_with(q, "r.name_norm", text)),
    ]
    if "@" in q or "." in q:
        indexed.append(query("contact", lambda q: starts_with(q, "k.email_norm", needles["email"])))
    if phone:
        indexed.append(query("contact", lambda q: starts_with(q, "k.phone_norm", phone)))
    if needles["serial"]:
        indexed.append(query("asset", lambda q: starts_with(q, "a.serial_norm", needles["serial"])))
    found, exact = _collect(indexed, await _run(indexed), needles, add)
    if exact:
        return
    scans = [
        query("client", lambda q: contains(q, "c.name_norm", text)),
        query("contact", lambda q: contains(q, "k.name_norm", " " + text)),
    ]
    if phone:  # a number without its area code: "123-45-67"
        scans.append(query("contact", lambda q: contains(q, "k.phone_norm", phone)))
    more, _ = _collect(scans, await _run(scans), needles, add)
    if not found and not more and len(text) >= FALLBACK_MIN_CHARS:
        # Nothing anywhere: look inside asset names too ("core" in "msk-core-1").
        fallback = [query("asset", lambda q: contains(q, "a.name_norm", text))]
        _collect(fallback, await _run(fallback), needles, add)


#: The select of each result type, the columns TEXT_MATCHES reads.
SELECTS = {
    "client": "SELECT c.id AS id, c.name AS name, c.name_norm AS name_norm, c.code AS code FROM cmdb_client c",
    "contact": "SELECT k.id AS id, k.name AS name, k.name_norm AS name_norm, k.email_norm AS email_norm,"
               " k.phone AS phone, k.phone_norm AS phone_norm, k.client AS client, c.name AS client_name"
               " FROM cmdb_contact k LEFT JOIN cmdb_client c ON k.client = c.id",
    "asset": "SELECT a.id AS id, a.name AS name, a.name_norm AS name_norm, a.serial AS serial,"
             " a.serial_norm AS serial_norm, a.kind AS kind, a.client AS client, c.name AS client_name,"
             " s.name AS site_name FROM cmdb_asset a LEFT JOIN cmdb_client c ON a.client = c.id"
             " LEFT JOIN cmdb_site s ON a.site = s.id",
    "site": "SELECT s.id AS id, s.name AS name, s.name_norm AS name_norm, s.code AS code, s.kind AS kind FROM cmdb_site s",
    "rack": "SELECT r.id AS id, r.name AS name, r.name_norm AS name_norm, r.client AS client,"
            " c.name AS client_name, s.name AS site_name FROM cmdb_rack r LEFT JOIN cmdb_client c ON r.client = c.id"
            " LEFT JOIN cmdb_site s ON r.site = s.id",
}


async def _run(plan: list[tuple[str, Sql, str]]) -> list:
    """The rows of each (kind, q, sql) of a tier, its statements sent together as one read."""
    return await fetch_all([(q, sql) for _, q, sql in plan])


def _collect(plan: list, results: list, needles: dict, add) -> tuple[int, bool]:
    """Rank the rows of each query; -> (how many matched, whether one matched exactly)."""
    found, exact = 0, False
    for (kind, _, _), rows in zip(plan, results):
        matches, client_key, client_name_key, detail = TEXT_MATCHES[kind]
        for r in rows:
            for matched, column, needle in matches:
                value = r[column].casefold() if column == "code" else r[column]
                rank = rank_of(value, needles[needle].casefold() if needle == "code" else needles[needle])
                if rank is not None:
                    found += 1
                    exact = exact or rank == EXACT
                    client_id = r[client_key] if client_key else None
                    client_name = r[client_name_key] if client_name_key else None
                    add(Hit(kind, r["id"], r["name"], rank, matched, client_id, client_name, detail=detail(r)))
    return found, exact

