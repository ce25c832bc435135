"""Campaign steps with an injected clock, on SQLite and PostgreSQL, through the official Twilio SDK to the fake.

A worker's death is played by a Transport that hands the message to the real one and then raises a
BaseException nothing in our code catches, before anything is written down: what a SIGKILL leaves.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.twilio_sender import TwilioTransport
from bot.campaigns.cadences import campaign
from bot.campaigns.delivery import Outcome, deliver
from bot.campaigns.planner import Job, deferred_due, due_jobs, preview
from bot.common.settings import Settings
from bot.ledger.db import session_scope
from bot.ledger.models import (
    Account,
    AgreementStatus,
    CampaignSend,
    Creditor,
    Debtor,
    Installment,
    Message,
    MessageStatus,
    PaymentLink,
    PaymentPlan,
    Phone,
)
from bot.messaging.contact import contact_key, opt_out
from bot.messaging.conversations import get_or_create_conversation
from bot.messaging.outbox import OutboundRequest, Transport, send_queued, store_outbound
from bot.negotiation.agreements import negotiable_account
from bot.tools.cli import main as cli
from payments.sandbox import SandboxCheckout
from scripts import campaign_load
from tests.fakes.twilio_api import FakeTwilio

NOW = datetime.fromisoformat("2026-12-01T12:00:00-06:00")  # Tuesday noon in Mexico City
_numbers = itertools.count(1000)


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the code under test may catch it, as nothing catches a SIGKILL."""


class DiesAfterHandingOver:
    def __init__(self, real: Transport) -> None:
        self.real = real

    def send(self, request: OutboundRequest) -> str:
        self.real.send(request)
        raise WorkerKilled

    def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
        return self.real.find_sent(request, since)


class DiesBeforeHandingOver(DiesAfterHandingOver):
    def send(self, request: OutboundRequest) -> str:
        raise WorkerKilled


@pytest.fixture
def twilio(fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioTransport]:
    monkeypatch.setattr(fake_twilio, "clock", lambda: NOW)  # the fake Twilio lives in the tests' time too
    yield TwilioTransport(Settings(twilio_api_base=fake_twilio.url))


def received(fake: FakeTwilio, e164: str) -> list[dict[str, str]]:
    return [message for message in fake.sent if message["To"].removeprefix("whatsapp:") == e164]


def add_account(session: Session, *, country: str = "MX", creditor: str = "banco-aurora", due: date,
                verified: bool = False, timezone: str | None = None, channels: str | None = None,
                principal: str = "1500.00", debtor: Debtor | None = None) -> Account:
    creditor_row = session.scalar(select(Creditor).where(Creditor.code == creditor))
    if creditor_row is None:
        creditor_row = Creditor(code=creditor, name=creditor)
        session.add(creditor_row)
    number = next(_numbers)
    if debtor is None:
        debtor = Debtor(external_id=f"C-{number}", full_name="Lucía Méndez Ortega", document_id="12345678",
                        country=country, timezone=timezone, authorized_channels=channels)
        session.add(debtor)
        session.flush()
        prefix, digits = {"MX": ("+5255", 8), "CO": ("+57300", 7), "CL": ("+5698", 7), "PE": ("+51900", 6),
                          "AR": ("+54911", 8)}[country]
        session.add(Phone(debtor_id=debtor.id, e164=f"{prefix}{number:0{digits}d}", verified=verified))
    currency = {"MX": "MXN", "CO": "COP", "CL": "CLP", "PE": "PEN", "AR": "ARS"}[country]
    account = Account(external_id=f"A-{number}", creditor=creditor_row, debtor=debtor, product="Tarjeta",
                      currency=currency, principal=Decimal(principal), due_date=due)
    session.add(account)
    session.flush()
    return account


def phone_of(account: Account) -> str:
    return account.debtor.phones[0].e164


def early_job(account: Account, now: datetime = NOW, step: str = "day_3") -> Job:
    jobs = [job for job in due_jobs(account_session(account), campaign("early"), now)
            if job.account_id == account.id and job.step == step]
    assert len(jobs) == 1, jobs
    return jobs[0]


def account_session(account: Account) -> Session:
    session = Session.object_session(account)
    assert session is not None
    return session


