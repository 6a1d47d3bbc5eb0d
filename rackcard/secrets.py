"""Every column that holds a sealed secret (the composition root knows both
cmdb and incidents), and the rotation that seals them all again with the
current key — used after changing RACKCARD_SECRET_KEY, or once to seal what
an older version stored in clear."""

from __future__ import annotations

from accounts import secretbox
from database.transactions import atomic
from cmdb.services import ASSET
from cmdb.tables import Asset
from incidents.tables import WebhookEndpoint

#: table -> its sealed columns (the assets' from their field declarations).
SEALED = {
    Asset: tuple(f.column for f in ASSET.fields if f.secret),
    WebhookEndpoint: ("secret",),
}


async def rotate() -> dict[str, int]:
    """Open each stored secret (with the current or an old key, or as legacy
    clear text) and seal it with the current key, in one transaction."""
    counts: dict[str, int] = {}
    async with atomic():
        for table, columns in SEALED.items():
            cols = [table._meta.get_column_by_name(c) for c in columns]
            done = 0
            for row in await table.select(table._meta.primary_key, *cols):
                values = {col: secretbox.seal(secretbox.open(row[col._meta.name]))
                          for col in cols if row[col._meta.name] not in (None, "")}
                if values:
                    await table.update(values).where(table._meta.primary_key == row["id"])
                    done += len(values)
            counts[f"{table._meta.tablename} secrets"] = done
    return counts
