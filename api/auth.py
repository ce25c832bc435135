"""Sign-in for the agent API and the agent console, and who is calling.

Two credentials, one rule book (hashing, throttling, expiry, disabling: bot.agents.users); this module only
speaks HTTP.

- **Bearer tokens** (API clients): `POST /api/auth/token` trades an e-mail and password for a token sent as
  `Authorization: Bearer …`. No ambient credential, so no CSRF check.
- **The console's session cookie** (browsers): `GET /console/login` shows the form, `POST /console/login`
  sets `acuerdo_session` (HttpOnly, SameSite=Strict, Secure on https, Path=/), `POST /console/logout` ends
  it. A session also ends after CONSOLE_IDLE_MINUTES unused. The browser sends the cookie by itself, so
  every unsafe request carrying it must also prove it comes from our own page: the `X-CSRF-Token` header
  (JavaScript) or the `csrf` form field (plain forms) equal to `csrf_token(request)`, an HMAC of the session
  under LINK_SIGNING_SECRET (so one session's token is worthless for another). The login form itself is
  protected by a signed double-submit cookie.

Routes depend on one of:

- `CurrentPrincipal` (the JSON agent API): the bearer token, else the session cookie (plus `X-CSRF-Token`
  on POST/PUT/PATCH/DELETE, else 403); 401 when neither is valid.
- `ConsolePrincipal` (the console's HTML pages): the session cookie only; without a live one, a 303 to
  `/console/login?next=<the page>`, which comes back there after signing in. Pages put
  `csrf_token(request)` in `<meta name="csrf-token">` and in the hidden `csrf` field of their forms.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import DbSession
from api.pages import render_page
from bot.agents.access import Principal
from bot.agents.users import (
    InvalidCredentials,
    LoginThrottled,
    authenticate,
    issue_token,
    live_token,
    revoke_token,
    touch_token,
    user_for_token,
)
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import AuthToken, Creditor, utcnow

router = APIRouter(prefix="/api/auth", tags=["auth"])
console_router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

SESSION_COOKIE = "acuerdo_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
CONSOLE_HOME = "/console"
LOGIN_PATH = "/console/login"
LOGOUT_PATH = "/console/logout"
LOGIN_CSRF_COOKIE = "acuerdo_login_csrf"  # the login form's double-submit nonce, sent only to LOGIN_PATH
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_REFUSED = "CSRF token missing or wrong"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]
_BEARER = {"WWW-Authenticate": "Bearer"}
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# Where a sign-in may lead: a path of the console on this site; never `//host`, a scheme, or a backslash
# (browsers read `/\host` as `//host`), nor anything with control characters or spaces.
_SAFE_NEXT = re.compile(r"/console(?:[/?#][^\\\x00-\x20\x7f]*)?")
_NEXT_MAX = 2000

_PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                 "Content-Security-Policy": "frame-ancestors 'none'"}
WRONG_CREDENTIALS = "Correo o contraseña incorrectos."
MISSING_CREDENTIALS = "Escribe tu correo y tu contraseña."
STALE_FORM = "La página de acceso caducó. Vuelve a escribir tus datos, por favor."


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int  # seconds


class MeOut(BaseModel):
    email: str
    role: str
    creditors: list[str] | None  # creditor codes; None: every creditor


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- CSRF -----------------------------------------------------------------------------------------------

def _sign(purpose: str, value: str) -> str:
    key = get_settings().link_signing_secret.encode()
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _same(expected: str, presented: str | None) -> bool:
    """Constant-time equality; nothing presented never matches."""
    return bool(presented) and hmac.compare_digest(expected.encode(), (presented or "").encode())


def _session_csrf(raw_session: str) -> str:
    return _sign("console-csrf", raw_session)


def csrf_token(request: Request) -> str:
    """The CSRF token of this request's console session ("" without a session cookie): the value pages put
    in `<meta name="csrf-token">` and in their forms' `csrf` field, and JavaScript sends as `X-CSRF-Token`.
    It stays the same for the whole session and is worthless for any other."""
    raw = request.cookies.get(SESSION_COOKIE)
    return _session_csrf(raw) if raw else ""


def csrf_ok(request: Request, presented: str | None) -> bool:
    """Whether `presented` (a header or form field) is this request's session's CSRF token."""
    raw = request.cookies.get(SESSION_COOKIE)
    return bool(raw) and _same(_session_csrf(raw or ""), presented)


# --- who is calling -------------------------------------------------------------------------------------

def _console_session(request: Request, session: DbSession) -> AuthToken | None:
    """The live session behind the cookie, if any (not yet counted as a use)."""
    raw = request.cookies.get(SESSION_COOKIE)
    return live_token(session, raw, utcnow(), kind="session") if raw else None


def _require_csrf_header(request: Request) -> None:
    if request.method not in SAFE_METHODS and not csrf_ok(request, request.headers.get(CSRF_HEADER)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, CSRF_REFUSED)


def current_principal(request: Request, token: BearerToken, session: DbSession) -> Principal:
    """The signed-in caller: by bearer token, else by the console's session cookie, whose unsafe requests
    must carry `X-CSRF-Token` (403 otherwise). 401: no credential, or one unknown, expired, idle, revoked,
    or of a disabled person."""
    now = utcnow()
    if token:
        user = user_for_token(session, token, now, kind="bearer")
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid or expired token", headers=_BEARER)
        return Principal.of(user, _address(request))
    if SESSION_COOKIE not in request.cookies:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers=_BEARER)
    live = _console_session(request, session)
    if live is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid or expired token", headers=_BEARER)
    _require_csrf_header(request)
    touch_token(session, live, now)
    return Principal.of(live.user, _address(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def still_signed_in(request: Request) -> bool:
    """For a long-lived response (the live stream): whether its credential still opens the door, so a
    revoked, idle or disabled session stops receiving updates (not counted as a use)."""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    raw = bearer if scheme.lower() == "bearer" and bearer else request.cookies.get(SESSION_COOKIE)
    if not raw:
        return False
    with session_scope() as session:
        return live_token(session, raw, utcnow(), kind="bearer" if bearer else "session") is not None


def login_url(request: Request) -> str:
    """The sign-in page, coming back to this page afterwards (GET only: a form cannot be replayed)."""
    if request.method not in ("GET", "HEAD"):
        return LOGIN_PATH
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{LOGIN_PATH}?{urlencode({'next': target})}"


def console_principal(request: Request, session: DbSession) -> Principal:
    """The person behind the console's session cookie, for HTML pages.

    Use it as a route parameter, `def page(request: Request, principal: ConsolePrincipal)`, on routers
    included in the app with `app.include_router` as usual: without a live session it raises
    `HTTPException(303)` with `Location: /console/login?next=<this page>`, which FastAPI's own handler turns
    into the redirect (no handler to register). Unsafe methods need the `X-CSRF-Token` header as in the API
    (403 otherwise); a plain form posting elsewhere checks its `csrf` field with `csrf_ok`.
    """
    live = _console_session(request, session)
    if live is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "Sign in first", headers={"Location": login_url(request)})
    _require_csrf_header(request)
    touch_token(session, live, utcnow())
    return Principal.of(live.user, _address(request))


ConsolePrincipal = Annotated[Principal, Depends(console_principal)]


# --- the API's bearer tokens ----------------------------------------------------------------------------

@router.post("/token")
def sign_in(request: Request, response: Response, form: Annotated[OAuth2PasswordRequestForm, Depends()],
            session: DbSession) -> TokenOut:
    """E-mail (as `username`) and password for a bearer token, shown once; 401 if wrong, 429 if throttled."""
    address = _address(request)
    try:
        user = authenticate(session, form.username, form.password, address, utcnow())
    except LoginThrottled as exc:
        session.commit()  # the attempt counts: the request's unit of work rolls back on the raise below
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "Too many failed sign-ins; try again later",
                            headers={"Retry-After": str(exc.retry_after_seconds)}) from None
    except InvalidCredentials:
        session.commit()  # as above: a failure that rolled back would not count toward the limit
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect username or password",
                            headers=_BEARER) from None
    raw, _ = issue_token(session, user, kind="bearer", address=address, now=utcnow())
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: a token response is never cached
    return TokenOut(access_token=raw, expires_in=get_settings().auth_token_minutes * 60)


@router.post("/revoke", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(request: Request, response: Response, principal: CurrentPrincipal, token: BearerToken,
             session: DbSession) -> None:
    """Revoke the credential this request carries (the caller's own); it answers 401 from now on."""
    if token:
        revoke_token(session, token, utcnow())
        return
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        revoke_token(session, raw, utcnow())
        _forget_session(response)


@router.get("/me")
def me(principal: CurrentPrincipal, session: DbSession) -> MeOut:
    """Who the token belongs to and which creditors they see."""
    creditors = None
    if principal.creditor_ids is not None:
        creditors = list(session.scalars(select(Creditor.code).where(Creditor.id.in_(principal.creditor_ids))
                                         .order_by(Creditor.code)))
    return MeOut(email=principal.email, role=principal.role.value, creditors=creditors)


# --- the console's sign-in and sign-out -----------------------------------------------------------------

def _secure_cookies() -> bool:
    settings = get_settings()
    return settings.is_production or settings.public_base_url.startswith("https")


def _forget_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure_cookies(), httponly=True, samesite="strict")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: `value` if it is a path of the console on this site, else the console."""
    if value and len(value) <= _NEXT_MAX and _SAFE_NEXT.fullmatch(value):
        return value
    return CONSOLE_HOME


def _login_form(request: Request, status_code: int = 200, *, error: str | None = None, email: str = "",
                next_path: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
    """The sign-in form, with its double-submit nonce: a random cookie only the login path receives, and in
    the form its HMAC, which a page on another site can neither read nor compute."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not _NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(32)
    kept_next = safe_next(next_path) if next_path else ""
    response = render_page("console/login.html", status_code, title="Entrar · Acuerdo", error=error,
                           email=email[:254], next=kept_next if kept_next != CONSOLE_HOME else "",
                           csrf=_sign("console-login", nonce), csrf_field=CSRF_FIELD, action=LOGIN_PATH)
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, path=LOGIN_PATH, secure=_secure_cookies(), httponly=True,
                        samesite="strict")
    response.headers.update({**_PAGE_HEADERS, **(headers or {})})
    return response


