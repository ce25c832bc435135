"""The one check before any message leaves: may we send this, to this number, now, and how?

Two kinds of message pass here. A reply inside a conversation the debtor started (bot answers, agent replies,
receipts) is exempt from contact hours and caps, never from an opt-out; on WhatsApp, free text is allowed
only within 24 hours of the debtor's last message, outside it only an approved template (Twilio error 63016
otherwise). An automated contact (a reminder) also needs the contact rules (bot.messaging.contact_rules): the
debtor's history, opt-outs, wrong numbers, disputes and paused or recalled accounts are gathered here, in bulk
for a whole campaign, and decided there.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.phones import InvalidPhone, split_sender_id
from bot.ledger.db import one_of
from bot.ledger.models import (
    Account,
    AccountStatus,
    CampaignSend,
    Conversation,
    Debtor,
    Message,
    MessageStatus,
    OptOut,
    Phone,
)
from bot.messaging.contact import DEMO_CHANNEL, contact_key, is_opted_out, rules_channel, split_contact_key
from bot.messaging.contact_rules import (
    Block,
    ContactDecision,
    ContactVerdict,
    DebtorContactFacts,
    PastContact,
    decide,
    rules_for,
)

WHATSAPP_WINDOW = timedelta(hours=24)
HISTORY_SPAN = timedelta(days=8)  # the longest rule looks back seven days
COUNTED_STATUSES = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

OPTED_OUT = Block("opted_out", "El número pidió no recibir mensajes automáticos (BAJA).")
WRONG_NUMBER = Block("wrong_number", "El número fue reportado como equivocado: no es del deudor.")
_ACCOUNT_BLOCKS = {
    AccountStatus.PAID: Block("paid", "La cuenta está pagada."),
    AccountStatus.RECALLED: Block("recalled", "El acreedor retiró la cuenta de la cartera."),
    AccountStatus.CLOSED: Block("closed", "La cuenta está cerrada."),
}


def whatsapp_window_open(conversation: Conversation, now: datetime) -> bool:
    return conversation.last_inbound_at is not None and now - conversation.last_inbound_at < WHATSAPP_WINDOW


def check_outbound(session: Session, conversation: Conversation, now: datetime,
                   answering: int | None = None) -> ContactDecision:
    """A reply in the debtor's own conversation: may it leave now, as free text or only as a template?

    `answering`: the debtor's message the bot's reply answers; the answer to the message that opted out (its
    confirmation) still leaves."""
    try:
        channel, e164 = split_sender_id(conversation.sender_id)
    except InvalidPhone:
        return ContactDecision(ContactVerdict.NEVER, None, "El número no es válido.", "invalid_number")
    if is_opted_out(session, contact_key(channel, e164), answering):  # the demo's are its own (bot.messaging.contact)
        return ContactDecision(ContactVerdict.NEVER, None, OPTED_OUT.reason, OPTED_OUT.code)
    if channel != DEMO_CHANNEL and conversation.channel == "whatsapp" and not whatsapp_window_open(conversation, now):
        return ContactDecision(ContactVerdict.SEND, None, "Fuera de la ventana de 24 horas de WhatsApp: solo una "
                               "plantilla aprobada.", "whatsapp_window_closed", template_only=True)
    return ContactDecision(ContactVerdict.SEND, None, "Respuesta dentro de la conversación del deudor.", "reply")


def authorised_channels(debtor: Debtor) -> frozenset[str] | None:
    """The portfolio's `authorized_channels` ("whatsapp|sms"), or None when it did not say."""
    if not debtor.authorized_channels:
        return None
    return frozenset(part.strip().lower() for part in re.split(r"[|,;/ ]+", debtor.authorized_channels) if part.strip())


def account_blocks(account: Account) -> list[Block]:
    """What stops every automated message about this account, whoever the number."""
    blocks = [_ACCOUNT_BLOCKS[account.status]] if account.status in _ACCOUNT_BLOCKS else []
    if account.collection_paused_reason == "dispute":
        blocks.append(Block("dispute", "La cuenta tiene una disputa abierta: la cobranza está en pausa."))
    elif account.collection_paused_reason:
        blocks.append(Block("paused", f"La cobranza de la cuenta está en pausa ({account.collection_paused_reason})."))
    return blocks


