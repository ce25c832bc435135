"""What a person does with a handed-off conversation: see the queue, claim, reply, note, offer, record an
outcome, and give it back (to the queue, to the bot) or close it.

Every function takes the `Principal` and asks `bot.agents.access` first; every change is in the audit log
with who, what, when and from which address. Nothing here sends: messages are queued in the outbox (after
the same compliance check the bot's go through) and the HTTP edge flushes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.agents.access import (
    Conflict,
    NotVisible,
    Principal,
    account_in_scope,
    conversation_for,
    conversation_in_scope,
    in_scope,
    require_holder,
    require_role,
    visible,
)
from bot.agents.views import (
    AccountView,
    CannedReply,
    ConversationView,
    DebtorView,
    HandoffView,
    HeldConversation,
    InstallmentView,
    NoteView,
    OfferPreview,
    OfferResult,
    OutcomeView,
    PaymentView,
    PersonLoad,
    PlanView,
    PromiseView,
    QueueEntry,
    ScheduledPaymentView,
    SentMessage,
    TemplateOption,
    TranscriptMessage,
)
from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import format_long_date, format_money, format_weekday_date, local_today, locale_for_country
from bot.common.phones import split_sender_id
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import (
    Account,
    AccountStatus,
    AuditLog,
    Conversation,
    ConversationMode,
    ConversationNote,
    ConversationOutcome,
    Debtor,
    Direction,
    Handoff,
    Message,
    MessageStatus,
    Payment,
    PaymentPlan,
    PromiseToPay,
    Role,
    User,
)
from bot.messaging.compliance import WHATSAPP_WINDOW, check_outbound
from bot.messaging.contact_rules import ContactVerdict
from bot.messaging.conversations import conversation_country, open_handoff
from bot.messaging.outbox import store_outbound
from bot.negotiation.agreements import create_plan, policy_engine, terms_of
from bot.negotiation.policy import PlanProposal, ScheduledPayment
from bot.negotiation.policy import Role as PolicyRole
from bot.payments.documents import document_url, issue_agreement
from bot.payments.links import PaymentProvider, Purpose, issue_link, withdraw_links

OutcomeKind = Literal["promise", "plan", "paid", "dispute", "wrong_number", "no_answer", "callback"]
MAX_TEXT = 1600
MAX_CALLBACK_AHEAD = timedelta(days=90)
_ASKED_CHARS = 80


class PolicyRefused(ValueError):
    """The offer is outside this person's negotiation limits (HTTP 422 with the reasons)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def _audit(session: Session, principal: Principal, action: str, conversation: Conversation, now: datetime,
           **details: Any) -> None:
    session.add(AuditLog(actor=principal.actor, action=action, entity_type="conversation",
                         entity_id=str(conversation.id), details=details, address=principal.address, at=now))


def _window_left(conversation: Conversation, now: datetime) -> int | None:
    if conversation.channel != "whatsapp":
        return None
    if conversation.last_inbound_at is None:
        return 0
    return max(0, int((conversation.last_inbound_at + WHATSAPP_WINDOW - now).total_seconds()))


# --- the queue ----------------------------------------------------------------------------------------

def queue(session: Session, principal: Principal, now: datetime) -> list[QueueEntry]:
    """Conversations waiting for a person, oldest first, within this person's creditors."""
    waiting = session.scalars(
        select(Conversation).where(Conversation.mode == ConversationMode.QUEUED, visible(principal))
        .order_by(Conversation.queued_at.asc().nulls_first(), Conversation.id)).all()
    overdue_after = timedelta(minutes=get_settings().queue_overdue_minutes)
    return [_queue_entry(session, principal, conversation, now, overdue_after) for conversation in waiting]


