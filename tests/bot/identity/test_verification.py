import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.common.settings import Settings
from bot.identity.verification import (
    IdentityAnswer,
    IdentityStatus,
    Lock,
    Outcome,
    VerificationResult,
    candidates_for_phone,
    clear_review,
    identity_status,
    lock_status,
    mark_wrong_number,
    parse_identity_answer,
    redact_identity_message,
    redact_identity_text,
    verified_debtor,
    verify,
)
from bot.ledger.db import make_engine, session_scope
from bot.ledger.models import (
    AuditLog,
    Conversation,
    ConversationMode,
    Debtor,
    Direction,
    IdentityCheck,
    Message,
    MessageStatus,
    Phone,
)
from bot.ledger.portfolio import import_portfolio_text
from bot.messaging.contact import contact_key
from bot.messaging.conversations import get_or_create_conversation
from tests.factories import portfolio, row

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
SETTINGS = Settings(verification_max_attempts=3, verification_lock_minutes=30, verification_valid_hours=24)
ANA = "+525512345678"  # a WhatsApp/SMS contact key is the bare number
ANA_DEMO = contact_key("demo", ANA)  # "demo:+525512345678"
ANA_SENDER = "whatsapp:+525512345678"
ANA_OTHER_PHONE = "+525587654321"
STRANGER = "+525599990000"
LEDGER = portfolio(
    row("D1", "Ana Ruiz", "55 1234 5678", "5544332211", "1985-03-12", "MX", "A-1", "banco-aurora",
        "Tarjeta", "MXN", "1000", "0", "0", 10),
    row("D2", "Pedro Soto", "9 8765 4321", "12.345.678-5", "", "CL", "A-2", "finanzas-norte",
        "Consumo", "CLP", "150000", "0", "0", 40),
)


@pytest.fixture
def ledger(session: Session) -> Session:
    import_portfolio_text(session, LEDGER)
    return session


def debtor(session: Session, external_id: str) -> Debtor:
    return session.scalars(select(Debtor).where(Debtor.external_id == external_id)).one()


def fail_until_locked(session: Session, key: str, now: datetime, settings: Settings = SETTINGS) -> VerificationResult:
    for answer in ("0000", "1111", "2222"):
        result = verify(session, key, answer, now, settings)
    return result


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
    # digits and birth date in one answer: the date's year is never taken for the digits
    ("2211 12/03/1985", IdentityAnswer(last_digits="2211", birth_date=date(1985, 3, 12))),
    ("12/03/1985 2211", IdentityAnswer(last_digits="2211", birth_date=date(1985, 3, 12))),
    ("son 2211, nací el 12 de marzo de 1985", IdentityAnswer(last_digits="2211", birth_date=date(1985, 3, 12))),
    ("5544332211 1985-03-12", IdentityAnswer(full_document="5544332211", birth_date=date(1985, 3, 12))),
    ("hola", None),
    ("123", None),
    ("", None),
    ("31/02/1985", None),
    ("2211 31/02/1985", None),
])
def test_parse_identity_answer(text: str, answer: IdentityAnswer | None) -> None:
    assert parse_identity_answer(text) == answer


def test_last_digits_full_number_or_digits_with_birth_date_verify(ledger: Session) -> None:
    for answer in ("2211", "5544332211", "2211 12/03/1985", "12 de marzo de 1985, 5544332211"):
        result = verify(ledger, ANA, answer, NOW, SETTINGS)
        assert result.outcome is Outcome.VERIFIED and result.debtor is not None
        assert result.debtor.external_id == "D1"
    assert verified_debtor(ledger, ANA, NOW).external_id == "D1"
    assert verified_debtor(ledger, ANA, NOW + timedelta(hours=25)) is None  # verification expires
    assert ledger.scalars(select(Phone.verified).where(Phone.e164 == ANA)).one() is True


@pytest.mark.parametrize("answer", ["12/03/1985", "12 de marzo de 1985", "1985-03-12"])
def test_a_birth_date_alone_never_verifies_and_is_not_counted(ledger: Session, answer: str) -> None:
    for _ in range(5):  # more than the attempts: not one is counted, nothing locks
        result = verify(ledger, ANA, answer, NOW, SETTINGS)
        assert (result.outcome, result.birth_date_alone, result.attempts_left) == (Outcome.NOT_AN_ANSWER, True, 3)
    assert verified_debtor(ledger, ANA, NOW) is None and lock_status(ledger, ANA, NOW) is None
    hola = verify(ledger, ANA, "hola", NOW, SETTINGS)
    assert (hola.outcome, hola.birth_date_alone) == (Outcome.NOT_AN_ANSWER, False)


