"""Proving who is writing before anything about a debt is said.

The sender's number only proposes candidates; the debtor proves it with the last four digits of their
document (or the whole number). A birth date counts only together with the digits, in the same answer: on
its own it is too easy to find out. Failures count per debtor in the database, so a new session or another
number does not reset them; a number that matches nobody is handled exactly the same way, so a stranger
cannot tell a debtor's number from any other.

Verification cannot be ground down: a lock after `verification_max_attempts` failures; at the
`verification_review_after_locks`-th lock since their last success the debtor goes to a person and
automated verification stays locked until someone clears it (`clear_review`); and a daily cap (UTC day) of
failures per debtor, whatever the number, which a success does not reset. Each failure is counted by one
conditional UPDATE, so concurrent workers cannot slip extra attempts past a limit.

Everything is recorded under the sender's contact key (bot.messaging.contact): a verification proves control of a
number, so it carries between WhatsApp and SMS of that number at most, never to or from the demo; and the
demo channel only ever reaches demo debtors, WhatsApp and SMS only real ones.
"""
from __future__ import annotations

import enum
import hmac
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, Select, Update, and_, case, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.common.phones import InvalidPhone
from bot.common.settings import Settings, get_settings
from bot.ledger.models import (
    AuditLog,
    Conversation,
    Debtor,
    Direction,
    IdentityCheck,
    Message,
    Phone,
    UTCDateTime,
)
from bot.messaging.contact import split_contact_key
from bot.messaging.conversations import request_handoff

REVIEW_REASON = "identity_review"  # Conversation.mode_reason of the hand-off
MASK = "••••"

_MONTH_NAMES = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS["setiembre"] = 9
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{4})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_WORDS_DATE = re.compile(r"\b(\d{1,2})\s+de\s+([a-záéíóú]+)\s+(?:de(?:l)?\s+)?(\d{4})\b")
_JOINED_DIGITS = re.compile(r"(?<=\d)[.\-\s](?=\d)")  # "12.345.678-5" → "123456785"
_WITH_A_DIGIT = re.compile(r"\S*\d\S*")  # "2211", "12.345.678-5", "15/03/1985", "GODE561231HDF"
_MONTH_WORD = re.compile(r"\b(?:" + "|".join(_MONTHS) + r")\b", re.IGNORECASE)
_TRUNCATED_AT_LEAST = 100  # Settings.max_text_chars is at least this: longer bodies reach Rasa cut