def change_mark(principal: Principal) -> str:
    """A short fingerprint of everything this person sees (queue, messages, statuses): the live stream sends an
    event when it changes. Read from the database, so every app process and the action server are covered."""
    with session_scope() as session:
        conversations = select(Conversation.id).where(visible(principal)).subquery()
        row = session.execute(select(
            func.count(Conversation.id).filter(Conversation.mode == ConversationMode.QUEUED),
            func.max(Conversation.updated_at)).where(Conversation.id.in_(select(conversations.c.id)))).one()
        messages = session.execute(select(func.max(Message.id), func.max(Message.updated_at))
                                   .where(Message.conversation_id.in_(select(conversations.c.id)))).one()
        notes = session.scalar(select(func.max(ConversationNote.id)).where(
            ConversationNote.conversation_id.in_(select(conversations.c.id))))
    return "|".join(str(part) for part in (*row, *messages, notes))


def held(session: Session, principal: Principal, now: datetime) -> list[HeldConversation]:
    """The person's own conversations, those with unread debtor messages first: what to answer next."""
    mine = session.scalars(select(Conversation).where(Conversation.mode == ConversationMode.AGENT,
                                                      Conversation.assigned_user_id == principal.user_id,
                                                      visible(principal))).all()
    entries = [_held_entry(session, principal, conversation, now) for conversation in mine]
    return sorted(entries, key=lambda entry: (-entry.unread, entry.id))


def overview(session: Session, principal: Principal, now: datetime) -> list[PersonLoad]:
    """Who is handling what among this supervisor's creditors (people with nothing held are listed too)."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    held_now = session.scalars(select(Conversation).where(Conversation.mode == ConversationMode.AGENT,
                                                          visible(principal)).order_by(Conversation.id)).all()
    loads: dict[int, list[HeldConversation]] = {}
    for conversation in held_now:
        loads.setdefault(conversation.assigned_user_id or 0, []).append(
            _held_entry(session, principal, conversation, now))
    people = [user for user in session.scalars(select(User).where(User.disabled_at.is_(None)).order_by(User.email))
              if _covers(principal, user)]
    return [PersonLoad(email=user.email, role=user.role.value, conversations=loads.get(user.id, []))
            for user in people]


def _covers(supervisor: Principal, user: User) -> bool:
    """Whether a person works on at least one of the supervisor's creditors."""
    other = Principal.of(user)
    if supervisor.creditor_ids is None or other.creditor_ids is None:
        return True
    return bool(supervisor.creditor_ids & other.creditor_ids)


def _held_entry(session: Session, principal: Principal, conversation: Conversation, now: datetime) -> HeldConversation:
    """A held conversation with its unread count: debtor messages after the last one sent to them."""
    last_out = session.scalar(select(func.max(Message.id)).where(Message.conversation_id == conversation.id,
                                                                 Message.direction == Direction.OUTBOUND)) or 0
    unread = session.scalar(select(func.count(Message.id)).where(
        Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND,
        Message.id > last_out)) or 0
    debtor = session.get(Debtor, conversation.debtor_id) if conversation.debtor_id else None
    accounts = _accounts(session, principal, conversation.debtor_id)
    currencies = {account.currency for account in accounts}
    total = sum((a.total for a in accounts), Decimal("0")) if len(currencies) == 1 else None
    return HeldConversation(
        id=conversation.id, channel=conversation.channel, unread=unread,
        summary=_summary(session, conversation, debtor, accounts, total, next(iter(currencies), None),
                         conversation_country(session, conversation)),
        last_inbound_at=conversation.last_inbound_at, whatsapp_window_seconds_left=_window_left(conversation, now))


def _accounts(session: Session, principal: Principal, debtor_id: int | None, *,
              active_only: bool = True) -> list[Account]:
    """The debtor's accounts this person may see: only their creditors', never another creditor's."""
    if debtor_id is None:
        return []
    query = select(Account).where(Account.debtor_id == debtor_id, account_in_scope(principal))
    if active_only:
        query = query.where(Account.status == AccountStatus.ACTIVE)
    return list(session.scalars(query.order_by(Account.id)))


def _creditor_config(session: Session, principal: Principal,
                     conversation: Conversation) -> config.CreditorConfig | None:
    """Whose WhatsApp templates this person sends with: the first of their creditors the debtor owes."""
    accounts = _accounts(session, principal, conversation.debtor_id, active_only=False)
    return config.creditors().get(accounts[0].creditor.code) if accounts else None