def test_with_the_digits_the_birth_date_must_match_too(ledger: Session) -> None:
    wrong_date = verify(ledger, ANA, "2211 01/01/1990", NOW, SETTINGS)
    assert (wrong_date.outcome, wrong_date.attempts_left) == (Outcome.MISMATCH, 2)
    assert verify(ledger, ANA, "2211 12/03/1985", NOW, SETTINGS).outcome is Outcome.VERIFIED


def test_chilean_rut_last_digits(ledger: Session) -> None:
    assert verify(ledger, "+56987654321", "6785", NOW, SETTINGS).outcome is Outcome.VERIFIED
    # Pedro has no birth date on file: one given with the digits cannot be checked, the digits decide
    assert verify(ledger, "+56987654321", "6785 01/01/1990", NOW, SETTINGS).outcome is Outcome.VERIFIED


def test_three_failures_lock_and_the_lock_holds_even_for_the_right_answer(ledger: Session) -> None:
    assert verify(ledger, ANA, "hola", NOW, SETTINGS).outcome is Outcome.NOT_AN_ANSWER  # not counted
    first = verify(ledger, ANA, "0000", NOW, SETTINGS)
    assert (first.outcome, first.attempts_left) == (Outcome.MISMATCH, 2)
    assert verify(ledger, ANA, "1111", NOW, SETTINGS).attempts_left == 1
    locked = verify(ledger, ANA, "2211 01/01/1990", NOW, SETTINGS)  # right digits, wrong birth date
    assert locked.outcome is Outcome.LOCKED and locked.locked_until == NOW + timedelta(minutes=30)
    assert not locked.needs_review and not locked.escalated
    assert verify(ledger, ANA, "2211", NOW + timedelta(minutes=29), SETTINGS).outcome is Outcome.LOCKED
    assert lock_status(ledger, ANA, NOW + timedelta(minutes=29)) == Lock(until=NOW + timedelta(minutes=30))
    assert verified_debtor(ledger, ANA, NOW) is None
    # the lock is per debtor, in the database
    check = ledger.scalars(select(IdentityCheck)).one()
    assert check.debtor_id is not None and check.locked_until == NOW + timedelta(minutes=30)
    assert check.lock_count == 1
    # when it ends, three fresh attempts
    later = NOW + timedelta(minutes=31)
    assert lock_status(ledger, ANA, later) is None
    assert verify(ledger, ANA, "2211", later, SETTINGS).outcome is Outcome.VERIFIED
    actions = ledger.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-3:] == ["identity_failed", "identity_locked", "identity_verified"]


def test_the_second_lock_goes_to_a_person_and_stays_locked_until_cleared(ledger: Session) -> None:
    ana = debtor(ledger, "D1")
    get_or_create_conversation(ledger, ANA_SENDER)
    first = fail_until_locked(ledger, ANA, NOW)
    assert (first.outcome, first.needs_review) == (Outcome.LOCKED, False)
    assert ledger.scalars(select(Conversation.mode)).one() is ConversationMode.BOT  # one lock: not yet
    after_first = NOW + timedelta(minutes=31)
    second = fail_until_locked(ledger, ANA, after_first)  # the second lock (verification_review_after_locks=2)
    assert (second.outcome, second.needs_review, second.escalated, second.locked_until) == (
        Outcome.LOCKED, True, True, None)  # no end: a person has to look
    escalating = ledger.scalars(select(AuditLog).where(AuditLog.action == "identity_escalated")).one()
    assert escalating.entity_id == str(ana.id)
    # no time lifts it, not even the right answer, on any channel of the number
    for later in (after_first + timedelta(hours=1), after_first + timedelta(days=3)):
        assert lock_status(ledger, ANA, later) == Lock(until=None)
        assert verify(ledger, ANA, "2211", later, SETTINGS).outcome is Outcome.LOCKED
    assert verified_debtor(ledger, ANA, NOW + timedelta(days=3)) is None
    check = ledger.scalars(select(IdentityCheck).where(IdentityCheck.debtor_id == ana.id)).one()
    assert (check.lock_count, check.needs_review) == (2, True)
    # a person clears it, on the record; then automated verification works again
    assert clear_review(ledger, ana.id, "agent:7") is True
    cleared = ledger.scalars(select(AuditLog).where(AuditLog.action == "identity_review_cleared")).one()
    assert (cleared.actor, cleared.entity_id, cleared.details["needs_review"]) == ("agent:7", str(ana.id), True)
    assert lock_status(ledger, ANA, after_first + timedelta(days=3)) is None
    assert verify(ledger, ANA, "2211", after_first + timedelta(days=3), SETTINGS).outcome is Outcome.VERIFIED
    assert clear_review(ledger, ana.id, "agent:7") is False  # nothing left to clear