class Outcome(enum.StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"  # counted as a failed attempt
    LOCKED = "locked"  # too many failures; nothing is checked until the lock ends (or a person clears it)
    NOT_AN_ANSWER = "not_an_answer"  # nothing to check (or a bare birth date): ask again, count nothing


@dataclass(frozen=True)
class IdentityAnswer:
    last_digits: str | None = None
    full_document: str | None = None
    birth_date: date | None = None

    @property
    def birth_date_alone(self) -> bool:
        """A birth date without the document: never enough, we ask for the digits with it."""
        return self.birth_date is not None and self.last_digits is None and self.full_document is None


@dataclass(frozen=True)
class Lock:
    """Verification is paused for this sender: until a moment, or (until=None) until a person clears it."""

    until: datetime | None = None

    @property
    def needs_review(self) -> bool:
        return self.until is None


@dataclass(frozen=True)
class VerificationResult:
    outcome: Outcome
    debtor: Debtor | None = None
    attempts_left: int = 0
    locked_until: datetime | None = None
    needs_review: bool = False  # LOCKED until a person clears it
    escalated: bool = False  # this very answer sent the verification to a person
    birth_date_alone: bool = False  # NOT_AN_ANSWER because only a birth date came: ask for the digits too


@dataclass(frozen=True)
class IdentityStatus:
    """Who proved their identity under a contact key, or else whether verification is paused for it."""

    verified: Debtor | None = None
    lock: Lock | None = None


@dataclass(frozen=True)
class VerificationLimits:
    """How much grinding verification tolerates (from the settings)."""

    max_attempts: int
    lock_minutes: int
    valid_hours: int
    daily_failure_cap: int
    review_after_locks: int

    @classmethod
    def of(cls, settings: Settings | None = None) -> VerificationLimits:
        settings = settings or get_settings()
        return cls(max_attempts=settings.verification_max_attempts, lock_minutes=settings.verification_lock_minutes,
                   valid_hours=settings.verification_valid_hours,
                   daily_failure_cap=settings.verification_daily_failure_cap,
                   review_after_locks=settings.verification_review_after_locks)


def minutes_until(moment: datetime, now: datetime) -> int:
    """Whole minutes left, rounded up: "30 minutes" right after locking, never "0"."""
    return max(1, math.ceil((moment - now).total_seconds() / 60))


# --- reading an answer -----------------------------------------------------------------------------------

def _birth_date_in(lowered: str) -> tuple[re.Match[str] | None, date | None]:
    """The first date written in the text (day first), and the date it names (None if impossible)."""
    for pattern, order in ((_ISO_DATE, "ymd"), (_NUMERIC_DATE, "dmy")):
        match = pattern.search(lowered)
        if match:
            parts = dict(zip(order, (int(group) for group in match.groups()), strict=True))
            try:
                return match, date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                return match, None
    words = _WORDS_DATE.search(lowered)
    if words and words.group(2) in _MONTHS:
        try:
            return words, date(int(words.group(3)), _MONTHS[words.group(2)], int(words.group(1)))
        except ValueError:
            return words, None
    return None, None


def parse_identity_answer(text: str) -> IdentityAnswer | None:
    """What the debtor gave: 4 digits or a whole document number, and maybe a birth date with them."""
    lowered = (text or "").lower()
    match, birth_date = _birth_date_in(lowered)
    if match is not None:
        if birth_date is None:
            return None  # "31/02/1985": ask again rather than guess
        lowered = f"{lowered[:match.start()]} {lowered[match.end():]}"  # its year is not a document's digits
    runs = re.findall(r"\d+", _JOINED_DIGITS.sub("", lowered))
    long_runs = [run for run in runs if len(run) >= 6]
    if long_runs:
        return IdentityAnswer(full_document=long_runs[-1], birth_date=birth_date)
    four = [run for run in runs if len(run) == 4]
    if four:
        return IdentityAnswer(last_digits=four[-1], birth_date=birth_date)
    return IdentityAnswer(birth_date=birth_date) if birth_date else None


_DOCUMENT_QUESTION = re.compile(
    r"\b(cual|cuales|que|ine|curp|cedula|dni|rut|pasaporte|documento|credencial|identificacion|carnet|ci)\b")


def asks_which_document(text: str) -> bool:
    """'¿Los 4 dígitos de la INE o del CURP?': a question about what to give, not an answer; it costs no attempt."""
    if parse_identity_answer(text) is not None:
        return False
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return "?" in plain and _DOCUMENT_QUESTION.search(plain) is not None


def document_digits(document_id: str) -> str:
    return re.sub(r"\D", "", document_id)


def answer_matches(debtor: Debtor, answer: IdentityAnswer) -> bool:
    """The document part must match; a birth date given with it must match too, when we have one on file."""
    digits = document_digits(debtor.document_id)
    if answer.last_digits is not None:
        document_ok = len(digits) >= 4 and hmac.compare_digest(digits[-4:], answer.last_digits)
    elif answer.full_document is not None:
        document_ok = bool(digits) and hmac.compare_digest(digits, answer.full_document)
    else:
        return False  # a birth date alone proves nothing
    if answer.birth_date is not None and debtor.birth_date is not None:
        return document_ok and debtor.birth_date == answer.birth_date
    return document_ok


# --- records ---------------------------------------------------------------------------------------------

def _phone_debtors(key: str) -> Select[tuple[int]]:
    """SQL: the ids of the debtors on file for this contact key's number (see candidates_for_phone)."""
    demo, e164 = split_contact_key(key)
    numbers = select(Phone.debtor_id).where(Phone.e164 == e164, Phone.wrong_number.is_(False))
    return select(Debtor.id).where(Debtor.id.in_(numbers), Debtor.is_demo.is_(demo))


def candidates_for_phone(session: Session, key: str) -> list[Debtor]:
    """Debtors on file for this contact key's number, except where it was reported as someone else's.

    The demo key reaches demo debtors only, a WhatsApp/SMS key real debtors only.
    """
    return list(session.scalars(select(Debtor).where(Debtor.id.in_(_phone_debtors(key))).order_by(Debtor.id)))


def _candidates_with_checks(session: Session, key: str) -> list[tuple[Debtor, IdentityCheck | None]]:
    """The candidates (candidates_for_phone) and their verification records, read together: every message's
    actions ask this, most of them more than once (issue 23)."""
    rows = session.execute(select(Debtor, IdentityCheck).outerjoin(IdentityCheck, IdentityCheck.debtor_id == Debtor.id)
                           .where(Debtor.id.in_(_phone_debtors(key))).order_by(Debtor.id))
    return [(debtor, check) for debtor, check in rows.tuples()]


def _checks_for(session: Session, key: str, candidates: list[tuple[Debtor, IdentityCheck | None]], *,
                create: bool) -> list[IdentityCheck]:
    """The verification records for these candidates (or for the bare key); reads never create them."""
    if not candidates:
        check = session.scalars(select(IdentityCheck).where(IdentityCheck.phone_e164 == key)).one_or_none()
        if check is None and create:
            check = _create_check(session, IdentityCheck.phone_e164, key)
        return [check] if check is not None else []
    if create:
        return [check or _create_check(session, IdentityCheck.debtor_id, debtor.id) for debtor, check in candidates]
    return [check for _, check in candidates if check is not None]


def _create_check(session: Session, column: Any, value: object) -> IdentityCheck:
    # Two first answers at once both try to create it: the second one just finds it.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(IdentityCheck).values(
        {column.key: value, "failed_attempts": 0, "lock_count": 0, "needs_review": False,
         "failures_today": 0}).on_conflict_do_nothing())
    return session.scalars(select(IdentityCheck).where(column == value)).one()