def _queue_entry(session: Session, principal: Principal, conversation: Conversation, now: datetime,
                 overdue_after: timedelta) -> QueueEntry:
    debtor = session.get(Debtor, conversation.debtor_id) if conversation.debtor_id else None
    accounts = _accounts(session, principal, conversation.debtor_id)
    currencies = {account.currency for account in accounts}
    total = sum((account.total for account in accounts), Decimal("0")) if len(currencies) == 1 else None
    currency = next(iter(currencies)) if len(currencies) == 1 else None
    country = conversation_country(session, conversation)
    queued_at = conversation.queued_at or conversation.updated_at
    waiting = max(0, int((now - queued_at).total_seconds()))
    return QueueEntry(
        id=conversation.id, channel=conversation.channel, reason=conversation.mode_reason,
        summary=_summary(session, conversation, debtor, accounts, total, currency, country), country=country,
        creditors=sorted({account.creditor.code for account in accounts}),
        amount=str(total) if total is not None else None, currency=currency,
        amount_display=format_money(total, currency, locale_for_country(country))
        if total is not None and currency else None,
        queued_at=conversation.queued_at, waiting_seconds=waiting,
        whatsapp_window_seconds_left=_window_left(conversation, now), overdue=waiting > overdue_after.total_seconds())


def _summary(session: Session, conversation: Conversation, debtor: Debtor | None, accounts: list[Account],
             total: Decimal | None, currency: str | None, country: str) -> str:
    """One line: who, which accounts and total, what was asked last, what was last offered."""
    who = debtor.full_name if debtor else f"Sin verificar ({split_sender_id(conversation.sender_id)[1]})"
    parts = [who]
    if accounts:
        owed = format_money(total, currency, locale_for_country(country)) if total is not None and currency else "—"
        parts.append(", ".join(f"{a.creditor.name} {a.product} {a.external_id}" for a in accounts) + f": {owed}")
    asked = session.scalar(select(Message.body).where(Message.conversation_id == conversation.id,
                                                      Message.direction == Direction.INBOUND, Message.body != "")
                           .order_by(Message.id.desc()).limit(1))
    if asked:
        parts.append(f"pidió: «{asked[:_ASKED_CHARS]}{'…' if len(asked) > _ASKED_CHARS else ''}»")
    offered = _last_offer(session, [a.id for a in accounts])
    if offered:
        parts.append(f"ofrecido: {offered}")
    return " · ".join(parts)


def _last_offer(session: Session, account_ids: list[int]) -> str | None:
    if not account_ids:
        return None
    plan = session.scalars(select(PaymentPlan).where(PaymentPlan.account_id.in_(account_ids))
                           .order_by(PaymentPlan.id.desc()).limit(1)).first()
    promise = session.scalars(select(PromiseToPay).where(PromiseToPay.account_id.in_(account_ids))
                              .order_by(PromiseToPay.id.desc()).limit(1)).first()
    latest = max([item for item in (plan, promise) if item is not None], key=lambda item: item.created_at,
                 default=None)
    if isinstance(latest, PaymentPlan):
        return f"plan de {len(latest.installments)} pagos por {latest.total} {latest.currency} ({latest.status})"
    if isinstance(latest, PromiseToPay):
        amount = f" de {latest.amount} {latest.currency}" if latest.amount is not None else ""
        return f"promesa{amount} para el {latest.promised_date.isoformat()} ({latest.status})"
    return None


# --- one conversation ---------------------------------------------------------------------------------

def _email(session: Session, user_id: int | None) -> str | None:
    return session.scalar(select(User.email).where(User.id == user_id)) if user_id is not None else None