def test_a_second_reminder_whose_worker_died_is_not_mistaken_for_the_first(
        database_url: str, twilio: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    with session_scope() as session:  # Mexico has no daily cap: two accounts, two reminders the same day
        first = add_account(session, due=NOW.date() - timedelta(days=3))
        second = add_account(session, due=NOW.date() - timedelta(days=7), debtor=first.debtor)
        number, jobs = phone_of(first), (early_job(first), early_job(second, step="day_7"))
    with session_scope() as session:
        assert deliver(session, twilio, jobs[0], NOW, checkpoint=session.commit) is Outcome.SENT
    session = session_scope().__enter__()
    with pytest.raises(WorkerKilled):
        deliver(session, DiesBeforeHandingOver(twilio), jobs[1], NOW, checkpoint=session.commit)
    session.rollback()
    session.close()
    with session_scope() as again:
        assert deliver(again, twilio, jobs[1], NOW + timedelta(minutes=2), checkpoint=again.commit) is Outcome.SENT
    assert len(received(fake_twilio, number)) == 2


def test_preview_counts_every_due_account_and_why_the_blocked_ones_get_nothing(database_url: str) -> None:
    seeded = campaign_load.seed(database_url, 40, NOW)
    with session_scope() as session:
        summary = preview(session, campaign("early"), NOW)
    assert (summary.accounts, summary.send_now, summary.deferred) == (40, 36, 0)
    assert dict(summary.blocked) == {"opted_out": 1, "wrong_number": 1, "dispute": 1, "paused": 1}
    assert sorted(seeded.blocked.values()) == sorted(summary.blocked.elements())


def test_one_step_is_sent_once_however_often_it_runs(session: Session, twilio: TwilioTransport,
                                                     fake_twilio: FakeTwilio) -> None:
    account = add_account(session, due=NOW.date() - timedelta(days=3))
    session.commit()
    job = early_job(account)
    assert deliver(session, twilio, job, NOW, checkpoint=session.commit) is Outcome.SENT
    assert deliver(session, twilio, job, NOW, checkpoint=session.commit) is Outcome.ALREADY_DONE
    [sent] = received(fake_twilio, phone_of(account))
    assert sent["ContentSid"] == "HX11110000000000000000000000000002"  # WhatsApp: the discreet template
    message = session.scalars(select(Message).join(CampaignSend, CampaignSend.message_id == Message.id)
                              .where(CampaignSend.account_id == account.id)).one()
    assert (message.status, message.external_id) == (MessageStatus.SENT, sent["Sid"])
    assert message.contact_decision == {"decision": "send", "next_allowed": None, "code": "allowed",
                                        "reason": "Dentro del horario de contacto de México (CONDUSEF, "
                                                  "disposiciones para despachos de cobranza (REDECO))."}


@pytest.mark.parametrize("dying", [DiesAfterHandingOver, DiesBeforeHandingOver])
def test_a_worker_killed_around_the_provider_call_neither_loses_nor_doubles(
        database_url: str, twilio: TwilioTransport, fake_twilio: FakeTwilio, dying: type[DiesAfterHandingOver]) -> None:
    with session_scope() as session:
        account = add_account(session, due=NOW.date() - timedelta(days=3))
        number = phone_of(account)
        job = early_job(account)
    session = session_scope().__enter__()
    with pytest.raises(WorkerKilled):
        deliver(session, dying(twilio), job, NOW, checkpoint=session.commit)
    session.rollback()  # the process is gone: what it had not committed is lost
    session.close()
    assert len(received(fake_twilio, number)) == (1 if dying is DiesAfterHandingOver else 0)
    with session_scope() as again:  # the queue hands the job to another worker
        expected = Outcome.ALREADY_DONE if dying is DiesAfterHandingOver else Outcome.SENT
        assert deliver(again, twilio, job, NOW + timedelta(minutes=2), checkpoint=again.commit) is expected
    [sent] = received(fake_twilio, number)
    with session_scope() as check:
        message = check.scalars(select(Message).join(CampaignSend, CampaignSend.message_id == Message.id)
                                .where(CampaignSend.account_id == job.account_id)).one()
        assert (message.status, message.external_id) == (MessageStatus.SENT, sent["Sid"])


def test_a_reminder_before_hours_waits_and_an_opt_out_a_second_before_stops_it(
        session: Session, twilio: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    early = datetime.fromisoformat("2026-12-01T06:30:00-06:00")
    opens = datetime.fromisoformat("2026-12-01T07:00:00-06:00")
    waits, stops = (add_account(session, due=early.date() - timedelta(days=3)) for _ in range(2))
    session.commit()
    for account in (waits, stops):
        outcome = deliver(session, twilio, early_job(account, early), early, checkpoint=session.commit)
        assert outcome is Outcome.SCHEDULED
    assert deferred_due(session, opens - timedelta(seconds=1)) == []  # 06:59:59: not yet
    opt_out(session, contact_key("whatsapp", phone_of(stops)), "whatsapp", source="keyword")
    session.commit()
    assert send_queued(session, twilio, opens) == 0  # reminders are the campaign workers', never the reply outbox's
    due = deferred_due(session, opens)
    assert [job.account_id for job, moment in due] == [waits.id, stops.id] and {m for _, m in due} == {opens}
    outcomes = [deliver(session, twilio, job, opens, checkpoint=session.commit) for job, _ in due]
    assert outcomes == [Outcome.SENT, Outcome.FAILED]
    assert len(received(fake_twilio, phone_of(waits))) == 1 and received(fake_twilio, phone_of(stops)) == []
    stopped = session.scalars(select(Message).join(CampaignSend, CampaignSend.message_id == Message.id)
                              .where(CampaignSend.account_id == stops.id)).one()
    assert stopped.status is MessageStatus.FAILED and stopped.contact_decision is not None
    assert (stopped.contact_decision["decision"], stopped.contact_decision["code"]) == ("never", "opted_out")


def test_a_reminder_with_no_allowed_moment_left_on_its_day_is_not_sent(session: Session,
                                                                        twilio: TwilioTransport) -> None:
    late = datetime.fromisoformat("2026-12-01T22:30:00-06:00")  # "hoy vence" must not arrive tomorrow
    account = add_account(session, due=late.date() - timedelta(days=3))
    session.commit()
    assert deliver(session, twilio, early_job(account, late), late, checkpoint=session.commit) is Outcome.BLOCKED
    blocked = session.scalars(select(CampaignSend).where(CampaignSend.account_id == account.id)).one()
    assert (blocked.message_id, blocked.decision["code"]) == (None, "no_time_today")
    assert "Fuera del horario de contacto de México" in blocked.decision["reason"]


def test_an_opt_out_while_waiting_for_the_senders_rate_stops_the_reminder(
        session: Session, twilio: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    account = add_account(session, due=NOW.date() - timedelta(days=3))
    session.commit()

    def opt_out_meanwhile(_sender: str) -> None:  # the debtor writes BAJA while the worker waits its turn
        with session_scope() as other:
            opt_out(other, contact_key("whatsapp", phone_of(account)), "whatsapp", source="keyword")

    outcome = deliver(session, twilio, early_job(account), NOW, checkpoint=session.commit,
                      wait_for_sender=opt_out_meanwhile)
    assert outcome is Outcome.FAILED and received(fake_twilio, phone_of(account)) == []


def test_a_paid_installment_is_not_reminded_after_waiting(session: Session, twilio: TwilioTransport) -> None:
    early = datetime.fromisoformat("2026-12-01T06:30:00-06:00")
    account = add_account(session, due=early.date() - timedelta(days=60))
    plan = PaymentPlan(account_id=account.id, total=Decimal("1500"), down_payment=Decimal("0"), frequency="monthly",
                       currency="MXN", created_by="bot")
    session.add(plan)
    session.flush()
    tomorrow = Installment(plan_id=plan.id, number=1, due_date=early.date() + timedelta(days=1), amount=Decimal("500"))
    session.add(tomorrow)
    session.commit()
    [job] = [job for job in due_jobs(session, campaign("agreements"), early) if job.account_id == account.id]
    assert deliver(session, twilio, job, early, checkpoint=session.commit) is Outcome.SCHEDULED
    tomorrow.paid_amount = Decimal("500")  # paid at 06:45
    session.commit()
    [(due, _)] = deferred_due(session, early + timedelta(minutes=30))
    assert deliver(session, twilio, due, early + timedelta(minutes=30), checkpoint=session.commit) is Outcome.BLOCKED
    message = session.scalars(select(Message).join(CampaignSend, CampaignSend.message_id == Message.id)
                              .where(CampaignSend.account_id == account.id)).one()
    assert message.status is MessageStatus.FAILED and message.contact_decision is not None
    assert message.contact_decision["code"] == "no_longer_due"


def test_replies_in_the_debtors_own_conversation_do_not_count_as_contacts(session: Session) -> None:
    tuesday = datetime.fromisoformat("2026-12-01T12:00:00-03:00")
    account = add_account(session, country="CL", due=tuesday.date() - timedelta(days=3))
    conversation = get_or_create_conversation(session, f"whatsapp:{phone_of(account)}")
    conversation.debtor_id = account.debtor_id
    store_outbound(session, conversation, "¡Hola! ¿En qué te ayudo?", tuesday - timedelta(days=1),
                   status=MessageStatus.SENT)  # the bot answered the debtor yesterday
    session.commit()
    assert preview(session, campaign("early"), tuesday).send_now == 1


def test_chile_waits_two_days_between_reminders(session: Session, twilio: TwilioTransport) -> None:
    tuesday = datetime.fromisoformat("2026-12-01T12:00:00-03:00")
    first = add_account(session, country="CL", due=tuesday.date() - timedelta(days=3))
    second = add_account(session, country="CL", due=tuesday.date() + timedelta(days=1) - timedelta(days=7),
                         debtor=first.debtor)
    session.commit()
    assert deliver(session, twilio, early_job(first, tuesday), tuesday, checkpoint=session.commit) is Outcome.SENT
    wednesday = tuesday + timedelta(days=1)
    outcome = deliver(session, twilio, early_job(second, wednesday, "day_7"), wednesday, checkpoint=session.commit)
    assert outcome is Outcome.BLOCKED  # its day passes before Thursday, when Chile would allow it
    waiting = session.scalars(select(CampaignSend).where(CampaignSend.account_id == second.id)).one()
    assert waiting.decision["code"] == "no_time_today"
    assert "al menos 2 días" in waiting.decision["reason"] and "Ley 21.320" in waiting.decision["reason"]


def test_a_creditor_stricter_than_the_law_is_obeyed(session: Session) -> None:
    early_morning = datetime.fromisoformat("2026-12-01T08:30:00-06:00")  # the law allows 7:00; this creditor 9:00
    add_account(session, creditor="finanzas-norte", due=early_morning.date() - timedelta(days=3))
    session.commit()
    summary = preview(session, campaign("early"), early_morning)
    assert (summary.send_now, summary.deferred) == (0, 1)


def test_colombia_without_authorised_channels_gets_nothing(session: Session) -> None:
    monday = datetime.fromisoformat("2026-11-30T10:00:00-05:00")
    add_account(session, country="CO", due=monday.date() - timedelta(days=3))
    add_account(session, country="CO", due=monday.date() - timedelta(days=3), channels="sms")
    session.commit()
    summary = preview(session, campaign("early"), monday)
    assert (summary.send_now, dict(summary.blocked)) == (1, {"channel_not_authorised": 1})


def test_a_verified_number_hears_the_amount_an_unverified_one_does_not(
        session: Session, twilio: TwilioTransport, fake_twilio: FakeTwilio) -> None:
    due = NOW.date() - timedelta(days=3)
    known = add_account(session, due=due, verified=True, principal="2450.00")
    unknown = add_account(session, due=due, principal="2450.00")
    session.commit()
    sandbox = SandboxCheckout(Settings())
    for account in (known, unknown):
        deliver(session, twilio, early_job(account), NOW, checkpoint=session.commit, provider=sandbox)
    bodies = {account.id: session.scalars(select(Message.body).join(CampaignSend, CampaignSend.message_id == Message.id)
                                          .where(CampaignSend.account_id == account.id)).one()
              for account in (known, unknown)}
    assert "$2,450.00" in bodies[known.id] and "2,450" not in bodies[unknown.id]
    assert "28 de noviembre de 2026" in bodies[unknown.id]
    [link] = session.scalars(select(PaymentLink).where(PaymentLink.account_id.in_([known.id, unknown.id]))).all()
    assert link.account_id == known.id and link.amount == Decimal("2450.00")
    assert bodies[known.id].endswith(f"Puedes pagar aquí: https://pagos.bancoaurora.example/p/{link.token}")
    [detailed] = received(fake_twilio, phone_of(known))
    assert detailed["ContentSid"] == "HX11110000000000000000000000000003"
    variables = json.loads(detailed["ContentVariables"])
    assert (variables["2"], variables["4"]) == ("$2,450.00", f"https://pagos.bancoaurora.example/p/{link.token}")


def test_a_reminder_after_a_partial_payment_tells_what_is_left(session: Session, twilio: TwilioTransport) -> None:
    from bot.payments.events import apply_payment

    account = add_account(session, due=NOW.date() - timedelta(days=3), verified=True, principal="2450.00")
    apply_payment(session, account, None, Decimal("450.00"), NOW - timedelta(days=1), NOW)  # paid at a branch
    session.commit()
    deliver(session, twilio, early_job(account), NOW, checkpoint=session.commit, provider=SandboxCheckout(Settings()))
    body = session.scalars(select(Message.body).join(CampaignSend, CampaignSend.message_id == Message.id)
                           .where(CampaignSend.account_id == account.id)).one()
    assert "$2,000.00" in body  # the ledger's balance, the payment counted once (it read $1,550.00 before)


def test_the_day_after_a_missed_installment_it_is_broken_and_the_debtor_is_told(
        session: Session, twilio: TwilioTransport) -> None:
    account = add_account(session, due=NOW.date() - timedelta(days=60))
    plan = PaymentPlan(account_id=account.id, total=Decimal("1500"), down_payment=Decimal("0"), frequency="monthly",
                       currency="MXN", created_by="bot")
    session.add(plan)
    session.flush()
    missed = Installment(plan_id=plan.id, number=1, due_date=NOW.date() - timedelta(days=1), amount=Decimal("500"))
    session.add(missed)
    session.commit()
    [job] = [job for job in due_jobs(session, campaign("agreements"), NOW) if job.account_id == account.id]
    assert (job.step, job.anchor_id) == ("installment_missed", missed.id)
    assert deliver(session, twilio, job, NOW, checkpoint=session.commit) is Outcome.SENT
    session.refresh(missed)
    assert missed.status is AgreementStatus.BROKEN
    body = session.scalars(select(Message.body).join(CampaignSend, CampaignSend.message_id == Message.id)
                           .where(CampaignSend.account_id == account.id)).one()
    assert "No vimos el pago del 30 de noviembre de 2026" in body and "retomar tu acuerdo" in body


def test_an_answer_to_a_reminder_negotiates_the_account_it_was_about(session: Session, twilio: TwilioTransport) -> None:
    older = add_account(session, due=NOW.date() - timedelta(days=40))
    reminded = add_account(session, due=NOW.date() - timedelta(days=3), debtor=older.debtor)
    session.commit()
    assert negotiable_account(session, older.debtor) == older  # the most overdue, before any reminder
    deliver(session, twilio, early_job(reminded), NOW, checkpoint=session.commit)
    assert negotiable_account(session, older.debtor) == reminded


def test_contact_check_counts_a_debtors_history(session: Session, twilio: TwilioTransport,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    account = add_account(session, creditor="finanzas-norte", due=NOW.date() - timedelta(days=3))
    session.commit()
    deliver(session, twilio, early_job(account), NOW, checkpoint=session.commit)
    session.commit()
    later = (NOW + timedelta(days=2)).isoformat()
    assert cli(["contact-check", "--country", "MX", "--channel", "whatsapp", "--at", later,
                "--debtor-id", account.debtor.external_id]) == 0
    answer = capsys.readouterr().out
    assert '"decision": "defer"' in answer and "Finanzas del Norte" in answer  # one a week, its own rule
    assert cli(["contact-check", "--country", "MX", "--channel", "whatsapp", "--at", later,
                "--debtor-id", "nobody"]) == 2