def _lock_of(checks: list[IdentityCheck], now: datetime) -> Lock | None:
    if any(check.needs_review for check in checks):
        return Lock(until=None)
    active = [check.locked_until for check in checks if check.locked_until and check.locked_until > now]
    return Lock(until=max(active)) if active else None


def _open(now: datetime) -> ColumnElement[bool]:
    """SQL: this record may take an answer now (re-checked by the UPDATE itself, under the row's lock)."""
    return and_(IdentityCheck.needs_review.is_(False),
                or_(IdentityCheck.locked_until.is_(None), IdentityCheck.locked_until <= now))


def _verified_among(candidates: list[tuple[Debtor, IdentityCheck | None]], key: str, now: datetime) -> Debtor | None:
    for debtor, check in candidates:
        if check and check.verified_phone == key and check.verified_until and check.verified_until > now:
            return debtor
    return None


def verified_debtor(session: Session, key: str, now: datetime) -> Debtor | None:
    """The debtor who proved their identity under this contact key recently, if any.

    WhatsApp and SMS of one number share the key; the demo has its own, so nothing carries across.
    """
    return _verified_among(_candidates_with_checks(session, key), key, now)


def lock_status(session: Session, key: str, now: datetime) -> Lock | None:
    """Whether verification is paused for whoever writes under this contact key (None: it is not)."""
    return _lock_of(_checks_for(session, key, _candidates_with_checks(session, key), create=False), now)


def identity_status(session: Session, key: str, now: datetime) -> IdentityStatus:
    """verified_debtor and, when nobody is verified, lock_status: from one read of the records."""
    candidates = _candidates_with_checks(session, key)
    debtor = _verified_among(candidates, key, now)
    if debtor is not None:
        return IdentityStatus(verified=debtor)
    return IdentityStatus(lock=_lock_of(_checks_for(session, key, candidates, create=False), now))


# --- checking an answer ----------------------------------------------------------------------------------

def verify(session: Session, key: str, text: str, now: datetime, settings: Settings | None = None, *,
           sender_id: str | None = None) -> VerificationResult:
    """Check one answer from the contact `key`, counting failures, locking and escalating.

    `sender_id` is the conversation the answer came from: it goes to a person when this answer escalates.
    """
    limits = VerificationLimits.of(settings)
    candidates = _candidates_with_checks(session, key)
    checks = _checks_for(session, key, candidates, create=True)
    lock = _lock_of(checks, now)
    if lock:
        return _locked(session, lock, sender_id, now)
    answer = parse_identity_answer(text)
    if answer is None or answer.birth_date_alone:
        return VerificationResult(Outcome.NOT_AN_ANSWER, attempts_left=_attempts_left(checks, now, limits),
                                  birth_date_alone=answer is not None)
    for (debtor, _), check in zip(candidates, checks, strict=False):  # a stranger: no candidates, one check
        if answer_matches(debtor, answer):
            return _verified(session, key, debtor, check, now, limits, sender_id)
    return _count_failure(session, key, checks, now, limits, sender_id)