def conversation_view(session: Session, principal: Principal, conversation_id: int, now: datetime) -> ConversationView:
    conversation = conversation_for(session, principal, conversation_id)
    debtor = session.get(Debtor, conversation.debtor_id) if conversation.debtor_id else None
    accounts = _accounts(session, principal, debtor.id if debtor else None, active_only=False)
    account_ids = [account.id for account in accounts]
    country = conversation_country(session, conversation)
    locale = locale_for_country(country)
    today = local_today(country, debtor.timezone if debtor else None, now)
    authors = {user.id: user.email for user in session.scalars(select(User))}
    return ConversationView(
        id=conversation.id, channel=conversation.channel, phone=split_sender_id(conversation.sender_id)[1],
        mode=conversation.mode.value, mode_reason=conversation.mode_reason,
        assigned_to=authors.get(conversation.assigned_user_id or 0),
        whatsapp_window_seconds_left=_window_left(conversation, now),
        debtor=DebtorView(id=debtor.id, name=debtor.full_name, country=debtor.country) if debtor else None,
        transcript=[TranscriptMessage(id=m.id, direction=m.direction.value, body=m.body, status=m.status.value,
                                      error_code=m.error_code, template=m.template,
                                      media=list((m.media or {}).get("items", [])), created_at=m.created_at)
                    for m in session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                             .order_by(Message.id))],
        notes=[NoteView(id=n.id, author=authors.get(n.user_id, "?"), body=n.body, created_at=n.created_at)
               for n in session.scalars(select(ConversationNote).where(
                   ConversationNote.conversation_id == conversation.id).order_by(ConversationNote.id))],
        accounts=[AccountView(id=a.id, creditor=a.creditor.name, product=a.product, external_id=a.external_id,
                              currency=a.currency, principal=str(a.principal), interest=str(a.interest),
                              fees=str(a.fees), total=str(a.total),
                              total_display=format_money(a.total, a.currency, locale), due_date=a.due_date,
                              days_past_due=a.days_past_due(today), status=a.status.value,
                              collection_paused_reason=a.collection_paused_reason) for a in accounts],
        payments=[PaymentView(id=p.id, account_id=p.account_id, amount=str(p.amount), currency=p.currency,
                              provider=p.provider, paid_at=p.paid_at)
                  for p in session.scalars(select(Payment).where(Payment.account_id.in_(account_ids))
                                           .order_by(Payment.id))],
        plans=[PlanView(id=p.id, account_id=p.account_id, total=str(p.total), down_payment=str(p.down_payment),
                        frequency=p.frequency, status=p.status.value, created_by=p.created_by, created_at=p.created_at,
                        installments=[InstallmentView(number=i.number, due_date=i.due_date, amount=str(i.amount),
                                                      paid_amount=str(i.paid_amount), status=i.status.value)
                                      for i in p.installments])
               for p in session.scalars(select(PaymentPlan).where(PaymentPlan.account_id.in_(account_ids))
                                        .order_by(PaymentPlan.id))],
        promises=[PromiseView(id=p.id, account_id=p.account_id, promised_date=p.promised_date,
                              amount=str(p.amount) if p.amount is not None else None, status=p.status.value,
                              created_by=p.created_by, created_at=p.created_at)
                  for p in session.scalars(select(PromiseToPay).where(PromiseToPay.account_id.in_(account_ids))
                                           .order_by(PromiseToPay.id))],
        handoffs=[HandoffView(id=h.id, reason=h.reason, requested_at=h.requested_at, facts=h.facts,
                              claimed_by=authors.get(h.claimed_by_id or 0), claimed_at=h.claimed_at,
                              ended_at=h.ended_at, ending=h.ending)
                  for h in session.scalars(select(Handoff).where(Handoff.conversation_id == conversation.id)
                                           .order_by(Handoff.id))],
        outcomes=[OutcomeView(id=o.id, kind=o.kind, author=authors.get(o.user_id, "?"), callback_at=o.callback_at,
                              details=o.details, created_at=o.created_at)
                  for o in session.scalars(select(ConversationOutcome).where(
                      ConversationOutcome.conversation_id == conversation.id).order_by(ConversationOutcome.id))],
        templates=template_options(session, principal, conversation))


# --- taking it, giving it back ------------------------------------------------------------------------

