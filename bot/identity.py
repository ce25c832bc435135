"""Proving who is writing before anything about a debt is said.

The sender's number only proposes candidates; the debtor proves it with the last four digits of their
document (or the whole number, or their birth date). Failures count per debtor in the database, so a
new session or another channel does not reset them; a number that matches nobody is handled exactly the
same way, so a stranger cannot tell a debtor's number from any other.
"""
from __future__ import annotations

import enum
import hmac
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.settings import Settings, get_settings
from bot.storage.models import AuditLog, Debtor, IdentityCheck, Phone

_MONTHS = {name: number for number, name in enumerate(
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(), 1)}
_MONTHS["setiembre"] = 9
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{4})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_WORDS_DATE = re.compile(r"\b(\d{1,2})\s+de\s+([a-záéíóú]+)\s+(?:de(?:l)?\s+)?(\d{4})\b")
_JOINED_DIGITS = re.compile(r"(?<=\d)[.\-\s](?=\d)")  # "12.345.678-5" → "123456785"


class Outcome(str, enum.Enum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"  # counted as a failed attempt
    LOCKED = "locked"  # too many failures; nothing is checked until the lock ends
    NOT_AN_ANSWER = "not_an_answer"  # no digits or date to check: ask again, count nothing


@dataclass(frozen=True)
class IdentityAnswer:
    last_digits: str | None = None
    full_document: str | None = None
    birth_date: date | None = None


@dataclass(frozen=True)
class VerificationResult:
    outcome: Outcome
    debtor: Debtor | None = None
    attempts_left: int = 0
    locked_until: datetime | None = None


def minutes_until(moment: datetime, now: datetime) -> int:
    """Whole minutes left, rounded up: "30 minutes" right after locking, never "0"."""
    return max(1, math.ceil((moment - now).total_seconds() / 60))


def parse_identity_answer(text: str) -> IdentityAnswer | None:
    """What the debtor gave: 4 digits, a whole document number or a birth date (day first)."""
    lowered = (text or "").lower()
    for pattern, order in ((_ISO_DATE, "ymd"), (_NUMERIC_DATE, "dmy")):
        match = pattern.search(lowered)
        if match:
            parts = dict(zip(order, (int(group) for group in match.groups())))
            try:
                return IdentityAnswer(birth_date=date(parts["y"], parts["m"], parts["d"]))
            except ValueError:
                return None
    words = _WORDS_DATE.search(lowered)
    if words and words.group(2) in _MONTHS:
        try:
            return IdentityAnswer(birth_date=date(int(words.group(3)), _MONTHS[words.group(2)], int(words.group(1))))
        except ValueError:
            return None
    runs = re.findall(r"\d+", _JOINED_DIGITS.sub("", lowered))
    long_runs = [run for run in runs if len(run) >= 6]
    if long_runs:
        return IdentityAnswer(full_document=long_runs[-1])
    four = [run for run in runs if len(run) == 4]
    if four:
        return IdentityAnswer(last_digits=four[-1])
    return None


def document_digits(document_id: str) -> str:
    return re.sub(r"\D", "", document_id)


def answer_matches(debtor: Debtor, answer: IdentityAnswer) -> bool:
    digits = document_digits(debtor.document_id)
    if answer.last_digits is not None:
        return len(digits) >= 4 and hmac.compare_digest(digits[-4:], answer.last_digits)
    if answer.full_document is not None:
        return bool(digits) and hmac.compare_digest(digits, answer.full_document)
    if answer.birth_date is not None:
        return debtor.birth_date is not None and debtor.birth_date == answer.birth_date
    return False


def candidates_for_phone(session: Session, e164: str) -> list[Debtor]:
    """Debtors on file for this number, except where it was reported as someone else's."""
    numbers = select(Phone.debtor_id).where(Phone.e164 == e164, Phone.wrong_number.is_(False))
    return list(session.scalars(select(Debtor).where(Debtor.id.in_(numbers)).order_by(Debtor.id)))


def _checks_for(session: Session, e164: str, candidates: list[Debtor], *, create: bool) -> list[IdentityCheck]:
    """The verification records for these candidates (or for the bare number); reads never create them."""
    if candidates:
        keys = [(IdentityCheck.debtor_id, debtor.id) for debtor in candidates]
    else:
        keys = [(IdentityCheck.phone_e164, e164)]
    checks = []
    for column, value in keys:
        check = session.scalars(select(IdentityCheck).where(column == value)).one_or_none()
        if check is None and not create:
            continue
        if check is None:
            check = IdentityCheck(failed_attempts=0, **{column.key: value})
            session.add(check)
            session.flush()
        checks.append(check)
    return checks


def _locked_until(checks: list[IdentityCheck], now: datetime) -> datetime | None:
    active = [check.locked_until for check in checks if check.locked_until and check.locked_until > now]
    return max(active) if active else None


def verified_debtor(session: Session, e164: str, now: datetime) -> Debtor | None:
    """The debtor who proved their identity from this number recently (on any channel), if any."""
    for debtor in candidates_for_phone(session, e164):
        check = session.scalars(select(IdentityCheck).where(IdentityCheck.debtor_id == debtor.id)).one_or_none()
        if check and check.verified_phone == e164 and check.verified_until and check.verified_until > now:
            return debtor
    return None


def lock_status(session: Session, e164: str, now: datetime) -> datetime | None:
    """Until when verification is locked for whoever writes from this number (None: not locked)."""
    candidates = candidates_for_phone(session, e164)
    return _locked_until(_checks_for(session, e164, candidates, create=False), now)


def verify(session: Session, e164: str, text: str, now: datetime,
           settings: Settings | None = None) -> VerificationResult:
    """Check one answer from the sender `e164`, counting failures and locking after too many."""
    settings = settings or get_settings()
    candidates = candidates_for_phone(session, e164)
    checks = _checks_for(session, e164, candidates, create=True)
    locked = _locked_until(checks, now)
    if locked:
        return VerificationResult(Outcome.LOCKED, locked_until=locked)
    answer = parse_identity_answer(text)
    if answer is None:
        return VerificationResult(Outcome.NOT_AN_ANSWER,
                                  attempts_left=settings.verification_max_attempts - max(
                                      check.failed_attempts for check in checks))
    for debtor, check in zip(candidates, checks):
        if answer_matches(debtor, answer):
            check.failed_attempts = 0
            check.locked_until = None
            check.verified_until = now + timedelta(hours=settings.verification_valid_hours)
            check.verified_phone = e164
            for phone in debtor.phones:
                if phone.e164 == e164:
                    phone.verified = True
            _audit(session, "identity_verified", debtor.id, e164)
            return VerificationResult(Outcome.VERIFIED, debtor=debtor)
    for check in checks:
        check.failed_attempts += 1
    worst = max(check.failed_attempts for check in checks)
    if worst >= settings.verification_max_attempts:
        until = now + timedelta(minutes=settings.verification_lock_minutes)
        for check in checks:
            check.failed_attempts = 0
            check.locked_until = until
        _audit(session, "identity_locked", None, e164, locked_until=until.isoformat())
        return VerificationResult(Outcome.LOCKED, locked_until=until)
    _audit(session, "identity_failed", None, e164, attempts=worst)
    return VerificationResult(Outcome.MISMATCH, attempts_left=settings.verification_max_attempts - worst)


def mark_wrong_number(session: Session, e164: str) -> int:
    """The person at this number is not the debtor: never use it for them again. Returns phones marked."""
    phones = list(session.scalars(select(Phone).where(Phone.e164 == e164, Phone.wrong_number.is_(False))))
    for phone in phones:
        phone.wrong_number = True
        phone.verified = False
    _audit(session, "wrong_number_reported", None, e164, phones=len(phones))
    return len(phones)


def _audit(session: Session, action: str, debtor_id: int | None, e164: str, **details: object) -> None:
    session.add(AuditLog(actor="bot", action=action, entity_type="debtor" if debtor_id else "phone",
                         entity_id=str(debtor_id) if debtor_id else e164, details={"phone": e164, **details}))
