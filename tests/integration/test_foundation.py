"""The foundation: both engines migrate, tokens authenticate, errors are problem details."""

from accounts.services import create_token, create_user, verify_password
from accounts.tables import ApiToken, User


async def test_unauthenticated_api_is_401(http):
    response = await http.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "bearer" in response.json()["detail"].lower()


async def test_bad_token_is_401(http):
    response = await http.get("/api/v1/me", headers={"Authorization": "Bearer rc_not-a-real-token"})
    assert response.status_code == 401


async def test_tokens_and_passwords_are_hashed_at_rest(db):
    await create_user("a@example.test", "admin", "long enough password")
    token = await create_token("a@example.test")
    row = await ApiToken.objects().first()
    assert token not in (row.token_hash, row.prefix)
    user = await User.objects().first()
    assert user.password_hash.startswith("$argon2")
    assert verify_password(user.password_hash, "long enough password")


async def test_openapi_json_is_served(http):
    response = await http.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "rackcard"


async def test_token_acts_as_its_user(client_as):
    client = await client_as("noc")
    response = await client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["role"] == "noc"
