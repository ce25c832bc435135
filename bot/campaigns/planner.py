"""Which accounts a campaign reaches today, by which number and channel, and what the contact rules say.

Planning reads in bulk (a few queries per thousand accounts) so a portfolio of 100,000 plans in seconds;
the workers decide again, one account at a time, at the moment each message leaves.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, literal, select
from sqlalchemy.orm import Session, joinedload

from bot.campaigns.cadences import Anchor, Campaign, Step
from bot.common import config
from bot.ledger.db import one_of
from bot.ledger.models import (
    Account,
    AccountStatus,
    AgreementStatus,
    CampaignSend,
    Debtor,
    Installment,
    Message,
    MessageStatus,
    PaymentPlan,
    PromiseToPay,
)
from bot.messaging.compliance import ContactContext, PhoneFacts, authorised_channels, load_contact_context
from bot.messaging.contact import DEMO_CHANNEL, contact_key, rules_channel
from bot.messaging.contact_rules import (
    Block,
    ContactDecision,
    ContactRules,
    ContactVerdict,
    PastContact,
    decide,
    rules_for,
)

BATCH = 2000
TEMPLATE_DETAILED, TEMPLATE_DISCREET = "reminder_detailed", "reminder_discreet"


@dataclass(frozen=True)
class Job:
    """One step for one account on one local day: the idempotency key the database enforces."""

    campaign: str
    step: str
    account_id: int
    day: date
    anchor_id: int | None = None  # the installment or promise the step is about

    def as_args(self) -> list[str | int | None]:
        return [self.campaign, self.step, self.account_id, self.day.isoformat(), self.anchor_id]

    @classmethod
    def from_args(cls, campaign: str, step: str, account_id: int, day: str, anchor_id: int | None) -> Job:
        return cls(campaign, step, account_id, date.fromisoformat(day), anchor_id)


@dataclass(frozen=True)
class Reach:
    e164: str
    channel: str  # whatsapp | sms | demo (the demo's chat page, standing in for WhatsApp)
    verified: bool  # the debtor proved this number before: the message may say what it is about

    @property
    def rules_channel(self) -> str:
        return rules_channel(self.channel)

    @property
    def contact_key(self) -> str:
        return contact_key(self.channel, self.e164)


def reach_for(debtor: Debtor, phones: Sequence[PhoneFacts], creditor: config.CreditorConfig | None) -> Reach | Block:
    """The number and channel a reminder goes by: a verified number first; WhatsApp when the creditor has
    approved reminder templates (free text outside the 24-hour window is refused) and the debtor did not rule
    it out, else SMS. A Block when no number or channel can carry it."""
    usable = sorted((phone for phone in phones if not phone.wrong_number), key=lambda phone: not phone.verified)
    if not usable:
        return Block("wrong_number", "No hay un número utilizable: todos fueron reportados como equivocados.")
    if debtor.is_demo:  # the demo portfolio is only ever played on the local chat page
        return Reach(usable[0].e164, DEMO_CHANNEL, usable[0].verified)
    allowed = authorised_channels(debtor)
    has_template = creditor is not None and {TEMPLATE_DETAILED, TEMPLATE_DISCREET} <= set(creditor.templates)
    channels = [channel for channel in (["whatsapp"] if has_template else []) + ["sms"]
                if allowed is None or channel in allowed]
    if not channels:
        return Block("channel_not_authorised", "Ningún canal que autorizó el deudor puede llevar un recordatorio "
                                               "(WhatsApp necesita una plantilla aprobada del acreedor).")
    return Reach(usable[0].e164, channels[0], usable[0].verified)


@dataclass(frozen=True)
class Planned:
    job: Job
    debtor: Debtor
    account: Account
    reach: Reach | None
    decision: ContactDecision


def local_day(country: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.country(country).timezone)).date()


def due_jobs(session: Session, campaign: Campaign, now: datetime, pending_only: bool = False) -> list[Job]:
    """Every (account, step) of the campaign due on each country's local today; `pending_only`: those not
    handled yet today (what a scheduler that wakes up every few minutes enqueues)."""
    jobs: list[Job] = []
    for code in config.countries():
        today = local_day(code, now)
        for step in campaign.steps:
            query = _due_query(step, code, today - timedelta(days=step.offset_days))
            if pending_only:
                query = query.where(~select(CampaignSend.id).where(
                    CampaignSend.account_id == Account.id, CampaignSend.campaign == campaign.name,
                    CampaignSend.step == step.name, CampaignSend.day == today).exists())
            for account_id, anchor_id in session.execute(query):
                jobs.append(Job(campaign.name, step.name, account_id, today, anchor_id))
    return jobs


def deferred_due(session: Session, now: datetime, limit: int = 10_000) -> list[tuple[Job, datetime]]:
    """Steps whose reminder was deferred by the contact rules and is now due: the scheduler hands them to the
    workers again (they keep the rate per sender and check the reminder is still true)."""
    rows = session.execute(
        select(CampaignSend.campaign, CampaignSend.step, CampaignSend.account_id, CampaignSend.day,
               CampaignSend.anchor_id, Message.send_after)
        .join(Message, Message.id == CampaignSend.message_id)
        .where(Message.status == MessageStatus.QUEUED, Message.send_after.is_not(None), Message.send_after <= now)
        .order_by(Message.send_after, Message.id).limit(limit))
    return [(Job(campaign, step, account_id, day, anchor_id), send_after)
            for campaign, step, account_id, day, anchor_id, send_after in rows]


def _due_query(step: Step, country: str, anchor_day: date):  # type: ignore[no-untyped-def]
    active = (Account.status == AccountStatus.ACTIVE, Debtor.country == country)
    if step.anchor is Anchor.DUE_DATE:
        no_open_plan = ~select(PaymentPlan.id).where(PaymentPlan.account_id == Account.id,
                                                     PaymentPlan.status == AgreementStatus.PENDING).exists()
        return (select(Account.id, literal(None, Integer)).join(Debtor)
                .where(*active, Account.due_date == anchor_day, no_open_plan).order_by(Account.id))
    if step.anchor is Anchor.INSTALLMENT:
        return (select(Account.id, Installment.id).join(Debtor).join(PaymentPlan, PaymentPlan.account_id == Account.id)
                .join(Installment, Installment.plan_id == PaymentPlan.id)
                .where(*active, PaymentPlan.status == AgreementStatus.PENDING,
                       Installment.status == AgreementStatus.PENDING, Installment.due_date == anchor_day)
                .order_by(Account.id))
    return (select(Account.id, PromiseToPay.id).join(Debtor).join(PromiseToPay, PromiseToPay.account_id == Account.id)
            .where(*active, PromiseToPay.status == AgreementStatus.PENDING, PromiseToPay.promised_date == anchor_day)
            .order_by(Account.id))


@lru_cache(maxsize=256)
def _rules(country: str, creditor_code: str) -> ContactRules:
    """The rules of a country and creditor, built once (config files are read at start-up)."""
    return rules_for(country, config.creditors().get(creditor_code))


def plan(session: Session, jobs: Sequence[Job], now: datetime, batch: int = BATCH) -> Iterator[Planned]:
    """Each job with its number, channel and the contact rules' answer (history counted as the run goes)."""
    creditors = config.creditors()
    for start in range(0, len(jobs), batch):
        chunk = jobs[start:start + batch]
        accounts = {account.id: account for account in session.scalars(
            select(Account).where(one_of(session, Account.id, {job.account_id for job in chunk}))
            .options(joinedload(Account.debtor), joinedload(Account.creditor)))}
        context: ContactContext = load_contact_context(session, {a.debtor_id for a in accounts.values()}, now)
        for job in chunk:
            account = accounts[job.account_id]
            debtor = account.debtor
            creditor = creditors.get(account.creditor.code)
            found = reach_for(debtor, context.phones.get(debtor.id, []), creditor)
            reach = found if isinstance(found, Reach) else None
            if reach is None:
                assert isinstance(found, Block)
                decision = ContactDecision(ContactVerdict.NEVER, None, found.reason, found.code)
            else:
                decision = decide(_rules(debtor.country, account.creditor.code), reach.rules_channel, now,
                                  context.facts_for(account, debtor, reach.contact_key))
                if decision.decision is ContactVerdict.SEND:
                    context.record(debtor.id, PastContact(now, reach.rules_channel))
            yield Planned(job, debtor, account, reach, decision)


