"""People who use the agent API, their passwords, sign-in and tokens.

Passwords are kept only as argon2id hashes (argon2-cffi's defaults, re-hashed at sign-in when those
defaults move). Sign-in is rate-limited per e-mail and per client address from the `login_attempts` table,
checked before the password is, so a throttled guess learns nothing; an unknown e-mail, a wrong password
and a disabled account are one and the same answer, and an unknown e-mail still costs a hash, so timing
does not tell them apart. Tokens are random strings of which only the SHA-256 is stored: the table leaks no
credential. A disabled person loses every token at once. Tokens are of two kinds: `bearer` (the API's
`Authorization` header) ends only at its expiry; `session` (the agent console's cookie) also ends after
CONSOLE_IDLE_MINUTES unused, its last use written at most once a minute.

`authenticate` records each attempt in the caller's session and then raises on failure: a caller whose unit
of work rolls back on error must commit before it turns the exception into an answer, or the failures
(and so the throttle) are lost.
"""
from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from bot.common.settings import get_settings
from bot.ledger.models import AuditLog, AuthToken, Creditor, LoginAttempt, Role, User

MIN_PASSWORD_LENGTH = 12
ADDRESS_FAILURE_FACTOR = 4  # an address may fail this many times the per-e-mail limit (an office behind one NAT)
TOKEN_KINDS = ("bearer", "session")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_EMAIL_MAX = 254  # the column's length, and RFC 5321's
_ADDRESS_MAX = 64
_TOKEN_MAX = 128  # token_urlsafe(32) is 43 characters; anything much longer is not ours
TOUCH_INTERVAL = timedelta(minutes=1)  # a session's last use is written at most this often

