"""Issue 8, items 3 and 6, on both engines: SNMP settings only for admins,
secrets write-only and sealed at rest (the database file does not contain
them), key rotation, private SQLite files, security headers, rate-limited
token failures, revocable tokens and disabled users, webhook targets."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
from pathlib import Path

import httpx
import pytest

from accounts import secretbox
from database.transactions import is_sqlite
from accounts.tables import ApiToken
from cmdb.tables import Asset

COMMUNITY = "c0mmunity-XYZZY"
V3_KEY = "authpass-PLUGH-123"
HOOK_SECRET = "hook-secret-FROBOZZ-0123456789"


async def _site(api) -> dict:
    r = await api.post("/api/v1/sites", json={"name": "DC", "kind": "datacenter", "code": "DC"})
    assert r.status_code == 201, r.text
    return r.json()


async def _snmp_asset(api, site) -> dict:
    r = await api.post("/api/v1/assets", json={
        "name": "mc-1", "kind": "media_converter", "site_id": site["id"], "mgmt_ip": "10.0.0.9",
        "snmp_version": "2c", "snmp_community": COMMUNITY})
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_noc_changes_no_asset_at_all(api, client_as):
    """The NOC reads the inventory (issue 7's roles): any asset write is 403, SNMP settings included."""
    site = await _site(api)
    asset = await _snmp_asset(api, site)
    noc = await client_as("noc")
    for body in ({"mgmt_ip": "192.0.2.66"}, {"snmp_community": "guess"}, {"name": "mc-1b"}):
        r = await noc.patch(f"/api/v1/assets/{asset['id']}", json=body)
        assert r.status_code == 403, (body, r.text)
    row = await Asset.select(Asset.mgmt_ip, Asset.name).where(Asset.id == asset["id"]).first()
    assert row["mgmt_ip"] != "192.0.2.66" and row["name"] != "mc-1b"


@pytest.mark.parametrize("role", ["engineer"])
async def test_only_admins_change_snmp_settings(api, client_as, role):
    site = await _site(api)
    asset = await _snmp_asset(api, site)
    staff = await client_as(role)
    for body in ({"mgmt_ip": "192.0.2.66"}, {"snmp_port": 16100}, {"snmp_community": "guess"},
                 {"snmp_version": "3", "snmp_v3_user": "u"}):
        r = await staff.patch(f"/api/v1/assets/{asset['id']}", json=body)
        assert r.status_code == 403, (body, r.text)
        assert r.json()["errors"][0]["field"] == next(iter(body)), r.text
    r = await staff.post("/api/v1/assets", json={"name": "x", "kind": "switch", "site_id": site["id"],
                                                 "mgmt_ip": "192.0.2.66"})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "mgmt_ip"
    # Everything else stays theirs to change; an unchanged SNMP field is not a change.
    r = await staff.patch(f"/api/v1/assets/{asset['id']}", json={"name": "mc-1b", "mgmt_ip": "10.0.0.9"})
    assert r.status_code == 200, r.text
    row = await Asset.select(Asset.mgmt_ip, Asset.snmp_port).where(Asset.id == asset["id"]).first()
    assert row == {"mgmt_ip": "10.0.0.9", "snmp_port": 161}
    assert (await api.patch(f"/api/v1/assets/{asset['id']}", json={"snmp_port": 16100})).status_code == 200


async def test_secrets_are_write_only_and_sealed_at_rest(api, client_as, db):
    from accounts.services import create_token

    site = await _site(api)
    asset = await _snmp_asset(api, site)
    v3 = (await api.post("/api/v1/assets", json={
        "name": "ups-1", "kind": "ups", "site_id": site["id"], "mgmt_ip": "10.0.0.10", "snmp_version": "3",
        "snmp_v3_user": "upsuser", "snmp_v3_auth_protocol": "SHA", "snmp_v3_auth_key": V3_KEY})).json()
    hook = await api.post("/api/v1/webhooks", json={"name": "chat", "url": "https://chat.example.com/in",
                                                    "secret": HOOK_SECRET})
    assert hook.status_code == 201, hook.text
    assert "secret" not in hook.json() and hook.json()["secret_set"] is True
    noc = await client_as("noc")
    for client in (api, noc):
        seen = [await client.get(f"/api/v1/assets/{asset['id']}"), await client.get("/api/v1/assets"),
                await client.get(f"/api/v1/assets/{v3['id']}"), await client.get("/api/v1/export/assets"),
                await client.get("/api/v1/search", params={"q": "mc-1"})]
        if client is api:
            seen += [await client.get("/api/v1/webhooks"), await client.get(f"/api/v1/webhooks/{hook.json()['id']}")]
        for r in seen:
            assert r.status_code == 200, r.text
            for secret in (COMMUNITY, V3_KEY, "upsuser", HOOK_SECRET):
                assert secret not in r.text, (str(r.url), secret)
    one = (await api.get(f"/api/v1/assets/{v3['id']}")).json()
    assert one["snmp_v3_auth_key_set"] is True and one["snmp_v3_priv_key_set"] is False
    assert "snmp_v3_auth_key" not in one and "snmp_v3_user" not in one

    # Probe workers (only they) still get the secrets they poll with.
    probe = await create_token(probe="edge")
    targets = await api.get("/api/v1/probe/targets", headers={"Authorization": f"Bearer {probe}"})
    by_id = {t["asset_id"]: t for t in targets.json()}
    assert by_id[asset["id"]]["community"] == COMMUNITY
    assert (by_id[v3["id"]]["v3_user"], by_id[v3["id"]]["v3_auth_key"]) == ("upsuser", V3_KEY)
    assert (await noc.get("/api/v1/probe/targets")).status_code == 403

    # At rest: sealed in the rows, and absent from the database file itself.
    raw = await Asset.raw("SELECT snmp_community, snmp_v3_user, snmp_v3_auth_key FROM cmdb_asset")
    stored = [v for r in raw for v in r.values() if v]
    assert stored and all(v.startswith("enc1:") for v in stored), stored
    hooks = await Asset.raw("SELECT secret FROM inc_webhook")
    assert hooks[0]["secret"].startswith("enc1:")
    if is_sqlite():
        path = Path(db.connection_kwargs["database"])
        blob = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        for secret in (COMMUNITY, V3_KEY, "upsuser", HOOK_SECRET):
            assert secret.encode() not in blob, secret


async def test_rotation_reseals_with_the_new_key(api, db):
    from rackcard.secrets import rotate

    site = await _site(api)
    asset = await _snmp_asset(api, site)
    await Asset.update({Asset.snmp_v3_priv_key: "legacy-clear-text"}).where(Asset.id == asset["id"])
    old_key, new_key = "t" * 40, "n" * 40
    try:
        secretbox.configure(new_key, [old_key])
        counts = await rotate()
        assert sum(counts.values()) == 2
        secretbox.configure(new_key)  # the old key is gone now
        row = await Asset.select(Asset.snmp_community, Asset.snmp_v3_priv_key).where(Asset.id == asset["id"]).first()
        assert secretbox.open(row["snmp_community"]) == COMMUNITY
        assert secretbox.open(row["snmp_v3_priv_key"]) == "legacy-clear-text"
        assert row["snmp_v3_priv_key"].startswith("enc1:")
        secretbox.configure(old_key)
        with pytest.raises(secretbox.SecretError):
            secretbox.open(row["snmp_community"])
    finally:
        secretbox.configure(old_key)


async def test_sqlite_files_and_var_are_private(tmp_path):
    from rackcard import db as rdb

    var = tmp_path / "var"
    url = f"sqlite:///{var / 'rackcard.sqlite'}"
    async with rdb.connected(url):
        pass
    assert stat.S_IMODE(os.stat(var).st_mode) == 0o700
    for path in var.glob("rackcard.sqlite*"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


async def test_api_answers_carry_security_headers_and_no_store(api, http):
    for client, path in ((api, "/api/v1/me"), (http, "/api/v1/me"), (api, "/api/v1/assets/99")):
        r = await client.get(path)
        assert r.headers["cache-control"] == "no-store", path
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in r.headers["content-security-policy"].split("script-src")[1].split(";")[0]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]


async def test_pages_carry_no_store_and_static_files_may_be_cached(session_as, http):
    """The page that shows a new token (once) must not stay in a browser's or a proxy's cache."""
    from conftest import page_csrf

    admin, user = await session_as("admin")
    token = await page_csrf(admin, "/admin/tokens")
    shown = await admin.post("/admin/tokens", data={"csrf_token": token, "email": user.email, "name": "ci"})
    assert shown.status_code == 200 and 'id="new-token"' in shown.text, shown.text[:300]
    assert shown.headers["cache-control"] == "no-store"
    for path in ("/admin/tokens", "/incidents", "/login"):
        r = await admin.get(path)
        assert r.headers["cache-control"] == "no-store", path
    static = await http.get("/static/rackcard.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


async def test_bad_tokens_are_rate_limited_per_address(db, settings):
    from rackcard.app import create_app

    app = create_app(dataclasses.replace(settings, auth_failures_per_minute=3), manage_db=False, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for _ in range(3):
            assert (await c.get("/api/v1/me", headers={"Authorization": "Bearer rc_wrong"})).status_code == 401
        r = await c.get("/api/v1/me", headers={"Authorization": "Bearer rc_wrong"})
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_password_failures_are_limited_per_account_and_address(db):
    from accounts.ratelimit import FailureLimiter
    from accounts.services import authenticate_password, create_user
    from validation.errors import TooMany

    await create_user("ops@example.test", "engineer", "correct horse battery")
    limiter = FailureLimiter(3)
    for _ in range(3):
        assert await authenticate_password("ops@example.test", "wrong", limiter=limiter, source="10.0.0.1") is None
    with pytest.raises(TooMany):  # the account, even from another address
        await authenticate_password("ops@example.test", "correct horse battery", limiter=limiter, source="10.0.0.2")
    with pytest.raises(TooMany):  # the address, even for another account
        await authenticate_password("other@example.test", "x", limiter=limiter, source="10.0.0.1")


async def test_tokens_are_listed_and_revoked_users_disabled(api, client_as, app):
    engineer = await client_as("engineer")
    assert (await engineer.get("/api/v1/me")).status_code == 200
    assert (await engineer.get("/api/v1/tokens")).status_code == 403
    tokens = (await api.get("/api/v1/tokens")).json()
    assert len(tokens) == 2 and all("token_hash" not in t for t in tokens)
    mine = next(t for t in tokens if t["email"].startswith("engineer-"))
    revoked = await api.post(f"/api/v1/tokens/{mine['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert (await engineer.get("/api/v1/me")).status_code == 401

    noc = await client_as("noc")
    users = (await api.get("/api/v1/users")).json()
    noc_user = next(u for u in users if u["role"] == "noc")
    assert (await api.post(f"/api/v1/users/{noc_user['id']}/disable")).json()["active"] is False
    assert (await noc.get("/api/v1/me")).status_code == 401
    assert (await api.post(f"/api/v1/users/{noc_user['id']}/enable")).json()["active"] is True
    assert (await noc.get("/api/v1/me")).status_code == 200
    me = (await api.get("/api/v1/me")).json()
    assert (await api.post(f"/api/v1/users/{me['user_id']}/disable")).status_code == 409


async def test_token_and_session_checks_read_the_database_on_every_request(client_as, app):
    """No cache in front of the checks: a revocation, a role change or a disabled
    user written by another process (here: straight to the table, as the CLI or
    another web worker would) counts on the very next request."""
    from accounts.services import create_user, login, viewer_for_session
    from accounts.tables import User

    engineer = await client_as("engineer")
    me = (await engineer.get("/api/v1/me")).json()
    assert me["role"] == "engineer"
    await User.update({User.role: "noc"}).where(User.id == me["user_id"])
    assert (await engineer.get("/api/v1/me")).json()["role"] == "noc"
    await ApiToken.update({ApiToken.revoked: True}).where(ApiToken.user == me["user_id"])
    assert (await engineer.get("/api/v1/me")).status_code == 401

    await create_user("pages@example.test", "engineer", "correct horse battery")
    key, _ = await login("pages@example.test", "correct horse battery")
    assert (await viewer_for_session(key)).email == "pages@example.test"
    await User.update({User.active: False}).where(User.email == "pages@example.test")
    assert await viewer_for_session(key) is None


async def test_last_used_at_moves_coarsely(api, db):
    await api.get("/api/v1/me")
    for _ in range(50):
        row = await ApiToken.select(ApiToken.last_used_at).first()
        if row["last_used_at"] is not None:
            break
        await asyncio.sleep(0.02)
    assert row["last_used_at"] is not None
    first = row["last_used_at"]
    await api.get("/api/v1/me")
    await asyncio.sleep(0.1)
    assert (await ApiToken.select(ApiToken.last_used_at).first())["last_used_at"] == first  # not a write per request


async def test_webhooks_may_not_target_the_server_itself(api):
    for url in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8000/api/v1/me", "http://[::1]/",
                "http://localhost/", "http://[fe80::1]/", "http://0.0.0.0/"):
        r = await api.post("/api/v1/webhooks", json={"name": "x", "url": url})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url", (url, r.text)


async def test_the_login_form_is_rate_limited(db, settings):
    from conftest import csrf_of

    from accounts.services import create_user
    from rackcard.app import create_app

    await create_user("noc@example.test", "noc", "correct horse battery")
    app = create_app(dataclasses.replace(settings, auth_failures_per_minute=3), manage_db=False, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as browser:
        statuses = []
        for _ in range(4):
            token = csrf_of((await browser.get("/login")).text)
            r = await browser.post("/login", data={"email": "noc@example.test", "password": "wrong password",
                                                   "csrf_token": token})
            statuses.append(r.status_code)
        assert statuses == [400, 400, 400, 429], statuses
        token = csrf_of((await browser.get("/login")).text)
        r = await browser.post("/login", data={"email": "noc@example.test", "password": "correct horse battery",
                                               "csrf_token": token})
        assert r.status_code == 429  # the account waits out the minute, even with the right password