def claim(session: Session, principal: Principal, conversation_id: int, now: datetime) -> Conversation:
    """Take a queued conversation. One conditional UPDATE: of two people at once, exactly one wins (the other
    gets Conflict naming the winner)."""
    conversation_in_scope(session, principal, conversation_id)
    taken = session.execute(
        update(Conversation).where(Conversation.id == conversation_id, Conversation.mode == ConversationMode.QUEUED)
        .values(mode=ConversationMode.AGENT, assigned_user_id=principal.user_id, updated_at=now)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        current = conversation_in_scope(session, principal, conversation_id)
        raise Conflict("not_in_queue", mode=current.mode.value, assigned_to=_email(session, current.assigned_user_id))
    conversation = conversation_for(session, principal, conversation_id)
    session.refresh(conversation)
    handoff = open_handoff(session, conversation)
    if handoff is not None:
        handoff.claimed_by_id, handoff.claimed_at = principal.user_id, now
    _audit(session, principal, "conversation_claimed", conversation, now)
    session.flush()
    return conversation


def assign(session: Session, principal: Principal, conversation_id: int, email: str, now: datetime) -> Conversation:
    """A supervisor hands a conversation to a person (queued or held by someone else)."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    conversation = _held(session, principal, conversation_id)
    user = session.scalars(select(User).where(User.email == email.strip().lower(),
                                              User.disabled_at.is_(None))).one_or_none()
    if user is None or session.scalars(select(Conversation.id).where(
            Conversation.id == conversation.id, in_scope(Principal.of(user)))).first() is None:
        raise Conflict("not_a_person_for_this_conversation")
    previous = conversation.assigned_user_id
    conversation.mode, conversation.assigned_user_id, conversation.updated_at = ConversationMode.AGENT, user.id, now
    handoff = open_handoff(session, conversation)
    if handoff is not None:
        handoff.claimed_by_id, handoff.claimed_at = user.id, now
    _audit(session, principal, "conversation_assigned", conversation, now, to=user.id, previous=previous)
    return conversation


def canned_replies(session: Session, principal: Principal, conversation_id: int, now: datetime) -> list[CannedReply]:
    """config/canned_replies.yml with {nombre}, {saldo} and {vencimiento} filled for this conversation."""
    conversation = conversation_for(session, principal, conversation_id)
    debtor = session.get(Debtor, conversation.debtor_id) if conversation.debtor_id else None
    accounts = _accounts(session, principal, conversation.debtor_id)
    country = conversation_country(session, conversation)
    locale = locale_for_country(country)
    currencies = {account.currency for account in accounts}
    owed = format_money(sum((a.total for a in accounts), Decimal("0")), accounts[0].currency, locale) \
        if accounts and len(currencies) == 1 else ""
    due = format_long_date(min(a.due_date for a in accounts), locale) if accounts else ""
    values = {"nombre": debtor.first_name if debtor else "", "saldo": owed, "vencimiento": due}
    return [CannedReply(id=key, title=reply.title, text=reply.text.format_map(_Blank(values)))
            for key, reply in config.canned_replies().items()]


class _Blank(dict[str, str]):
    """format_map that leaves an unknown {variable} empty rather than failing on an admin's typo."""

    def __missing__(self, key: str) -> str:
        return ""


def _held(session: Session, principal: Principal, conversation_id: int) -> Conversation:
    """The conversation, for an action that needs it handed off and not held by someone else."""
    conversation = conversation_for(session, principal, conversation_id, lock=True)
    require_holder(principal, conversation)
    if conversation.mode not in (ConversationMode.QUEUED, ConversationMode.AGENT):
        raise Conflict("not_handed_off", mode=conversation.mode.value)
    return conversation


def _end_handoff(session: Session, conversation: Conversation, ending: str, now: datetime) -> None:
    handoff = open_handoff(session, conversation)
    if handoff is not None:
        handoff.ended_at, handoff.ending = now, ending


def _claimed_first(principal: Principal, conversation: Conversation) -> None:
    """Ending a hand-off nobody has taken is for supervisors and admins; an agent claims it first."""
    if conversation.mode is ConversationMode.QUEUED and not principal.oversees_others:
        raise Conflict("claim_first")


def release(session: Session, principal: Principal, conversation_id: int, now: datetime) -> Conversation:
    """Back to the queue, for someone else (keeps its place: queued_at does not change)."""
    conversation = _held(session, principal, conversation_id)
    if conversation.mode is ConversationMode.QUEUED:
        raise Conflict("not_claimed")
    conversation.mode, conversation.assigned_user_id, conversation.updated_at = ConversationMode.QUEUED, None, now
    handoff = open_handoff(session, conversation)
    if handoff is not None:
        handoff.claimed_by_id, handoff.claimed_at = None, None
    _audit(session, principal, "conversation_released", conversation, now)
    return conversation


def return_to_bot(session: Session, principal: Principal, conversation_id: int, now: datetime) -> Conversation:
    """The bot answers again, with a fresh dialogue: what was agreed is in the ledger, identity in its checks."""
    conversation = _held(session, principal, conversation_id)
    _claimed_first(principal, conversation)
    conversation.mode, conversation.mode_reason = ConversationMode.BOT, None
    conversation.assigned_user_id, conversation.queued_at, conversation.updated_at = None, None, now
    conversation.reset_dialogue = True  # the gateway restarts Rasa's tracker before the next message
    _end_handoff(session, conversation, "returned", now)
    _audit(session, principal, "conversation_returned_to_bot", conversation, now)
    return conversation


def close(session: Session, principal: Principal, conversation_id: int, now: datetime) -> Conversation:
    """Done with the hand-off; if the debtor writes again, the bot answers them afresh."""
    conversation = _held(session, principal, conversation_id)
    _claimed_first(principal, conversation)
    conversation.mode, conversation.assigned_user_id, conversation.updated_at = ConversationMode.CLOSED, None, now
    conversation.reset_dialogue = True
    _end_handoff(session, conversation, "closed", now)
    _audit(session, principal, "conversation_closed", conversation, now)
    return conversation


# --- writing to the debtor ----------------------------------------------------------------------------

def _take_if_queued(session: Session, principal: Principal, conversation: Conversation, now: datetime) -> bool:
    if conversation.mode is not ConversationMode.QUEUED:
        return False
    claim(session, principal, conversation.id, now)
    session.refresh(conversation)
    return True


def template_options(session: Session, principal: Principal, conversation: Conversation) -> list[TemplateOption]:
    creditor = _creditor_config(session, principal, conversation)
    return [TemplateOption(template=name, variables=template.variables)
            for name, template in (creditor.templates.items() if creditor else [])]


def _templates(session: Session, principal: Principal, conversation: Conversation) -> list[dict[str, Any]]:
    return [option.model_dump() for option in template_options(session, principal, conversation)]


def send_message(session: Session, principal: Principal, conversation_id: int, now: datetime, *,
                 text: str | None = None, template: str | None = None,
                 variables: dict[str, str] | None = None) -> SentMessage:
    """An agent's message: free text inside the WhatsApp window, an approved template outside it.

    A reply to a queued conversation claims it. Refused (Conflict) when the debtor opted out, or free text
    outside the window (with the templates that may go instead).
    """
    conversation = _held(session, principal, conversation_id)
    decision = check_outbound(session, conversation, now)
    if decision.decision is ContactVerdict.NEVER:
        raise Conflict(decision.code)
    if template is None:
        body = (text or "").strip()
        if not body:
            raise ValueError("empty message")
        if len(body) > MAX_TEXT:
            raise ValueError(f"message longer than {MAX_TEXT} characters")
        if decision.template_only:
            raise Conflict(decision.code, templates=_templates(session, principal, conversation))
        claimed = _take_if_queued(session, principal, conversation, now)
        messages = store_outbound(session, conversation, body, now, status=MessageStatus.QUEUED)
    else:
        creditor = _creditor_config(session, principal, conversation)
        approved = creditor.templates.get(template) if creditor else None
        if approved is None:
            raise Conflict("unknown_template", templates=_templates(session, principal, conversation))
        values = variables or {}
        missing = [name for name in approved.variables if not str(values.get(name, "")).strip()]
        if missing:
            raise ValueError(f"template {template} needs {', '.join(missing)}")
        filled = {str(index): str(values[name]) for index, name in enumerate(approved.variables, 1)}
        claimed = _take_if_queued(session, principal, conversation, now)
        body = f"[{template}] " + " · ".join(filled.values())
        messages = store_outbound(session, conversation, body, now, status=MessageStatus.QUEUED,
                                  template={"content_sid": approved.content_sid, "variables": filled,
                                            "name": template})
    _audit(session, principal, "agent_message_queued", conversation, now,
           message_ids=[m.id for m in messages], template=template)
    return SentMessage(message_ids=[m.id for m in messages], claimed=claimed)


def add_note(session: Session, principal: Principal, conversation_id: int, body: str, now: datetime) -> NoteView:
    conversation = conversation_for(session, principal, conversation_id)
    text = body.strip()
    if not text or len(text) > 5000:
        raise ValueError("a note has 1 to 5000 characters")
    note = ConversationNote(conversation_id=conversation.id, user_id=principal.user_id, body=text, created_at=now)
    session.add(note)
    _audit(session, principal, "note_added", conversation, now)
    session.flush()
    return NoteView(id=note.id, author=principal.email, body=note.body, created_at=note.created_at)


# --- offers and outcomes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanOffer:
    account_id: int
    proposal: PlanProposal  # the policy engine's own terms: installments, down payment, first date, frequency


@dataclass(frozen=True)
class SettlementOfferRequest:
    account_id: int
    amount: Decimal | None = None  # None: the lowest this person may offer


def policy_role(principal: Principal) -> PolicyRole:
    """Whose limits apply: an admin negotiates with a supervisor's."""
    return "agent" if principal.role is Role.AGENT else "supervisor"


def _account_of(session: Session, principal: Principal, conversation: Conversation, account_id: int) -> Account:
    account = session.scalars(select(Account).where(Account.id == account_id, account_in_scope(principal))).first()
    if account is None or conversation.debtor_id is None or account.debtor_id != conversation.debtor_id:
        raise NotVisible("account not found in this conversation")
    if account.status is not AccountStatus.ACTIVE:
        raise Conflict("account_not_active", status=account.status.value)
    return account


def _policy_answer(account: Account, offer: PlanOffer | SettlementOfferRequest, role: PolicyRole,
                   today: date) -> tuple[list[str], Decimal | None, tuple[ScheduledPayment, ...]]:
    """The policy engine's reasons (empty: allowed), the first amount due, and a plan's schedule."""
    terms = terms_of(account, today)
    if isinstance(offer, PlanOffer):
        verdict = policy_engine().evaluate_plan(terms, role, offer.proposal, today)
        if verdict.plan is None or verdict.reasons:
            return list(verdict.reasons) or ["not_allowed"], None, ()
        return [], verdict.plan.schedule[0].amount, verdict.plan.schedule
    amount = offer.amount if offer.amount is not None else policy_engine().settlement(terms, role, today)[0]
    return policy_engine().settlement_violations(terms, role, amount, today), amount, ()


def _negotiating(session: Session, principal: Principal, conversation: Conversation, account_id: int,
                 now: datetime) -> tuple[Account, date, str, PolicyRole]:
    """The account offered on (in the person's scope), the debtor's today and locale, and whose limits apply."""
    account = _account_of(session, principal, conversation, account_id)
    debtor = account.debtor
    return (account, local_today(debtor.country, debtor.timezone, now), locale_for_country(debtor.country),
            policy_role(principal))


def preview_offer(session: Session, principal: Principal, conversation_id: int,
                  offer: PlanOffer | SettlementOfferRequest, now: datetime) -> OfferPreview:
    """The policy's answer shown to the person before they send anything (no side effect)."""
    conversation = conversation_for(session, principal, conversation_id)
    account, today, locale, role = _negotiating(session, principal, conversation, offer.account_id, now)
    reasons, amount, schedule = _policy_answer(account, offer, role, today)
    lowest, _ = policy_engine().settlement(terms_of(account, today), role, today)
    money = lambda value: format_money(value, account.currency, locale)  # noqa: E731
    return OfferPreview(
        allowed=not reasons, reasons=reasons, amount=str(amount) if amount is not None and not reasons else None,
        amount_display=money(amount) if amount is not None and not reasons else None,
        schedule=[ScheduledPaymentView(number=item.number, due_date=item.due, amount=str(item.amount),
                                       amount_display=money(item.amount)) for item in schedule],
        lowest_settlement=str(lowest), lowest_settlement_display=money(lowest))


def make_offer(session: Session, principal: Principal, conversation_id: int, offer: PlanOffer | SettlementOfferRequest,
               provider: PaymentProvider, now: datetime) -> OfferResult:
    """A plan or a settlement within this person's limits: the same ledger rows, PDF and link the bot makes,
    and a message to the debtor with them. PolicyRefused (with reasons) when outside the limits."""
    conversation = _held(session, principal, conversation_id)
    account, today, locale, role = _negotiating(session, principal, conversation, offer.account_id, now)
    decision = check_outbound(session, conversation, now)
    if not decision.free_text:  # the link must reach the debtor as a message
        raise Conflict(decision.code, templates=_templates(session, principal, conversation))
    _take_if_queued(session, principal, conversation, now)
    reasons, amount, _ = _policy_answer(account, offer, role, today)
    if reasons or amount is None:
        raise PolicyRefused(reasons or ["not_allowed"])
    if isinstance(offer, PlanOffer):
        plan = create_plan(session, account, offer.proposal, today, role, created_by=principal.actor)
        if plan is None:
            raise PolicyRefused(["not_allowed"])
        withdraw_links(session, provider, account.id, now, plans_other_than=plan.id)
        agreement = issue_agreement(session, plan, account, now)
        agreement_url: str | None = document_url(agreement, account, now)
        first = plan.installments[0]
        issued = issue_link(session, provider, account, "installment", now, installment=first,
                            conversation=conversation, created_by=principal.actor)
        installments = sum(1 for item in plan.installments if item.number > 0)  # the down payment is not one
        body = app_message("agent_plan_offer", count=installments, agreement_url=agreement_url,
                           amount=format_money(issued.link.amount, account.currency, locale),
                           date=format_weekday_date(first.due_date, locale), url=issued.url)
        kind = "plan"
    else:
        purpose: Purpose = "settlement" if amount < account.total else "full"
        issued = issue_link(session, provider, account, purpose, now, amount=amount, conversation=conversation,
                            created_by=principal.actor)
        agreement_url = None
        body = app_message("agent_settlement_offer", amount=format_money(amount, account.currency, locale),
                           product=account.product, url=issued.url)
        kind = "settlement"
    messages = store_outbound(session, conversation, body, now, status=MessageStatus.QUEUED)
    _audit(session, principal, f"{kind}_offered", conversation, now, account_id=account.id,
           amount=str(issued.link.amount), role=role)
    return OfferResult(kind=kind, account_id=account.id, amount=str(issued.link.amount), payment_url=issued.url,
                       agreement_url=agreement_url, message_ids=[m.id for m in messages])


def record_outcome(session: Session, principal: Principal, conversation_id: int, kind: OutcomeKind, now: datetime, *,
                   callback_at: datetime | None = None, details: dict[str, Any] | None = None) -> OutcomeView:
    """What came of the conversation, for the numbers and the next person (a callback needs its time)."""
    conversation = conversation_for(session, principal, conversation_id)
    require_holder(principal, conversation)
    if kind == "callback" and (callback_at is None or not now < callback_at <= now + MAX_CALLBACK_AHEAD):
        raise ValueError("a callback needs a time within the next 90 days")
    if kind != "callback" and callback_at is not None:
        raise ValueError("only a callback has a time")
    outcome = ConversationOutcome(conversation_id=conversation.id, user_id=principal.user_id, kind=kind,
                                  callback_at=callback_at, details=details or {}, created_at=now)
    session.add(outcome)
    _audit(session, principal, "outcome_recorded", conversation, now, kind=kind)
    session.flush()
    return OutcomeView(id=outcome.id, kind=kind, author=principal.email, callback_at=callback_at,
                       details=outcome.details, created_at=now)