_hasher = PasswordHasher()


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why, for an operator."""


class InvalidCredentials(Exception):
    """Unknown e-mail, wrong password or disabled account: deliberately one answer for all three."""


class LoginThrottled(Exception):
    """Too many failed sign-ins for this e-mail or address lately; try again in `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


# --- passwords ------------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches; a malformed stored hash is a mismatch, never an error."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against for unknown e-mails, so they cost as much time as a real account."""
    return _hasher.hash(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- users ----------------------------------------------------------------------------------------------

def create_user(session: Session, email: str, password: str, role: Role | str, creditor_codes: Iterable[str], *,
                all_creditors: bool = False, now: datetime, actor: str = "cli") -> User:
    """A new person, scoped to the given creditors (an admin sees every creditor). Raises UserError."""
    login = normalise_email(email)
    if len(login) > _EMAIL_MAX or not _EMAIL.fullmatch(login):
        raise UserError(f"not an e-mail address: {email.strip()!r}")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r} (one of {', '.join(Role)})") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    codes = list(dict.fromkeys(code.strip() for code in creditor_codes))
    if role is Role.ADMIN:
        if codes:
            raise UserError("an admin sees every creditor: give no creditor")
        all_creditors = True
    elif all_creditors and codes:
        raise UserError("give creditors or all creditors, not both")
    elif not all_creditors and not codes:
        raise UserError(f"a{'n' if role is Role.AGENT else ''} {role} needs at least one creditor "
                        "(or all creditors)")
    creditors = list(session.scalars(select(Creditor).where(Creditor.code.in_(codes)))) if codes else []
    missing = [code for code in codes if code not in {creditor.code for creditor in creditors}]
    if missing:
        raise UserError(f"unknown creditor{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if session.scalars(select(User.id).where(User.email == login)).first() is not None:
        raise UserError(f"a user {login} already exists")
    user = User(email=login, password_hash=hash_password(password), role=role, all_creditors=all_creditors,
                created_at=now, creditors=sorted(creditors, key=lambda creditor: creditor.id))
    session.add(user)
    session.flush()
    session.add(AuditLog(at=now, actor=actor, action="user_created", entity_type="user", entity_id=str(user.id),
                         details={"email": login, "role": role.value, "all_creditors": all_creditors,
                                  "creditors": [creditor.code for creditor in user.creditors]}))
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    """Everyone, by e-mail, with their creditors loaded."""
    return list(session.scalars(select(User).options(selectinload(User.creditors)).order_by(User.email)))


def get_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalise_email(email))).one_or_none()


def disable_user(session: Session, email: str, now: datetime, *, actor: str = "cli") -> User:
    """Take a person's access away now: no sign-in, and every token they hold stops working.

    Disabling someone already disabled changes nothing (their first `disabled_at` stays). Raises UserError
    for an unknown e-mail.
    """
    user = get_user(session, email)
    if user is None:
        raise UserError(f"no user {normalise_email(email)}")
    if user.disabled_at is not None:
        return user
    user.disabled_at = now
    tokens = list(session.scalars(select(AuthToken).where(AuthToken.user_id == user.id,
                                                          AuthToken.revoked_at.is_(None))))
    for token in tokens:
        token.revoked_at = now
    session.add(AuditLog(at=now, actor=actor, action="user_disabled", entity_type="user", entity_id=str(user.id),
                         details={"email": user.email, "tokens_revoked": len(tokens)}))
    session.flush()
    return user


# --- sign-in --------------------------------------------------------------------------------------------

def authenticate(session: Session, email: str, password: str, address: str | None, now: datetime) -> User:
    """The person these credentials belong to; raises LoginThrottled or InvalidCredentials.

    Every attempt is added to `session` (and flushed) before anything is raised: commit it even when this
    raises. A throttled attempt is stored as a failure too, so a client that keeps hammering instead of
    waiting the Retry-After it was told stays shut out.
    """
    settings = get_settings()
    login = normalise_email(email)[:_EMAIL_MAX]
    # Serialise attempts on one account (PostgreSQL; SQLite serialises writers anyway), so parallel
    # guesses cannot all slip under the limit.
    user = session.scalars(select(User).where(User.email == login).with_for_update()).one_or_none()
    attempt = LoginAttempt(email=login, address=address[:_ADDRESS_MAX] if address else None, succeeded=False,
                           at=now)
    session.add(attempt)
    session.flush()
    retry_after = _throttled_for(session, attempt, settings.login_max_failures,
                                 timedelta(minutes=settings.login_window_minutes))
    if retry_after is not None:
        raise LoginThrottled(retry_after)
    if user is None:
        verify_password(_dummy_hash(), password)
        raise InvalidCredentials()
    if not verify_password(user.password_hash, password) or user.disabled_at is not None:
        raise InvalidCredentials()
    attempt.succeeded = True
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return user


def _throttled_for(session: Session, attempt: LoginAttempt, max_failures: int, window: timedelta) -> int | None:
    """Seconds until a sign-in may be tried again, or None if `attempt` (stored, as a failure) may go ahead.

    Per e-mail, the failures since its last success count (knowing the password resets the count); per
    address every failure does, so a valid account of one's own buys no more guesses at others.
    """
    since = attempt.at - window
    last_success = (select(func.max(LoginAttempt.at))
                    .where(LoginAttempt.email == attempt.email, LoginAttempt.succeeded.is_(True),
                           LoginAttempt.at > since)
                    .scalar_subquery())
    waits = [_wait(session, [LoginAttempt.email == attempt.email, LoginAttempt.at > func.coalesce(last_success, since)],
                   max_failures, attempt, window)]
    if attempt.address is not None:
        waits.append(_wait(session, [LoginAttempt.address == attempt.address, LoginAttempt.at > since],
                           ADDRESS_FAILURE_FACTOR * max_failures, attempt, window))
    blocked = [wait for wait in waits if wait is not None]
    return max(blocked) if blocked else None


def _wait(session: Session, conditions: list[ColumnElement[bool]], max_failures: int, attempt: LoginAttempt,
          window: timedelta) -> int | None:
    """None if fewer than `max_failures` failures came before `attempt` in the window; else the seconds
    until enough of them (`attempt` itself included) leave it for the next attempt to go ahead."""
    times = list(session.scalars(select(LoginAttempt.at)
                                 .where(LoginAttempt.succeeded.is_(False), LoginAttempt.id <= attempt.id, *conditions)
                                 .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc()).limit(max_failures + 1)))
    if len(times) <= max_failures:
        return None
    # The next attempt goes ahead once fewer than `max_failures` failures remain: once the
    # `max_failures`-th newest (counting this one) is out of the window.
    return max(1, math.ceil((times[max_failures - 1] + window - attempt.at).total_seconds()))


# --- tokens ---------------------------------------------------------------------------------------------

def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(session: Session, user: User, *, kind: str = "bearer", address: str | None,
                now: datetime) -> tuple[str, AuthToken]:
    """A new token for `user`: the raw string (to hand over once, never stored) and its stored record."""
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if user.disabled_at is not None:
        raise UserError(f"{user.email} is disabled")
    raw = secrets.token_urlsafe(32)
    token = AuthToken(token_hash=token_hash(raw), user_id=user.id, kind=kind,
                      address=address[:_ADDRESS_MAX] if address else None, created_at=now,
                      expires_at=now + timedelta(minutes=get_settings().auth_token_minutes),
                      last_seen_at=now if kind == "session" else None)
    session.add(token)
    session.flush()
    return raw, token


def _stored_token(session: Session, raw: str, now: datetime, kind: str | None = None) -> AuthToken | None:
    """The unrevoked, unexpired token stored for `raw` (of `kind`, if given), whatever its idle time."""
    if not raw or len(raw) > _TOKEN_MAX:
        return None
    query = select(AuthToken).where(AuthToken.token_hash == token_hash(raw), AuthToken.revoked_at.is_(None),
                                    AuthToken.expires_at > now)
    if kind is not None:
        query = query.where(AuthToken.kind == kind)
    return session.scalars(query).one_or_none()


def session_idle(token: AuthToken, now: datetime) -> bool:
    """Whether a console session has gone unused for CONSOLE_IDLE_MINUTES (bearer tokens never idle out)."""
    if token.kind != "session":
        return False
    last_use = token.last_seen_at or token.created_at
    return now - last_use >= timedelta(minutes=get_settings().console_idle_minutes)


def live_token(session: Session, raw: str, now: datetime, *, kind: str | None = None) -> AuthToken | None:
    """The token for `raw` if it still opens the door, else None: unknown, expired, revoked, of another kind,
    a session idle too long, or its person disabled (checked on every use, so disabling takes effect at once).

    Looking does not count as a use: call `touch_token` once the request is allowed.
    """
    token = _stored_token(session, raw, now, kind)
    if token is None or session_idle(token, now) or token.user.disabled_at is not None:
        return None
    return token


def touch_token(session: Session, token: AuthToken, now: datetime) -> None:
    """Count a use of a session: its idle time starts again. Written at most once every TOUCH_INTERVAL per
    session, so a console polling every few seconds does not write a row each time."""
    if token.kind == "session" and (token.last_seen_at is None or now - token.last_seen_at >= TOUCH_INTERVAL):
        token.last_seen_at = now
        session.flush()


def user_for_token(session: Session, raw: str, now: datetime, *, kind: str | None = None) -> User | None:
    """Who holds this token (a use: a session's idle time starts again), or None if it is unknown, expired,
    revoked, of another kind, a session idle too long, or its person is disabled."""
    token = live_token(session, raw, now, kind=kind)
    if token is None:
        return None
    touch_token(session, token, now)
    return token.user


def revoke_token(session: Session, raw: str, now: datetime) -> bool:
    """Sign out: the token stops working. False if there was none to revoke (unknown, expired or already
    revoked); a session idle too long is revoked all the same."""
    token = _stored_token(session, raw, now)
    if token is None:
        return False
    token.revoked_at = now
    session.flush()
    return True
