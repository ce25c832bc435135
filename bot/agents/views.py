"""What the agent API shows: the queue and a conversation as a person needs them (JSON-ready, typed).

Money is a string of the Decimal in the account's currency (never a float), plus the amount formatted in
the debtor's locale for display.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class TemplateOption(BaseModel):
    """An approved WhatsApp template an agent may send outside the 24-hour window."""

    template: str
    variables: list[str]


class QueueEntry(BaseModel):
    id: int
    channel: str
    reason: str | None
    summary: str
    country: str
    creditors: list[str]  # the person's creditors the debtor owes (codes), for filtering
    amount: str | None  # what the debtor owes in total (one currency), None for a stranger
    currency: str | None
    amount_display: str | None
    queued_at: datetime | None
    waiting_seconds: int
    whatsapp_window_seconds_left: int | None  # None: not WhatsApp (no window)
    overdue: bool  # unclaimed past QUEUE_OVERDUE_MINUTES


class HeldConversation(BaseModel):
    """A conversation the person holds, and how many debtor messages arrived since they last wrote."""

    id: int
    channel: str
    summary: str
    unread: int
    last_inbound_at: datetime | None
    whatsapp_window_seconds_left: int | None


class TranscriptMessage(BaseModel):
    id: int
    direction: str
    body: str
    status: str
    error_code: str | None
    template: dict[str, Any] | None
    media: list[dict[str, str]]
    created_at: datetime


class InstallmentView(BaseModel):
    number: int
    due_date: date
    amount: str
    paid_amount: str
    status: str


class PlanView(BaseModel):
    id: int
    account_id: int
    total: str
    down_payment: str
    frequency: str
    status: str
    created_by: str
    created_at: datetime
    installments: list[InstallmentView]


class PromiseView(BaseModel):
    id: int
    account_id: int
    promised_date: date
    amount: str | None
    status: str
    created_by: str
    created_at: datetime


class PaymentView(BaseModel):
    id: int
    account_id: int
    amount: str
    currency: str
    provider: str
    paid_at: datetime


class AccountView(BaseModel):
    id: int
    creditor: str
    product: str
    external_id: str
    currency: str
    principal: str
    interest: str
    fees: str
    total: str
    total_display: str
    due_date: date
    days_past_due: int
    status: str
    collection_paused_reason: str | None


class NoteView(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


class HandoffView(BaseModel):
    id: int
    reason: str
    requested_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    ended_at: datetime | None
    ending: str | None
    facts: list[dict[str, Any]] = []  # what the debtor sent while waiting: date, amount, attachments


class OutcomeView(BaseModel):
    id: int
    kind: str
    author: str
    callback_at: datetime | None
    details: dict[str, Any]
    created_at: datetime


class DebtorView(BaseModel):
    id: int
    name: str
    country: str


class ConversationView(BaseModel):
    id: int
    channel: str
    phone: str
    mode: str
    mode_reason: str | None
    assigned_to: str | None
    whatsapp_window_seconds_left: int | None
    debtor: DebtorView | None
    transcript: list[TranscriptMessage]
    notes: list[NoteView]
    accounts: list[AccountView]
    payments: list[PaymentView]
    plans: list[PlanView]
    promises: list[PromiseView]
    handoffs: list[HandoffView]
    outcomes: list[OutcomeView]
    templates: list[TemplateOption]  # what may go outside WhatsApp's 24-hour window


class SentMessage(BaseModel):
    message_ids: list[int]
    claimed: bool  # the reply claimed a queued conversation


class ScheduledPaymentView(BaseModel):
    number: int  # 0 is the down payment
    due_date: date
    amount: str
    amount_display: str


class OfferPreview(BaseModel):
    """What the policy engine answers for an offer, before anything is stored or sent."""

    allowed: bool
    reasons: list[str]
    amount: str | None  # what the first link would charge
    amount_display: str | None
    schedule: list[ScheduledPaymentView]
    lowest_settlement: str  # the lowest one-payment amount this person may offer
    lowest_settlement_display: str


class CannedReply(BaseModel):
    id: str
    title: str
    text: str  # with {nombre}, {saldo}, {vencimiento} filled for this conversation


class PersonLoad(BaseModel):
    """Who is handling what, for supervisors."""

    email: str
    role: str
    conversations: list[HeldConversation]


class OfferResult(BaseModel):
    kind: str
    account_id: int
    amount: str  # what the link charges now
    payment_url: str
    agreement_url: str | None  # a plan's written agreement
    message_ids: list[int]  # what was queued to the debtor