@console_router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: DbSession,
               next_path: Annotated[str, Query(alias="next")] = "") -> Response:
    """The sign-in form; someone already signed in goes straight on."""
    if _console_session(request, session) is not None:
        return RedirectResponse(safe_next(next_path), status.HTTP_303_SEE_OTHER)
    return _login_form(request, next_path=next_path)


@console_router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: DbSession, email: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
          next_path: Annotated[str, Form(alias="next")] = "") -> Response:
    """E-mail and password for a session cookie, then on to `next` (a console path) or the console.

    The same throttle and attempt records as the token route: 401 with the form again for wrong
    credentials, 429 with Retry-After when throttled; 403 with a fresh form when the form's CSRF value does
    not match this browser's (an old tab, or a page of another site posting here).
    """
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not _NONCE.fullmatch(nonce) or not _same(_sign("console-login", nonce), csrf):
        return _login_form(request, status.HTTP_403_FORBIDDEN, error=STALE_FORM, email=email, next_path=next_path)
    if not email.strip() or not password:
        return _login_form(request, status.HTTP_422_UNPROCESSABLE_ENTITY, error=MISSING_CREDENTIALS, email=email,
                           next_path=next_path)
    address = _address(request)
    try:
        user = authenticate(session, email, password, address, utcnow())
    except LoginThrottled as exc:
        session.commit()  # the attempt counts, whatever happens to the rest of the request
        minutes = -(-exc.retry_after_seconds // 60)
        wait = f"{minutes} minuto{'s' if minutes != 1 else ''}"
        return _login_form(request, status.HTTP_429_TOO_MANY_REQUESTS, email=email, next_path=next_path,
                           error=f"Demasiados intentos fallidos. Por seguridad, espera {wait} y vuelve a intentarlo.",
                           headers={"Retry-After": str(exc.retry_after_seconds)})
    except InvalidCredentials:
        session.commit()  # as above: a failure that rolled back would not count toward the limit
        return _login_form(request, status.HTTP_401_UNAUTHORIZED, error=WRONG_CREDENTIALS, email=email,
                           next_path=next_path)
    now = utcnow()
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # this browser's earlier session, if any, ends here: one session per browser
        revoke_token(session, previous, now)
    raw, _ = issue_token(session, user, kind="session", address=address, now=now)
    response = RedirectResponse(safe_next(next_path), status.HTTP_303_SEE_OTHER,
                                headers={"Cache-Control": "no-store"})
    response.set_cookie(SESSION_COOKIE, raw, path="/", secure=_secure_cookies(), httponly=True, samesite="strict")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH, secure=_secure_cookies(), httponly=True,
                           samesite="strict")
    return response


@console_router.post("/logout")
def logout(request: Request, session: DbSession, csrf: Annotated[str, Form()] = "") -> Response:
    """End this browser's session (the form's `csrf` field must match it) and go to the sign-in page."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        if not csrf_ok(request, csrf):
            return render_page("notice.html", status.HTTP_403_FORBIDDEN, title="No pudimos cerrar la sesión",
                               text="La página estaba desactualizada. Vuelve a la consola e inténtalo de nuevo.")
        revoke_token(session, raw, utcnow())
    response = RedirectResponse(LOGIN_PATH, status.HTTP_303_SEE_OTHER, headers={"Cache-Control": "no-store"})
    _forget_session(response)
    return response