@dataclass(frozen=True)
class PhoneFacts:
    """A debtor's number as the rules and a campaign see it."""

    e164: str
    verified: bool
    wrong_number: bool


@dataclass
class ContactContext:
    """Everything the rules need about a set of debtors, read in a few queries (a campaign reads it once)."""

    histories: dict[int, list[PastContact]] = field(default_factory=dict)
    opted_out: set[str] = field(default_factory=set)
    wrong_numbers: set[tuple[int, str]] = field(default_factory=set)
    phones: dict[int, list[PhoneFacts]] = field(default_factory=dict)

    def facts_for(self, account: Account, debtor: Debtor, key: str) -> DebtorContactFacts:
        """`key`: the number's contact key (bot.messaging.contact): the bare E.164, or the demo's own."""
        blocks = account_blocks(account)
        if key in self.opted_out:
            blocks.append(OPTED_OUT)
        if (debtor.id, split_contact_key(key)[1]) in self.wrong_numbers:
            blocks.append(WRONG_NUMBER)
        return DebtorContactFacts(history=tuple(self.histories.get(debtor.id, ())), blocks=tuple(blocks),
                                  authorised_channels=authorised_channels(debtor), timezone=debtor.timezone)

    def record(self, debtor_id: int, contact: PastContact) -> None:
        """A contact just made counts for the next decision in the same run."""
        self.histories.setdefault(debtor_id, []).append(contact)


def load_contact_context(session: Session, debtor_ids: Collection[int], now: datetime,
                         exclude_message_id: int | None = None) -> ContactContext:
    context = ContactContext()
    if not debtor_ids:
        return context
    ids = list(debtor_ids)
    histories: dict[int, list[PastContact]] = defaultdict(list)
    # Automated contacts are the campaign steps' messages, counted by the debtor whose account they were about
    # (whoever's conversation the number is): replies, agent messages and receipts never count.
    # A reminder queued and due counts too (it is about to go), but only against the ones queued after it:
    # two reminders racing for one debtor's single daily slot never both wait for each other.
    queued_first = Message.id < exclude_message_id if exclude_message_id is not None else Message.id.is_not(None)
    due_and_queued = and_(Message.status == MessageStatus.QUEUED, queued_first,
                          or_(Message.send_after.is_(None), Message.send_after <= now))
    moment = func.coalesce(Message.sent_at, Message.send_after, Message.created_at)
    contacts = session.execute(
        select(Account.debtor_id, Message.channel, moment)
        .join(CampaignSend, CampaignSend.account_id == Account.id)
        .join(Message, Message.id == CampaignSend.message_id)
        .where(one_of(session, Account.debtor_id, ids), or_(Message.status.in_(COUNTED_STATUSES), due_and_queued),
               Message.id != (exclude_message_id or -1), moment > now - HISTORY_SPAN))
    for debtor_id, channel, at in contacts:
        histories[debtor_id].append(PastContact(at=at, channel=rules_channel(channel)))
    context.histories = dict(histories)
    phones = session.execute(select(Phone.debtor_id, Phone.e164, Phone.verified, Phone.wrong_number)
                             .where(one_of(session, Phone.debtor_id, ids)).order_by(Phone.id))
    numbers = set()
    for debtor_id, e164, verified, wrong in phones:
        numbers.update({e164, contact_key(DEMO_CHANNEL, e164)})
        context.phones.setdefault(debtor_id, []).append(PhoneFacts(e164, verified, wrong))
        if wrong:
            context.wrong_numbers.add((debtor_id, e164))
    context.opted_out = set(session.scalars(select(OptOut.e164).where(one_of(session, OptOut.e164, numbers))))
    return context


def outreach_decision(session: Session, account: Account, e164: str, channel: str, now: datetime,
                      exclude_message_id: int | None = None) -> ContactDecision:
    """May an automated message about `account` reach `e164` through `channel` now? (Law, creditor, history.)"""
    debtor = account.debtor
    context = load_contact_context(session, [debtor.id], now, exclude_message_id)
    rules = rules_for(debtor.country, config.creditors().get(account.creditor.code))
    return decide(rules, rules_channel(channel), now, context.facts_for(account, debtor, contact_key(channel, e164)))
