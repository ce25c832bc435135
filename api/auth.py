"""Sign-in for the agent API: OAuth2's password flow for bearer tokens, and who is calling.

`POST /api/auth/token` trades an e-mail and password for a bearer token; every other agent route depends on
`CurrentPrincipal`, which turns the `Authorization: Bearer …` header into a `Principal` or answers 401. The
rules (hashing, throttling, expiry, disabling) live in bot.agents.users; this module only speaks HTTP.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import DbSession
from bot.agents.access import Principal
from bot.agents.users import InvalidCredentials, LoginThrottled, authenticate, issue_token, revoke_token, user_for_token
from bot.common.settings import get_settings
from bot.ledger.models import Creditor, utcnow

router = APIRouter(prefix="/api/auth", tags=["auth"])

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]
_BEARER = {"WWW-Authenticate": "Bearer"}


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


def current_principal(request: Request, token: BearerToken, session: DbSession) -> Principal:
    """The signed-in caller, or 401: no token, or one unknown, expired, revoked, or of a disabled person."""
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers=_BEARER)
    user = user_for_token(session, token, utcnow(), kind="bearer")
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid or expired token", headers=_BEARER)
    return Principal.of(user, _address(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


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
def sign_out(principal: CurrentPrincipal, token: BearerToken, session: DbSession) -> None:
    """Revoke the token this request carries (the caller's own); it answers 401 from now on."""
    if token:
        revoke_token(session, token, utcnow())


@router.get("/me")
def me(principal: CurrentPrincipal, session: DbSession) -> MeOut:
    """Who the token belongs to and which creditors they see."""
    creditors = None
    if principal.creditor_ids is not None:
        creditors = list(session.scalars(select(Creditor.code).where(Creditor.id.in_(principal.creditor_ids))
                                         .order_by(Creditor.code)))
    return MeOut(email=principal.email, role=principal.role.value, creditors=creditors)
