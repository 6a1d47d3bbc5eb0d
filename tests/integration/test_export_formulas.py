"""CSV exports never hand a spreadsheet a formula (OWASP "CSV injection"), on
both engines: the record lists' export.csv (incidents, maintenance windows,
SLA plans, webhooks) and the KPI report's CSV write a text cell that starts
with = + - @ tab or CR behind an apostrophe, as the CMDB exports do."""

from __future__ import annotations

import csv
import io

from accounts.viewer import SYSTEM
from incidents import services
from tests.integration import incident_data as data

FORMULA = '=HYPERLINK("http://evil.example/x","click")'


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _inert(cells: list[str], text: str) -> None:
    assert "'" + text in cells, (text, cells)
    assert text not in cells, (text, cells)


async def test_exports_make_formula_cells_inert(db, api, session_as):
    plan = await data.plan("=1+1")
    client = await data.client("+cmd", plan_id=plan)
    site = await data.site("remote", name="@site")
    asset = await data.asset(site, "mc-1", client_id=client)
    await services.create_manual(SYSTEM, services.ManualIncident(
        title=FORMULA, category="fiber", client_id=client, source="phone", asset_ids=(asset,), priority="P3"),
        now=data.T0)
    window = await api.post("/api/v1/maintenance-windows", json={
        "asset_id": asset, "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T11:00:00Z",
        "reason": "-2+3 swap the converter"})
    assert window.status_code == 201, window.text
    hook = await api.post("/api/v1/webhooks", json={"name": "@chat", "url": "https://chat.example.com/in"})
    assert hook.status_code == 201, hook.text

    admin, _ = await session_as("admin")
    for path, text in (("/incidents", FORMULA), ("/maintenance", "-2+3 swap the converter"),
                       ("/sla-plans", "=1+1"), ("/webhooks", "@chat")):
        response = await admin.get(f"{path}/export.csv")
        assert response.status_code == 200, (path, response.text[:300])
        _inert(_cells(response.text), text)

    for group_by, label in (("client", "+cmd"), ("site", "@site")):
        response = await api.get(f"/api/v1/reports/kpi/csv?from=2026-11-23&to=2026-11-23&group_by={group_by}"
                                 "&table=groups")
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        labels = [r["label"] for r in rows] + [r["group"] for r in rows]
        assert "'" + label in labels and label not in labels, (label, rows)
