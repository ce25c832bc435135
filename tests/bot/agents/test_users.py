"""Users, passwords, throttled sign-in and tokens (bot.agents.users), on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.agents import users
from bot.agents.access import Principal
from bot.agents.users import (
    InvalidCredentials,
    LoginThrottled,
    UserError,
    authenticate,
    create_user,
    disable_user,
    issue_token,
    list_users,
    live_token,
    revoke_token,
    user_for_token,
)
from bot.ledger.db import session_scope
from bot.ledger.models import AuditLog, AuthToken, Creditor, LoginAttempt, Role, User

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, with the cheapest parameters: sign-in tests hash dozens of times."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher.from_parameters(CHEAPEST))


@pytest.fixture
def ledger(session: Session) -> Session:
    session.add_all([Creditor(code="banco-aurora", name="Banco Aurora"),
                     Creditor(code="finanzas-norte", name="Finanzas del Norte")])
    session.commit()
    return session


def make_user(session: Session, email: str = "ana@acuerdo.example", role: Role = Role.AGENT,
              creditors: tuple[str, ...] = ("banco-aurora",), **options: bool) -> User:
    user = create_user(session, email, PASSWORD, role, creditors, now=NOW, **options)
    session.commit()
    return user


# --- passwords and users ---------------------------------------------------------------------------------

def test_passwords_are_argon2id_hashes_that_verify(ledger: Session) -> None:
    user = make_user(ledger)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert users.verify_password(user.password_hash, PASSWORD)
    assert not users.verify_password(user.password_hash, PASSWORD + "!")
    assert not users.verify_password("not-a-hash", PASSWORD)  # a broken stored hash is a mismatch, not a 500


def test_a_hash_made_with_weaker_parameters_is_upgraded_at_sign_in(ledger: Session,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(ledger)
    weak = user.password_hash
    monkeypatch.setattr(users, "_hasher", PasswordHasher())  # the library's current defaults
    authenticate(ledger, user.email, PASSWORD, "10.0.0.1", NOW)
    assert user.password_hash != weak and "m=65536" in user.password_hash
    assert users.verify_password(user.password_hash, PASSWORD)


def test_create_normalises_scopes_and_audits_without_the_password(ledger: Session) -> None:
    agent = make_user(ledger, "  Ana@Acuerdo.Example ", creditors=("finanzas-norte", "banco-aurora", "banco-aurora"))
    assert agent.email == "ana@acuerdo.example"
    assert [c.code for c in agent.creditors] == ["banco-aurora", "finanzas-norte"]
    assert Principal.of(agent).creditor_ids == frozenset(c.id for c in agent.creditors)
    supervisor = make_user(ledger, "sofia@acuerdo.example", Role.SUPERVISOR, (), all_creditors=True)
    admin = make_user(ledger, "root@acuerdo.example", Role.ADMIN, ())
    assert supervisor.all_creditors and admin.all_creditors
    assert Principal.of(supervisor).creditor_ids is None and Principal.of(admin).creditor_ids is None

    assert [u.email for u in list_users(ledger)] == ["ana@acuerdo.example", "root@acuerdo.example",
                                                     "sofia@acuerdo.example"]
    audit = ledger.scalars(select(AuditLog).where(AuditLog.action == "user_created",
                                                  AuditLog.entity_id == str(agent.id))).one()
    assert audit.actor == "cli" and audit.entity_type == "user"
    assert audit.details == {"email": "ana@acuerdo.example", "role": "agent", "all_creditors": False,
                             "creditors": ["banco-aurora", "finanzas-norte"]}
    assert PASSWORD not in str(audit.details) and agent.password_hash not in str(audit.details)


@pytest.mark.parametrize(("email", "password", "role", "codes", "all_creditors", "message"), [
    ("ana", PASSWORD, Role.AGENT, ["banco-aurora"], False, "not an e-mail address: 'ana'"),
    ("ana@localhost", PASSWORD, Role.AGENT, ["banco-aurora"], False, "not an e-mail address"),
    ("a b@x.example", PASSWORD, Role.AGENT, ["banco-aurora"], False, "not an e-mail address"),
    ("ana@x.example", "short pass", Role.AGENT, ["banco-aurora"], False, "at least 12 characters"),
    ("ana@x.example", PASSWORD, Role.AGENT, ["banco-aurora", "nope", "nada"], False, "unknown creditors: nope, nada"),
    ("ana@x.example", PASSWORD, Role.AGENT, [], False, "an agent needs at least one creditor"),
    ("ana@x.example", PASSWORD, Role.SUPERVISOR, [], False, "a supervisor needs at least one creditor"),
    ("ana@x.example", PASSWORD, Role.SUPERVISOR, ["banco-aurora"], True, "not both"),
    ("ana@x.example", PASSWORD, Role.ADMIN, ["banco-aurora"], False, "an admin sees every creditor"),
    ("ana@x.example", PASSWORD, "boss", ["banco-aurora"], False, "unknown role 'boss'"),
])
def test_create_refuses_what_it_cannot_honour(ledger: Session, email: str, password: str, role: Role,
                                              codes: list[str], all_creditors: bool, message: str) -> None:
    with pytest.raises(UserError, match=message):
        create_user(ledger, email, password, role, codes, all_creditors=all_creditors, now=NOW)
    assert ledger.scalar(select(func.count()).select_from(User)) == 0


def test_an_email_is_taken_once_whatever_its_case(ledger: Session) -> None:
    make_user(ledger)
    with pytest.raises(UserError, match="a user ana@acuerdo.example already exists"):
        create_user(ledger, "ANA@acuerdo.example", PASSWORD, Role.AGENT, ["banco-aurora"], now=NOW)


def test_disabling_revokes_every_token_and_is_audited(ledger: Session) -> None:
    user = make_user(ledger)
    raw_one, _ = issue_token(ledger, user, address="10.0.0.1", now=NOW)
    raw_two, _ = issue_token(ledger, user, kind="session", address="10.0.0.1", now=NOW)
    ledger.commit()
    disabled = disable_user(ledger, " ANA@acuerdo.example", NOW + timedelta(minutes=1))
    ledger.commit()
    assert disabled.disabled_at == NOW + timedelta(minutes=1)
    assert all(t.revoked_at == NOW + timedelta(minutes=1) for t in ledger.scalars(select(AuthToken)))
    assert user_for_token(ledger, raw_one, NOW + timedelta(minutes=2)) is None
    assert user_for_token(ledger, raw_two, NOW + timedelta(minutes=2)) is None
    audit = ledger.scalars(select(AuditLog).where(AuditLog.action == "user_disabled")).one()
    assert audit.details == {"email": "ana@acuerdo.example", "tokens_revoked": 2}
    assert disable_user(ledger, user.email, NOW + timedelta(hours=1)).disabled_at == NOW + timedelta(minutes=1)
    with pytest.raises(UserError, match="no user nobody@acuerdo.example"):
        disable_user(ledger, "nobody@acuerdo.example", NOW)


# --- sign-in --------------------------------------------------------------------------------------------

def attempts(session: Session, **where: object) -> list[tuple[str, str | None, bool]]:
    query = select(LoginAttempt).filter_by(**where).order_by(LoginAttempt.id)
    return [(a.email, a.address, a.succeeded) for a in session.scalars(query)]


def fail(session: Session, email: str, address: str, at: datetime, password: str = "wrong password!") -> None:
    with pytest.raises(InvalidCredentials):
        authenticate(session, email, password, address, at)
    session.commit()


def test_sign_in_records_every_attempt_and_one_answer_for_every_failure(ledger: Session) -> None:
    user = make_user(ledger)
    make_user(ledger, "gone@acuerdo.example")
    disable_user(ledger, "gone@acuerdo.example", NOW)
    ledger.commit()
    assert authenticate(ledger, " Ana@Acuerdo.example", PASSWORD, "10.0.0.1", NOW) is user
    ledger.commit()
    fail(ledger, "ana@acuerdo.example", "10.0.0.1", NOW)  # wrong password
    fail(ledger, "nobody@acuerdo.example", "10.0.0.2", NOW, PASSWORD)  # unknown e-mail
    fail(ledger, "gone@acuerdo.example", "10.0.0.3", NOW, PASSWORD)  # disabled, right password
    with session_scope() as other:  # committed, as a request's would be
        assert attempts(other) == [("ana@acuerdo.example", "10.0.0.1", True),
                                   ("ana@acuerdo.example", "10.0.0.1", False),
                                   ("nobody@acuerdo.example", "10.0.0.2", False),
                                   ("gone@acuerdo.example", "10.0.0.3", False)]


def test_unknown_emails_cost_a_hash_too(ledger: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    verified: list[str] = []
    real = users.verify_password
    monkeypatch.setattr(users, "verify_password", lambda h, p: verified.append(h) or real(h, p))
    fail(ledger, "nobody@acuerdo.example", "10.0.0.1", NOW)
    assert len(verified) == 1 and verified[0].startswith("$argon2id$")


def test_too_many_failures_for_an_email_throttle_it_even_with_the_right_password(ledger: Session) -> None:
    make_user(ledger)
    for minute in range(5):  # login_max_failures, from five addresses
        fail(ledger, "ana@acuerdo.example", f"10.0.0.{minute}", NOW + timedelta(minutes=minute))
    later = NOW + timedelta(minutes=6)
    with pytest.raises(LoginThrottled) as throttled:
        authenticate(ledger, "ana@acuerdo.example", PASSWORD, "10.9.9.9", later)
    ledger.commit()
    # Free again once the second failure (at minute 1) leaves the 15-minute window: 4 failures remain.
    assert throttled.value.retry_after_seconds == 10 * 60
    assert attempts(ledger, address="10.9.9.9") == [("ana@acuerdo.example", "10.9.9.9", False)]
    assert authenticate(ledger, "ana@acuerdo.example", PASSWORD, "10.9.9.9", later + timedelta(minutes=10))
    ledger.commit()
    # A success resets the count for the e-mail.
    fail(ledger, "ana@acuerdo.example", "10.0.0.1", later + timedelta(minutes=11))
    assert authenticate(ledger, "ana@acuerdo.example", PASSWORD, "10.0.0.1", later + timedelta(minutes=12))


def test_another_email_is_not_throttled_by_ones_failures(ledger: Session) -> None:
    make_user(ledger)
    make_user(ledger, "beto@acuerdo.example")
    for second in range(5):
        fail(ledger, "ana@acuerdo.example", f"10.0.0.{second}", NOW + timedelta(seconds=second))
    assert authenticate(ledger, "beto@acuerdo.example", PASSWORD, "10.0.0.1", NOW + timedelta(seconds=10))


def test_too_many_failures_from_an_address_throttle_it_across_emails(ledger: Session) -> None:
    make_user(ledger)
    for second in range(20):  # 4 x login_max_failures, spread so that no e-mail reaches its own limit
        fail(ledger, f"guess{second}@acuerdo.example", "203.0.113.7", NOW + timedelta(seconds=second))
    with pytest.raises(LoginThrottled) as throttled:
        authenticate(ledger, "ana@acuerdo.example", PASSWORD, "203.0.113.7", NOW + timedelta(seconds=30))
    assert throttled.value.retry_after_seconds == 15 * 60 - 30 + 1  # until the 2nd failure (at 1 s) ages out
    ledger.commit()
    assert authenticate(ledger, "ana@acuerdo.example", PASSWORD, "198.51.100.1", NOW + timedelta(seconds=31))


def test_old_failures_fall_out_of_the_window(ledger: Session) -> None:
    make_user(ledger)
    for minute in range(5):
        fail(ledger, "ana@acuerdo.example", "10.0.0.1", NOW + timedelta(minutes=minute))
    assert authenticate(ledger, "ana@acuerdo.example", PASSWORD, "10.0.0.1", NOW + timedelta(minutes=16))


# --- tokens ---------------------------------------------------------------------------------------------

def test_a_token_is_stored_only_as_its_sha256_and_expires(ledger: Session) -> None:
    user = make_user(ledger)
    raw, token = issue_token(ledger, user, address="10.0.0.1", now=NOW)
    ledger.commit()
    assert len(raw) >= 43 and token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.kind == "bearer" and token.address == "10.0.0.1"
    assert token.expires_at == NOW + timedelta(minutes=480)
    stored = ledger.execute(select(AuthToken.__table__)).one()._asdict()  # no column holds the raw token
    assert raw not in {str(value) for value in stored.values()}
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=479)) is user
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=480)) is None
    assert user_for_token(ledger, raw[:-1], NOW) is None
    assert user_for_token(ledger, "", NOW) is None
    assert user_for_token(ledger, raw, NOW, kind="session") is None


def test_a_revoked_token_stops_working(ledger: Session) -> None:
    user = make_user(ledger)
    raw, _ = issue_token(ledger, user, address=None, now=NOW)
    other, _ = issue_token(ledger, user, address=None, now=NOW)
    assert revoke_token(ledger, raw, NOW + timedelta(minutes=1))
    assert not revoke_token(ledger, raw, NOW + timedelta(minutes=2))  # already revoked
    assert not revoke_token(ledger, "nonsense", NOW)
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=2)) is None
    assert user_for_token(ledger, other, NOW + timedelta(minutes=2)) is user


def test_a_disabled_user_loses_access_at_once(ledger: Session) -> None:
    user = make_user(ledger)
    raw, token = issue_token(ledger, user, address=None, now=NOW)
    ledger.commit()
    user.disabled_at = NOW  # even without disable_user revoking the tokens
    ledger.commit()
    assert token.revoked_at is None
    assert user_for_token(ledger, raw, NOW + timedelta(seconds=1)) is None
    with pytest.raises(UserError, match="disabled"):
        issue_token(ledger, user, address=None, now=NOW)


def test_a_session_ends_after_console_idle_minutes_unused(ledger: Session) -> None:
    user = make_user(ledger)
    raw, token = issue_token(ledger, user, kind="session", address=None, now=NOW)
    assert token.last_seen_at == NOW
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=29), kind="session") is user  # a use: slides
    assert token.last_seen_at == NOW + timedelta(minutes=29)
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=58), kind="session") is user
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=88), kind="session") is None  # 30 unused
    assert token.last_seen_at == NOW + timedelta(minutes=58)  # a refused use does not slide it
    assert user_for_token(ledger, raw, NOW + timedelta(minutes=58), kind="bearer") is None


def test_a_busy_session_still_ends_at_its_expiry_and_a_bearer_token_never_idles(ledger: Session) -> None:
    user = make_user(ledger)
    session_raw, _ = issue_token(ledger, user, kind="session", address=None, now=NOW)
    bearer_raw, bearer = issue_token(ledger, user, address=None, now=NOW)
    for minutes in range(20, 480, 20):
        assert user_for_token(ledger, session_raw, NOW + timedelta(minutes=minutes)) is user
    assert user_for_token(ledger, session_raw, NOW + timedelta(minutes=480)) is None  # AUTH_TOKEN_MINUTES
    assert user_for_token(ledger, bearer_raw, NOW + timedelta(minutes=479)) is user  # hours unused: fine
    assert bearer.last_seen_at is None  # bearer tokens are not tracked


def test_a_sessions_last_use_is_written_at_most_once_a_minute(ledger: Session) -> None:
    user = make_user(ledger)
    raw, token = issue_token(ledger, user, kind="session", address=None, now=NOW)
    ledger.commit()
    for seconds in (1, 30, 59):
        assert user_for_token(ledger, raw, NOW + timedelta(seconds=seconds)) is user
        assert token not in ledger.dirty and token.last_seen_at == NOW
    assert user_for_token(ledger, raw, NOW + timedelta(seconds=60)) is user
    assert token.last_seen_at == NOW + timedelta(seconds=60)
    assert live_token(ledger, raw, NOW + timedelta(seconds=200)) is token  # looking is not a use
    assert token.last_seen_at == NOW + timedelta(seconds=60)


def test_an_idle_or_disabled_persons_session_is_not_live_but_can_still_be_revoked(ledger: Session) -> None:
    user = make_user(ledger)
    raw, token = issue_token(ledger, user, kind="session", address=None, now=NOW)
    assert live_token(ledger, raw, NOW + timedelta(minutes=31)) is None
    assert revoke_token(ledger, raw, NOW + timedelta(minutes=31))  # signing out leaves it dead for good
    assert token.revoked_at == NOW + timedelta(minutes=31)
    other, _ = issue_token(ledger, user, kind="session", address=None, now=NOW)
    user.disabled_at = NOW
    assert live_token(ledger, other, NOW + timedelta(seconds=1)) is None
