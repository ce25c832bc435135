"""The agent console's sign-in over HTTP: the session cookie, its CSRF token on the agent API, the idle
limit, sign-out, and the redirect of `ConsolePrincipal` pages, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import api.deps
from api.auth import ConsolePrincipal, csrf_token
from api.main import create_app
from bot.agents import users
from bot.agents.users import create_user, disable_user, issue_token
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import AuthToken, Conversation, ConversationMode, Debtor, LoginAttempt, Role
from bot.ledger.portfolio import import_portfolio_text
from bot.messaging.conversations import request_handoff
from tests.factories import ana_and_camila

PASSWORD = "una clave larga de prueba"
AGENT = "agent_aurora@acuerdo.example"
OTHER_AGENT = "agent_aurora_2@acuerdo.example"
HTTPS = "https://acuerdo.example"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher.from_parameters(CHEAPEST))


@pytest.fixture
def conversation(session: Session) -> int:
    """Ana's conversation, waiting in the queue; two agents of her creditor (Banco Aurora)."""
    now = datetime.now(UTC)
    import_portfolio_text(session, ana_and_camila())
    debtor_id = session.scalars(select(Debtor.id).where(Debtor.external_id == "D1")).one()
    handed_off = request_handoff(session, "whatsapp:+525512345678", "debtor_request", now - timedelta(minutes=5),
                                 debtor_id)
    for email in (AGENT, OTHER_AGENT):
        create_user(session, email, PASSWORD, Role.AGENT, ["banco-aurora"], now=now)
    session.commit()
    return handed_off.id


probe = APIRouter(prefix="/console")


@probe.get("/probe")
def probe_page(request: Request, principal: ConsolePrincipal) -> dict[str, str]:
    """A console page as the console's own router writes them: who, and the CSRF token for its meta tag."""
    return {"email": principal.email, "csrf": csrf_token(request)}


def _app(monkeypatch: pytest.MonkeyPatch, public_base_url: str) -> FastAPI:
    monkeypatch.setenv("PUBLIC_BASE_URL", public_base_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    api.deps.reset()
    app = create_app()
    app.include_router(probe)
    return app


@pytest.fixture
def browser(conversation: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], TestClient]]:
    """New browsers (each its own cookie jar) on one app, served over https as PUBLIC_BASE_URL says."""
    app = _app(monkeypatch, HTTPS)
    yield lambda: TestClient(app, base_url="https://testserver", follow_redirects=False)
    get_settings.cache_clear()


@pytest.fixture
def web(browser: Callable[[], TestClient]) -> TestClient:
    return browser()


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, email: str = AGENT, password: str = PASSWORD, **extra: str) -> Response:
    page = client.get("/console/login")
    assert page.status_code == 200, page.text
    return client.post("/console/login", data={"email": email, "password": password, "csrf": form_csrf(page.text),
                                               **extra})


def signed_in(client: TestClient, email: str = AGENT) -> str:
    """Sign in and return the session's CSRF token, as a console page would show it."""
    assert sign_in(client, email).status_code == 303
    page = client.get("/console/probe")
    assert page.status_code == 200 and page.json()["email"] == email
    return str(page.json()["csrf"])