def _remaining(failed_attempts: int, failures_today: int, limits: VerificationLimits) -> int:
    """Answers left before a lock: whichever of the attempt limit and the daily cap comes first."""
    return min(limits.max_attempts - failed_attempts, limits.daily_failure_cap - failures_today)


def _attempts_left(checks: list[IdentityCheck], now: datetime, limits: VerificationLimits) -> int:
    today = now.astimezone(UTC).date()
    return min(_remaining(check.failed_attempts, check.failures_today if check.failures_day == today else 0, limits)
               for check in checks)


def _locked(session: Session, lock: Lock | None, sender_id: str | None, now: datetime) -> VerificationResult:
    if lock is not None and lock.needs_review and sender_id:
        hand_off_for_review(session, sender_id, now)
    return VerificationResult(Outcome.LOCKED, locked_until=lock.until if lock else None,
                              needs_review=bool(lock and lock.needs_review))


def _verified(session: Session, key: str, debtor: Debtor, check: IdentityCheck, now: datetime,
              limits: VerificationLimits, sender_id: str | None) -> VerificationResult:
    claimed = session.execute(
        update(IdentityCheck).where(IdentityCheck.id == check.id, _open(now))
        .values(failed_attempts=0, lock_count=0, locked_until=None,
                verified_until=now + timedelta(hours=limits.valid_hours), verified_phone=key, updated_at=now)
        .returning(IdentityCheck.id).execution_options(synchronize_session=False)).first()
    session.expire(check)
    if claimed is None:  # a concurrent wrong answer locked it first: the lock holds, even for the right answer
        return _locked(session, _lock_of([check], now), sender_id, now)
    _, e164 = split_contact_key(key)
    for phone in debtor.phones:
        if phone.e164 == e164:
            phone.verified = True
    _audit(session, "identity_verified", key, debtor.id)
    return VerificationResult(Outcome.VERIFIED, debtor=debtor)


def _failure_update(check_id: int, now: datetime, limits: VerificationLimits) -> Update:
    """One statement that counts a failure and, at a limit, locks and maybe escalates: nothing in between."""
    check = IdentityCheck
    today = now.astimezone(UTC).date()
    lock_end = now + timedelta(minutes=limits.lock_minutes)
    day_end = max(lock_end, datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC))
    today_count = case((check.failures_day == today, check.failures_today + 1), else_=1)
    failed = check.failed_attempts + 1
    cap_hit = today_count >= limits.daily_failure_cap
    locking = or_(cap_hit, failed >= limits.max_attempts)
    return (update(check).where(check.id == check_id, _open(now))
            .values(failed_attempts=case((locking, 0), else_=failed),
                    failures_day=today, failures_today=today_count,
                    locked_until=case((cap_hit, literal(day_end, UTCDateTime())),
                                      (locking, literal(lock_end, UTCDateTime())), else_=check.locked_until),
                    lock_count=case((locking, check.lock_count + 1), else_=check.lock_count),
                    needs_review=case((and_(locking, check.lock_count + 1 >= limits.review_after_locks), True),
                                      else_=False),
                    updated_at=now)
            .returning(check.failed_attempts, check.failures_today, check.locked_until, check.lock_count,
                       check.needs_review)
            .execution_options(synchronize_session=False))


def _count_failure(session: Session, key: str, checks: list[IdentityCheck], now: datetime, limits: VerificationLimits,
                   sender_id: str | None) -> VerificationResult:
    rows: list[Row[Any] | None] = []
    for check in checks:  # candidates in id order: concurrent workers take row locks in the same order
        rows.append(session.execute(_failure_update(check.id, now, limits)).first())
        session.expire(check)
    escalated = False
    locked = False
    for check, row in zip(checks, rows, strict=True):
        if row is None:
            locked = True  # a concurrent answer locked it between our read and our update
            continue
        if row.needs_review or (row.locked_until is not None and row.locked_until > now):
            locked = True
            reason = "daily_cap" if row.failures_today >= limits.daily_failure_cap else "attempts"
            _audit(session, "identity_locked", key, check.debtor_id, reason=reason, lock_count=row.lock_count,
                   locked_until=row.locked_until.isoformat() if row.locked_until else None)
            if row.needs_review:
                escalated = True
                _audit(session, "identity_escalated", key, check.debtor_id, lock_count=row.lock_count)
    if locked:
        return replace(_locked(session, _lock_of(checks, now), sender_id, now), escalated=escalated)
    counted = [row for row in rows if row is not None]
    worst = max(row.failed_attempts for row in counted)
    _audit(session, "identity_failed", key, None, attempts=worst)
    left = min(_remaining(row.failed_attempts, row.failures_today, limits) for row in counted)
    return VerificationResult(Outcome.MISMATCH, attempts_left=left)