def test_escalation_hands_the_conversation_to_a_person(ledger: Session) -> None:
    fail_until_locked(ledger, ANA, NOW)
    verify(ledger, ANA, "0000", NOW + timedelta(minutes=31), SETTINGS, sender_id=ANA_SENDER)
    escalated = verify(ledger, ANA, "1111", NOW + timedelta(minutes=31), SETTINGS, sender_id=ANA_SENDER)
    assert escalated.outcome is Outcome.MISMATCH  # 2 of 3 in the second round
    escalated = verify(ledger, ANA, "3333", NOW + timedelta(minutes=31), SETTINGS, sender_id=ANA_SENDER)
    assert (escalated.outcome, escalated.needs_review, escalated.escalated) == (Outcome.LOCKED, True, True)
    conversation = ledger.scalars(select(Conversation).where(Conversation.sender_id == ANA_SENDER)).one()
    assert (conversation.mode, conversation.mode_reason) == (ConversationMode.QUEUED, "identity_review")
    assert conversation.debtor_id is None  # nobody proved who is writing
    actions = ledger.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-3:] == ["identity_locked", "identity_escalated", "handoff_requested"]
    # the same number on SMS asks again: locked, and that conversation goes to a person too
    assert verify(ledger, ANA, "2211", NOW + timedelta(days=1), SETTINGS,
                  sender_id="sms:+525512345678").needs_review
    sms = ledger.scalars(select(Conversation).where(Conversation.sender_id == "sms:+525512345678")).one()
    assert sms.mode is ConversationMode.QUEUED


def test_identity_status_is_who_is_verified_else_the_lock(ledger: Session) -> None:
    assert identity_status(ledger, ANA, NOW) == IdentityStatus()
    for wrong in ("0000", "1111", "3333"):
        verify(ledger, ANA, wrong, NOW, SETTINGS)
        verify(ledger, STRANGER, wrong, NOW, SETTINGS)
    locked = IdentityStatus(lock=Lock(until=NOW + timedelta(minutes=30)))
    assert identity_status(ledger, ANA, NOW) == locked
    assert identity_status(ledger, STRANGER, NOW) == locked  # no candidates: the number's own record
    later = NOW + timedelta(minutes=31)
    assert verify(ledger, ANA, "2211", later, SETTINGS).outcome is Outcome.VERIFIED
    verified = identity_status(ledger, ANA, later)
    assert verified.verified is not None and verified.verified.external_id == "D1" and verified.lock is None
    assert identity_status(ledger, ANA_DEMO, later) == IdentityStatus()  # the demo shares nothing
    assert identity_status(ledger, ANA, later + timedelta(hours=25)) == IdentityStatus()  # it expired


def test_a_stranger_is_escalated_the_same_way(ledger: Session) -> None:
    fail_until_locked(ledger, STRANGER, NOW)
    result = fail_until_locked(ledger, STRANGER, NOW + timedelta(minutes=31))
    assert result.needs_review and lock_status(ledger, STRANGER, NOW + timedelta(days=2)) == Lock(until=None)


