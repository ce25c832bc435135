from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.identity import (
    IdentityAnswer,
    Outcome,
    candidates_for_phone,
    lock_status,
    mark_wrong_number,
    parse_identity_answer,
    verified_debtor,
    verify,
)
from bot.portfolio import import_portfolio_text
from bot.settings import Settings
from bot.storage.models import AuditLog, IdentityCheck, Phone
from tests.factories import portfolio, row

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)
SETTINGS = Settings(verification_max_attempts=3, verification_lock_minutes=30, verification_valid_hours=24)
ANA = "+525512345678"
STRANGER = "+525599990000"


@pytest.fixture
def ledger(session: Session) -> Session:
    import_portfolio_text(session, portfolio(
        row("D1", "Ana Ruiz", "55 1234 5678", "5544332211", "1985-03-12", "MX", "A-1", "banco-aurora",
            "Tarjeta", "MXN", "1000", "0", "0", 10),
        row("D2", "Pedro Soto", "9 8765 4321", "12.345.678-5", "", "CL", "A-2", "finanzas-norte",
            "Consumo", "CLP", "150000", "0", "0", 40),
    ))
    return session


@pytest.mark.parametrize(("text", "answer"), [
    ("2211", IdentityAnswer(last_digits="2211")),
    ("son 2211", IdentityAnswer(last_digits="2211")),
    ("mis ultimos 4 son 2211", IdentityAnswer(last_digits="2211")),
    ("5544332211", IdentityAnswer(full_document="5544332211")),
    ("12.345.678-5", IdentityAnswer(full_document="123456785")),
    ("12/03/1985", IdentityAnswer(birth_date=date(1985, 3, 12))),
    ("nací el 12-03-1985", IdentityAnswer(birth_date=date(1985, 3, 12))),
    ("1985-03-12", IdentityAnswer(birth_date=date(1985, 3, 12))),
    ("12 de marzo de 1985", IdentityAnswer(birth_date=date(1985, 3, 12))),
    ("hola", None),
    ("123", None),
    ("", None),
    ("31/02/1985", None),
])
def test_parse_identity_answer(text: str, answer: IdentityAnswer | None) -> None:
    assert parse_identity_answer(text) == answer


def test_last_digits_full_number_or_birth_date_verify(ledger: Session) -> None:
    for answer in ("2211", "5544332211", "12/03/1985"):
        result = verify(ledger, ANA, answer, NOW, SETTINGS)
        assert result.outcome is Outcome.VERIFIED and result.debtor is not None
        assert result.debtor.external_id == "D1"
    assert verified_debtor(ledger, ANA, NOW).external_id == "D1"
    assert verified_debtor(ledger, ANA, NOW + timedelta(hours=25)) is None  # verification expires
    assert ledger.scalars(select(Phone.verified).where(Phone.e164 == ANA)).one() is True


def test_chilean_rut_last_digits(ledger: Session) -> None:
    assert verify(ledger, "+56987654321", "6785", NOW, SETTINGS).outcome is Outcome.VERIFIED


def test_three_failures_lock_and_the_lock_holds_even_for_the_right_answer(ledger: Session) -> None:
    assert verify(ledger, ANA, "hola", NOW, SETTINGS).outcome is Outcome.NOT_AN_ANSWER  # not counted
    first = verify(ledger, ANA, "0000", NOW, SETTINGS)
    assert (first.outcome, first.attempts_left) == (Outcome.MISMATCH, 2)
    assert verify(ledger, ANA, "1111", NOW, SETTINGS).attempts_left == 1
    locked = verify(ledger, ANA, "01/01/1990", NOW, SETTINGS)
    assert locked.outcome is Outcome.LOCKED and locked.locked_until == NOW + timedelta(minutes=30)
    assert verify(ledger, ANA, "2211", NOW + timedelta(minutes=29), SETTINGS).outcome is Outcome.LOCKED
    assert lock_status(ledger, ANA, NOW + timedelta(minutes=29)) == NOW + timedelta(minutes=30)
    assert verified_debtor(ledger, ANA, NOW) is None
    # the lock is per debtor, in the database
    check = ledger.scalars(select(IdentityCheck)).one()
    assert check.debtor_id is not None and check.locked_until == NOW + timedelta(minutes=30)
    # when it ends, three fresh attempts
    later = NOW + timedelta(minutes=31)
    assert lock_status(ledger, ANA, later) is None
    assert verify(ledger, ANA, "2211", later, SETTINGS).outcome is Outcome.VERIFIED
    actions = ledger.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-3:] == ["identity_failed", "identity_locked", "identity_verified"]


def test_a_stranger_goes_through_the_same_steps_and_learns_nothing(ledger: Session) -> None:
    outcomes = [verify(ledger, STRANGER, answer, NOW, SETTINGS) for answer in ("2211", "5678", "1234")]
    assert [(r.outcome, r.attempts_left, r.debtor) for r in outcomes[:2]] == [
        (Outcome.MISMATCH, 2, None), (Outcome.MISMATCH, 1, None)]
    assert outcomes[2].outcome is Outcome.LOCKED
    assert ledger.scalars(select(IdentityCheck.phone_e164)).all() == [STRANGER]


def test_wrong_number_removes_the_phone_from_candidates(ledger: Session) -> None:
    assert [d.external_id for d in candidates_for_phone(ledger, ANA)] == ["D1"]
    assert mark_wrong_number(ledger, ANA) == 1
    assert candidates_for_phone(ledger, ANA) == []
    assert verify(ledger, ANA, "2211", NOW, SETTINGS).outcome is Outcome.MISMATCH