@dataclass
class Preview:
    campaign: str
    accounts: int = 0
    send_now: int = 0
    deferred: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    by_step: Counter[str] = field(default_factory=Counter)
    already_handled: int = 0  # steps already sent, scheduled or blocked today (a run skips them)

    def add(self, planned: Planned) -> None:
        self.accounts += 1
        self.by_step[planned.job.step] += 1
        if planned.decision.decision is ContactVerdict.SEND:
            self.send_now += 1
        elif planned.decision.decision is ContactVerdict.DEFER:
            self.deferred += 1
        else:
            self.blocked[planned.decision.code] += 1

    def summary(self) -> str:
        lines = [f"campaign {self.campaign}: {self.accounts} accounts due today"
                 + (f" (and {self.already_handled} already handled today)" if self.already_handled else ""),
                 f"  send now: {self.send_now}", f"  later (contact hours or caps): {self.deferred}",
                 f"  blocked: {sum(self.blocked.values())}"]
        lines += [f"    {code}: {count}" for code, count in self.blocked.most_common()]
        lines += [f"  step {step}: {count}" for step, count in sorted(self.by_step.items())]
        return "\n".join(lines)


def preview(session: Session, campaign: Campaign, now: datetime) -> Preview:
    """What a run now would do: how many accounts, how many go now, later, or never and why."""
    pending = due_jobs(session, campaign, now, pending_only=True)
    result = Preview(campaign.name, already_handled=len(due_jobs(session, campaign, now)) - len(pending))
    for planned in plan(session, pending, now):
        result.add(planned)
    return result