def test_the_daily_cap_counts_failures_from_every_number(ledger: Session) -> None:
    ana = debtor(ledger, "D1")
    ledger.add(Phone(debtor_id=ana.id, e164=ANA_OTHER_PHONE))
    ledger.flush()
    roomy = Settings(verification_max_attempts=10, verification_lock_minutes=30, verification_valid_hours=24,
                     verification_daily_failure_cap=4, verification_review_after_locks=5)
    answers = [(ANA, "0000"), (ANA_OTHER_PHONE, "1111"), (ANA, "2222")]
    lefts = [verify(ledger, key, text, NOW, roomy).attempts_left for key, text in answers]
    assert lefts == [3, 2, 1]  # the cap, not the 10 attempts, is what is left: both numbers count
    capped = verify(ledger, ANA_OTHER_PHONE, "3333", NOW, roomy)
    midnight = datetime(2026, 11, 27, tzinfo=UTC)
    assert (capped.outcome, capped.locked_until) == (Outcome.LOCKED, midnight)  # until the day ends
    assert lock_status(ledger, ANA, NOW + timedelta(hours=8)) == Lock(until=midnight)  # the other number too
    assert verify(ledger, ANA, "2211", NOW + timedelta(hours=8), roomy).outcome is Outcome.LOCKED
    locked = ledger.scalars(select(AuditLog).where(AuditLog.action == "identity_locked")).one()
    assert locked.details["reason"] == "daily_cap"
    # a new day, a new count
    tomorrow = midnight + timedelta(hours=1)
    assert verify(ledger, ANA, "0000", tomorrow, roomy).attempts_left == 3
    assert verify(ledger, ANA_OTHER_PHONE, "2211", tomorrow, roomy).outcome is Outcome.VERIFIED


def test_the_daily_cap_holds_after_a_lock_ends(ledger: Session) -> None:
    capped_at_five = SETTINGS.model_copy(update={"verification_daily_failure_cap": 5,
                                                 "verification_review_after_locks": 3})
    fail_until_locked(ledger, ANA, NOW, capped_at_five)
    later = NOW + timedelta(minutes=31)
    assert verify(ledger, ANA, "0000", later, capped_at_five).attempts_left == 1
    capped = verify(ledger, ANA, "1111", later, capped_at_five)
    assert capped.locked_until == datetime(2026, 11, 27, tzinfo=UTC)


def _wrong_answer_in_its_own_worker(url: str, barrier: threading.Barrier,
                                    results: list[VerificationResult]) -> None:
    engine = make_engine(url)  # its own engine and connection: another worker process, as in production
    try:
        with Session(engine) as session:
            barrier.wait()
            result = verify(session, ANA, "0000", NOW, SETTINGS)
            session.commit()
        results.append(result)
    finally:
        engine.dispose()


