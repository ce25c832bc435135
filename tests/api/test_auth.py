"""Sign-in over HTTP: OAuth2's password flow for a bearer token, 401 and 429 as clients expect them."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.main import create_app
from bot.agents import users
from bot.agents.users import create_user, disable_user
from bot.ledger.db import session_scope
from bot.ledger.models import AuthToken, Creditor, LoginAttempt, Role

PASSWORD = "correct horse battery"
BEARER = {"WWW-Authenticate": "Bearer"}


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app on a fresh database with an agent (Banco Aurora) and an admin."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher.from_parameters(CHEAPEST))
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add_all([Creditor(code="banco-aurora", name="Banco Aurora"),
                         Creditor(code="finanzas-norte", name="Finanzas del Norte")])
        session.flush()
        create_user(session, "ana@acuerdo.example", PASSWORD, Role.AGENT, ["banco-aurora"], now=now)
        create_user(session, "root@acuerdo.example", PASSWORD, Role.ADMIN, [], now=now)
    yield TestClient(create_app())


def sign_in(client: TestClient, username: str = "ana@acuerdo.example", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/token", data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_for_the_right_password_opens_me(client: TestClient) -> None:
    response = sign_in(client, "  ANA@acuerdo.example")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
    assert response.headers["cache-control"] == "no-store"
    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {"email": "ana@acuerdo.example", "role": "agent", "creditors": ["banco-aurora"]}
    admin = sign_in(client, "root@acuerdo.example").json()["access_token"]
    assert client.get("/api/auth/me", headers=bearer(admin)).json() == {
        "email": "root@acuerdo.example", "role": "admin", "creditors": None}
    with session_scope() as session:  # the token's address is the client's
        assert set(session.scalars(select(AuthToken.address))) == {"testclient"}


@pytest.mark.parametrize(("username", "password"), [
    ("ana@acuerdo.example", "wrong password!"), ("nobody@acuerdo.example", PASSWORD), ("", ""),
])
def test_wrong_credentials_are_one_401(client: TestClient, username: str, password: str) -> None:
    response = sign_in(client, username, password)
    if not username:  # the form's fields are required
        assert response.status_code == 422
        return
    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect username or password"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_disabled_user_cannot_sign_in_and_loses_their_token(client: TestClient) -> None:
    token = sign_in(client).json()["access_token"]
    with session_scope() as session:
        disable_user(session, "ana@acuerdo.example", datetime.now(UTC))
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401
    response = sign_in(client)
    assert (response.status_code, response.json()) == (401, {"detail": "Incorrect username or password"})


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": "Basic YW5hOng="}])
def test_no_or_an_unknown_token_is_401_with_a_bearer_challenge(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] in ("Not authenticated", "Invalid or expired token")
    assert client.post("/api/auth/revoke", headers=headers).status_code == 401


def test_an_expired_token_is_401(client: TestClient) -> None:
    token = sign_in(client).json()["access_token"]
    with session_scope() as session:
        session.execute(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    response = client.get("/api/auth/me", headers=bearer(token))
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired token"})


def test_revoke_signs_out_that_token_only(client: TestClient) -> None:
    token, other = (sign_in(client).json()["access_token"] for _ in range(2))
    response = client.post("/api/auth/revoke", headers=bearer(token))
    assert response.status_code == 204 and response.content == b""
    response = client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/auth/me", headers=bearer(other)).status_code == 200


def test_failures_are_kept_and_throttle_with_429_and_retry_after(client: TestClient) -> None:
    for _ in range(5):  # LOGIN_MAX_FAILURES
        assert sign_in(client, password="wrong password!").status_code == 401
    with session_scope() as session:  # each 401 committed its attempt, though the request raised
        assert len(list(session.scalars(select(LoginAttempt).where(LoginAttempt.succeeded.is_(False))))) == 5
    response = sign_in(client)  # the right password, now: still refused, and it says nothing about it
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    assert response.json() == {"detail": "Too many failed sign-ins; try again later"}
    assert sign_in(client, password="wrong password!").status_code == 429
    assert sign_in(client, "root@acuerdo.example").status_code == 200  # another e-mail from the address