# --- people ----------------------------------------------------------------------------------------------

def hand_off_for_review(session: Session, sender_id: str, now: datetime) -> Conversation | None:
    """Queue this conversation for a person: verification is locked until someone reviews it.

    No debtor is attached: nobody has proved who is writing.
    """
    try:
        return request_handoff(session, sender_id, REVIEW_REASON, now)
    except InvalidPhone:
        return None


def clear_review(session: Session, debtor_id: int, actor: str) -> bool:
    """A person reviewed the case: lift the lock and the review, with fresh attempts. Returns False if
    there was nothing to clear. `actor` is who did it ("agent:<id>"), for the audit log."""
    check = session.scalars(select(IdentityCheck).where(IdentityCheck.debtor_id == debtor_id)).one_or_none()
    if check is None or not (check.needs_review or check.locked_until or check.lock_count or check.failed_attempts):
        return False
    details = {"needs_review": check.needs_review, "lock_count": check.lock_count,
               "locked_until": check.locked_until.isoformat() if check.locked_until else None}
    check.needs_review = False
    check.locked_until = None
    check.lock_count = 0
    check.failed_attempts = 0
    check.failures_today = 0
    session.add(AuditLog(actor=actor, action="identity_review_cleared", entity_type="debtor",
                         entity_id=str(debtor_id), details=details))
    session.flush()
    return True


def mark_wrong_number(session: Session, key: str) -> int:
    """The person at this number is not the debtor: never use it for them again. Returns phones marked.

    A report on the demo marks demo debtors' phones only; on WhatsApp/SMS, real debtors' only.
    """
    demo, e164 = split_contact_key(key)
    phones = list(session.scalars(select(Phone).join(Debtor, Phone.debtor_id == Debtor.id).where(
        Phone.e164 == e164, Phone.wrong_number.is_(False), Debtor.is_demo.is_(demo))))
    for phone in phones:
        phone.wrong_number = True
        phone.verified = False
    channels = ("demo",) if demo else ("whatsapp", "sms")
    for conversation in session.scalars(select(Conversation).where(
            Conversation.sender_id.in_([f"{channel}:{e164}" for channel in channels]))):
        conversation.debtor_id = None  # whoever writes from here now is not that debtor: show them nothing of theirs
    _audit(session, "wrong_number_reported", key, None, phones=len(phones))
    return len(phones)


# --- what we keep ----------------------------------------------------------------------------------------

def redact_identity_text(text: str) -> str:
    """The answer with every token holding a digit (document, digits, dates) and every month name masked."""
    return _WITH_A_DIGIT.sub(MASK, _MONTH_WORD.sub(MASK, text or ""))


def _same_text(body: str, text: str) -> bool:
    stripped, wanted = (body or "").strip(), (text or "").strip()
    return bool(wanted) and (stripped == wanted or (len(wanted) >= _TRUNCATED_AT_LEAST
                                                    and stripped.startswith(wanted)))


def redact_identity_message(session: Session, sender_id: str, text: str, *, recent: int = 20) -> bool:
    """Once an answer is checked, keep only its redacted form in our message table.

    The newest inbound message of the conversation `sender_id` whose body is `text` (as Rasa received it:
    stripped, maybe cut) is rewritten. Returns whether one was found.
    """
    conversation_id = select(Conversation.id).where(Conversation.sender_id == sender_id).scalar_subquery()
    messages = session.scalars(select(Message).where(Message.conversation_id == conversation_id,
                                                     Message.direction == Direction.INBOUND)
                               .order_by(Message.id.desc()).limit(recent))
    for message in messages:
        if _same_text(message.body, text):
            redacted = redact_identity_text(message.body)
            if redacted != message.body:
                message.body = redacted
                session.flush()
            return True
    return False


def _audit(session: Session, action: str, key: str, debtor_id: int | None, **details: object) -> None:
    session.add(AuditLog(actor="bot", action=action, entity_type="debtor" if debtor_id else "phone",
                         entity_id=str(debtor_id) if debtor_id else key, details={"phone": key, **details}))