def test_concurrent_wrong_answers_never_exceed_the_limit(database_url: str) -> None:
    with session_scope(database_url) as session:
        import_portfolio_text(session, LEDGER)
        verify(session, ANA, "hola", NOW, SETTINGS)  # the record exists before the race
    workers = 6
    barrier = threading.Barrier(workers)
    results: list[VerificationResult] = []
    threads = [threading.Thread(target=_wrong_answer_in_its_own_worker, args=(database_url, barrier, results))
               for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == workers  # every worker answered (none crashed on a lock)
    mismatches = sorted(r.attempts_left for r in results if r.outcome is Outcome.MISMATCH)
    assert mismatches == [1, 2]  # only max_attempts - 1 answers were ever told "try again"
    assert [r.outcome for r in results].count(Outcome.LOCKED) == workers - 2
    with session_scope(database_url) as session:
        check = session.scalars(select(IdentityCheck)).one()
        assert (check.failures_today, check.lock_count, check.needs_review) == (3, 1, False)
        locks = session.scalars(select(AuditLog).where(AuditLog.action == "identity_locked")).all()
        assert len(locks) == 1


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


# --- the demo channel shares nothing with WhatsApp/SMS ------------------------------------------------------

@pytest.fixture
def with_demo_twin(ledger: Session) -> Session:
    """A demo debtor on Ana's very number, whose document also ends in 2211."""
    import_portfolio_text(ledger, portfolio(
        row("DEMO-1", "Demo Ruiz", "55 1234 5678", "9900112211", "1990-01-01", "MX", "DEMO-A-1", "banco-aurora",
            "Tarjeta", "MXN", "500", "0", "0", 5)))
    ledger.execute(update(Debtor).where(Debtor.external_id == "DEMO-1").values(is_demo=True))
    return ledger


def test_each_channel_reaches_only_its_own_debtors(with_demo_twin: Session) -> None:
    assert [d.external_id for d in candidates_for_phone(with_demo_twin, ANA)] == ["D1"]
    assert [d.external_id for d in candidates_for_phone(with_demo_twin, ANA_DEMO)] == ["DEMO-1"]
    # a demo number nobody in the demo portfolio has reaches no real debtor either
    assert candidates_for_phone(with_demo_twin, contact_key("demo", "+56987654321")) == []
    assert verify(with_demo_twin, contact_key("demo", "+56987654321"), "6785", NOW, SETTINGS).outcome is (
        Outcome.MISMATCH)


def test_a_verification_never_carries_between_the_demo_and_whatsapp(with_demo_twin: Session) -> None:
    on_demo = verify(with_demo_twin, ANA_DEMO, "2211", NOW, SETTINGS)
    assert on_demo.outcome is Outcome.VERIFIED and on_demo.debtor.external_id == "DEMO-1"
    assert verified_debtor(with_demo_twin, ANA, NOW) is None  # WhatsApp and SMS of the number: not verified
    assert verified_debtor(with_demo_twin, ANA_DEMO, NOW).external_id == "DEMO-1"
    on_whatsapp = verify(with_demo_twin, ANA, "2211", NOW, SETTINGS)
    assert on_whatsapp.debtor.external_id == "D1"
    assert verified_debtor(with_demo_twin, ANA, NOW).external_id == "D1"
    assert verified_debtor(with_demo_twin, ANA_DEMO, NOW).external_id == "DEMO-1"  # never Ana


def test_a_whatsapp_verification_is_not_borrowed_by_the_demo(ledger: Session) -> None:
    assert verify(ledger, ANA, "2211", NOW, SETTINGS).outcome is Outcome.VERIFIED
    assert verified_debtor(ledger, ANA_DEMO, NOW) is None
    assert verify(ledger, ANA_DEMO, "2211", NOW, SETTINGS).outcome is Outcome.MISMATCH  # Ana is not a demo debtor


def test_locks_and_wrong_number_reports_on_the_demo_stay_on_the_demo(with_demo_twin: Session) -> None:
    assert fail_until_locked(with_demo_twin, ANA_DEMO, NOW).outcome is Outcome.LOCKED
    assert lock_status(with_demo_twin, ANA_DEMO, NOW) is not None
    assert lock_status(with_demo_twin, ANA, NOW) is None
    assert verify(with_demo_twin, ANA, "2211", NOW, SETTINGS).outcome is Outcome.VERIFIED
    # a stranger's lock too: the demo stranger and the WhatsApp stranger are two records
    fail_until_locked(with_demo_twin, contact_key("demo", STRANGER), NOW)
    assert lock_status(with_demo_twin, STRANGER, NOW) is None
    assert mark_wrong_number(with_demo_twin, ANA_DEMO) == 1
    assert [d.external_id for d in candidates_for_phone(with_demo_twin, ANA)] == ["D1"]


# --- redaction -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2211", "1234 15/03/1985", "mis últimos 4 son 2211", "12.345.678-5", "nací el 12 de Marzo de 1985 y 2211",
    "1985-03-12", "mi curp es GODE561231HDFRRN09",
])
def test_redaction_leaves_no_digit_nor_date(text: str) -> None:
    redacted = redact_identity_text(text)
    assert not re.search(r"\d", redacted) and "marzo" not in redacted.lower() and "••••" in redacted


def test_redaction_keeps_the_words_around() -> None:
    assert redact_identity_text("son 2211, gracias") == "son •••• gracias"
    assert redact_identity_text("hola") == "hola"


def _inbound(session: Session, conversation: Conversation, body: str) -> Message:
    message = Message(conversation_id=conversation.id, direction=Direction.INBOUND, channel=conversation.channel,
                      body=body, status=MessageStatus.RECEIVED)
    session.add(message)
    session.flush()
    return message


def test_the_newest_matching_inbound_message_is_redacted(session: Session) -> None:
    conversation = get_or_create_conversation(session, ANA_SENDER)
    other = get_or_create_conversation(session, "sms:+525512345678")
    older = _inbound(session, conversation, "2211 12/03/1985")
    newer = _inbound(session, conversation, "  2211 12/03/1985 ")  # Rasa got it stripped
    later = _inbound(session, conversation, "hola")
    elsewhere = _inbound(session, other, "2211 12/03/1985")
    assert redact_identity_message(session, ANA_SENDER, "2211 12/03/1985") is True
    session.expire_all()
    assert session.get(Message, newer.id).body.strip() == "•••• ••••"
    assert [session.get(Message, m.id).body for m in (older, later, elsewhere)] == [
        "2211 12/03/1985", "hola", "2211 12/03/1985"]
    assert redact_identity_message(session, "whatsapp:+525500000000", "2211") is False