def set_cookie(response: Response, name: str) -> str:
    """The Set-Cookie header for `name`."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def mode_of(conversation_id: int) -> ConversationMode:
    with session_scope() as session:
        return session.get_one(Conversation, conversation_id).mode


def session_tokens() -> list[AuthToken]:
    with session_scope() as session:
        tokens = list(session.scalars(select(AuthToken).where(AuthToken.kind == "session").order_by(AuthToken.id)))
        session.expunge_all()
        return tokens


# --- the sign-in page ---------------------------------------------------------------------------------

def test_the_login_page_is_a_spanish_accessible_form_with_a_csrf_field(web: TestClient) -> None:
    page = web.get("/console/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="es">' in html and "Entrar" in html
    assert '<label for="email">Correo electrónico</label>' in html
    assert '<label for="password">Contraseña</label>' in html
    assert re.search(r'<input id="email"[^>]*\bautofocus\b', html)
    assert form_csrf(html) and 'action="/console/login"' in html
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    nonce = set_cookie(page, "acuerdo_login_csrf")
    assert "HttpOnly" in nonce and "samesite=strict" in nonce.lower() and "Path=/console/login" in nonce
    assert SimpleCookie(nonce)["acuerdo_login_csrf"].value not in html  # the form holds its HMAC, not the nonce


def test_signing_in_sets_a_strict_http_only_secure_cookie_and_goes_to_the_console(web: TestClient) -> None:
    response = sign_in(web, "  Agent_Aurora@acuerdo.example")
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = set_cookie(response, "acuerdo_session")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Secure" in cookie
    assert "Path=/" in cookie
    [token] = session_tokens()
    assert token.kind == "session" and token.last_seen_at is not None
    assert SimpleCookie(cookie)["acuerdo_session"].value not in {token.token_hash}
    queue = web.get("/api/agent/queue")  # the agent API, with the cookie alone
    assert queue.status_code == 200 and len(queue.json()) == 1
    assert web.get("/api/auth/me").json()["email"] == AGENT
    assert web.get("/console/login").headers["location"] == "/console"  # signed in: straight on


def test_the_cookie_is_not_secure_on_plain_http(conversation: int, monkeypatch: pytest.MonkeyPatch) -> None:
    web = TestClient(_app(monkeypatch, "http://127.0.0.1:8000"), follow_redirects=False)
    response = sign_in(web)
    assert response.status_code == 303
    cookie = set_cookie(response, "acuerdo_session")
    assert "Secure" not in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert web.get("/api/agent/queue").status_code == 200


def test_a_wrong_password_is_401_with_the_form_again_in_spanish(web: TestClient) -> None:
    response = sign_in(web, password="no es la clave")
    assert response.status_code == 401
    assert "Correo o contraseña incorrectos." in response.text and 'role="alert"' in response.text
    assert f'value="{AGENT}"' in response.text and form_csrf(response.text)
    assert "acuerdo_session" not in response.headers.get("set-cookie", "")
    assert sign_in(web, "nadie@acuerdo.example").status_code == 401
    assert web.get("/api/agent/queue").status_code == 401


def test_the_login_form_needs_its_csrf_value_from_this_browser(web: TestClient,
                                                               browser: Callable[[], TestClient]) -> None:
    other = browser()
    foreign = form_csrf(other.get("/console/login").text)  # a value valid for another browser only
    web.get("/console/login")
    for csrf in ("", foreign):
        response = web.post("/console/login", data={"email": AGENT, "password": PASSWORD, "csrf": csrf})
        assert response.status_code == 403 and "caducó" in response.text
        assert "acuerdo_session" not in response.headers.get("set-cookie", "")
    with session_scope() as session:  # refused before the password was looked at
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    assert web.post("/console/login", data={"email": AGENT, "password": PASSWORD,
                                            "csrf": form_csrf(response.text)}).status_code == 303


def test_too_many_failures_are_429_with_the_form_and_counted(web: TestClient) -> None:
    for _ in range(5):  # LOGIN_MAX_FAILURES
        assert sign_in(web, password="no es la clave").status_code == 401
    with session_scope() as session:  # each failure was committed, though it answered an error
        assert session.scalar(select(func.count()).select_from(LoginAttempt)
                              .where(LoginAttempt.succeeded.is_(False))) == 5
    response = sign_in(web)  # the right password now: still refused
    assert response.status_code == 429
    assert "Demasiados intentos fallidos" in response.text and "minutos" in response.text
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    assert "acuerdo_session" not in response.headers.get("set-cookie", "")
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 6


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example",
                                    "/console.evil.example", "javascript:alert(1)", "/api/agent/queue",
                                    "/console\n/x", ""])
def test_sign_in_never_leads_off_the_console(web: TestClient, target: str) -> None:
    response = sign_in(web, next=target)
    assert response.status_code == 303 and response.headers["location"] == "/console"


def test_sign_in_comes_back_to_the_console_page_asked_for(web: TestClient) -> None:
    page = web.get("/console/login", params={"next": "/console/conversations/7?tab=notes"})
    assert 'name="next" value="/console/conversations/7?tab=notes"' in page.text
    response = web.post("/console/login", data={"email": AGENT, "password": PASSWORD, "csrf": form_csrf(page.text),
                                                "next": "/console/conversations/7?tab=notes"})
    assert response.headers["location"] == "/console/conversations/7?tab=notes"


# --- the session on the agent API ---------------------------------------------------------------------

def test_unsafe_requests_with_the_cookie_need_the_csrf_header(web: TestClient, conversation: int) -> None:
    csrf = signed_in(web)
    claim = f"/api/agent/conversations/{conversation}/claim"
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1] + "x"}):
        refused = web.post(claim, headers=headers)
        assert (refused.status_code, refused.json()) == (403, {"detail": "CSRF token missing or wrong"})
    assert mode_of(conversation) is ConversationMode.QUEUED  # nothing happened
    response = web.post(claim, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    assert mode_of(conversation) is ConversationMode.AGENT


def test_the_csrf_token_of_another_session_is_refused(browser: Callable[[], TestClient], conversation: int) -> None:
    mine, theirs = browser(), browser()
    signed_in(mine)
    their_csrf = signed_in(theirs, OTHER_AGENT)
    same_person = browser()
    own_other_session = signed_in(same_person)  # even the same person's other session
    claim = f"/api/agent/conversations/{conversation}/claim"
    for csrf in (their_csrf, own_other_session):
        assert mine.post(claim, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert mode_of(conversation) is ConversationMode.QUEUED


def test_bearer_requests_need_no_csrf(web: TestClient, conversation: int) -> None:
    with session_scope() as session:
        user = users.get_user(session, AGENT)
        assert user is not None
        raw, _ = issue_token(session, user, address=None, now=datetime.now(UTC))
    response = web.post(f"/api/agent/conversations/{conversation}/claim", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200


def test_a_bearer_token_is_no_session_cookie(browser: Callable[[], TestClient]) -> None:
    with session_scope() as session:
        user = users.get_user(session, AGENT)
        assert user is not None
        raw, _ = issue_token(session, user, address=None, now=datetime.now(UTC))
    client = browser()
    assert client.get("/api/agent/queue", headers={"Cookie": f"acuerdo_session={raw}"}).status_code == 401
    assert client.get("/console/probe", headers={"Cookie": f"acuerdo_session={raw}"}).status_code == 303


def test_a_session_ends_when_idle_and_each_use_slides_it(web: TestClient) -> None:
    signed_in(web)
    now = datetime.now(UTC)
    with session_scope() as session:  # 29 minutes unused: still open, and this use starts the count again
        session.execute(update(AuthToken).values(last_seen_at=now - timedelta(minutes=29)))
    assert web.get("/api/agent/queue").status_code == 200
    [token] = session_tokens()
    assert token.last_seen_at is not None and token.last_seen_at >= now - timedelta(seconds=5)
    with session_scope() as session:  # CONSOLE_IDLE_MINUTES (30) unused: over
        session.execute(update(AuthToken).values(last_seen_at=now - timedelta(minutes=30, seconds=1)))
    response = web.get("/api/agent/queue")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or expired token"})
    assert web.get("/console/probe").status_code == 303


def test_a_session_ends_at_its_expiry_however_busy(web: TestClient) -> None:
    signed_in(web)
    with session_scope() as session:
        session.execute(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert web.get("/api/agent/queue").status_code == 401


def test_signing_out_revokes_the_session(web: TestClient, browser: Callable[[], TestClient]) -> None:
    csrf = signed_in(web)
    raw = web.cookies["acuerdo_session"]
    refused = web.post("/console/logout", data={"csrf": "not it"})  # a page of another site cannot sign you out
    assert refused.status_code == 403
    assert web.get("/api/agent/queue").status_code == 200
    response = web.post("/console/logout", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    cleared = set_cookie(response, "acuerdo_session")
    assert "Max-Age=0" in cleared or "expires=Thu, 01 Jan 1970" in cleared
    [token] = session_tokens()
    assert token.revoked_at is not None
    stale = browser()  # the old cookie value, replayed
    assert stale.get("/api/agent/queue", headers={"Cookie": f"acuerdo_session={raw}"}).status_code == 401
    assert web.get("/console/probe").status_code == 303


def test_the_api_revoke_route_signs_a_cookie_session_out_too(web: TestClient) -> None:
    csrf = signed_in(web)
    assert web.post("/api/auth/revoke").status_code == 403  # unsafe: needs the header
    response = web.post("/api/auth/revoke", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert session_tokens()[0].revoked_at is not None


def test_a_disabled_persons_session_stops_at_once(web: TestClient) -> None:
    signed_in(web)
    with session_scope() as session:
        disable_user(session, AGENT, datetime.now(UTC))
    assert web.get("/api/agent/queue").status_code == 401
    assert web.get("/console/probe").status_code == 303
    assert sign_in(web).status_code == 401


# --- console pages ------------------------------------------------------------------------------------

def test_console_pages_send_strangers_to_sign_in_and_back(web: TestClient) -> None:
    response = web.get("/console/probe", params={"x": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fprobe%3Fx%3D1"
    page = web.get(response.headers["location"])
    assert 'name="next" value="/console/probe?x=1"' in page.text
    signed_in_again = web.post("/console/login", data={"email": AGENT, "password": PASSWORD,
                                                       "csrf": form_csrf(page.text), "next": "/console/probe?x=1"})
    assert signed_in_again.headers["location"] == "/console/probe?x=1"
    probe_page = web.get("/console/probe")
    assert probe_page.status_code == 200 and probe_page.json()["email"] == AGENT


def test_a_page_with_a_bearer_token_only_still_goes_to_sign_in(web: TestClient) -> None:
    with session_scope() as session:
        user = users.get_user(session, AGENT)
        assert user is not None
        raw, _ = issue_token(session, user, address=None, now=datetime.now(UTC))
    assert web.get("/console/probe", headers={"Authorization": f"Bearer {raw}"}).status_code == 303
