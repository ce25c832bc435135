"""The ledger: who owes what to whom, and every message exchanged about it."""
from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.ledger.stages import Stage, stage_for_days_past_due

MONEY = Numeric(18, 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store times as aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    PAID = "paid"
    RECALLED = "recalled"  # the creditor took the account back (missing from a full re-import)
    CLOSED = "closed"


class ConversationMode(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    CLOSED = "closed"


class Role(enum.StrEnum):
    """What a person using the console may do; each is scoped to creditors (or all)."""

    AGENT = "agent"  # the queue and their own conversations
    SUPERVISOR = "supervisor"  # also every agent's conversations, and wider negotiation limits
    ADMIN = "admin"  # everything


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(enum.StrEnum):
    RECEIVED = "received"  # stored, not yet acted on
    PROCESSED = "processed"
    PENDING = "pending"  # waiting for the bot to come back
    QUEUED = "queued"  # outbound, waiting for the sender
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Store the readable value, as a VARCHAR with a CHECK, so SQLite and PostgreSQL hold the same data.
    return Enum(cls, values_callable=lambda members: [m.value for m in members], native_enum=False,
                validate_strings=True, length=16)


class Creditor(Base):
    __tablename__ = "creditors"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    accounts: Mapped[list[Account]] = relationship(back_populates="creditor")


class Debtor(Base):
    """A person, identified by the portfolio's debtor_id across all creditors."""

    __tablename__ = "debtors"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    document_id: Mapped[str] = mapped_column(String(32))
    birth_date: Mapped[date | None] = mapped_column(Date)
    country: Mapped[str] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(254))
    timezone: Mapped[str | None] = mapped_column(String(64))
    authorized_channels: Mapped[str | None] = mapped_column(String(100))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)  # the demo portfolio: only the demo plays it
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[Phone]] = relationship(back_populates="debtor", order_by="Phone.id")
    accounts: Mapped[list[Account]] = relationship(back_populates="debtor", order_by="Account.id")

    @property
    def first_name(self) -> str:
        return self.full_name.split()[0] if self.full_name.strip() else ""


class Phone(Base):
    __tablename__ = "phones"
    __table_args__ = (UniqueConstraint("debtor_id", "e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    wrong_number: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    debtor: Mapped[Debtor] = relationship(back_populates="phones")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("creditor_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64))
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    product: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[Decimal] = mapped_column(MONEY)
    interest: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    fees: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    due_date: Mapped[date] = mapped_column(Date)
    segment: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[AccountStatus] = mapped_column(_enum(AccountStatus), default=AccountStatus.ACTIVE)
    collection_paused_reason: Mapped[str | None] = mapped_column(String(32))  # "dispute", "hardship"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    creditor: Mapped[Creditor] = relationship(back_populates="accounts")
    debtor: Mapped[Debtor] = relationship(back_populates="accounts")
    payments: Mapped[list[Payment]] = relationship(back_populates="account", order_by="Payment.id")

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees

    def days_past_due(self, today: date) -> int:
        return (today - self.due_date).days

    def stage(self, today: date) -> Stage:
        return stage_for_days_past_due(self.days_past_due(today))


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(255), unique=True)  # one payment per checkout
    link_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"))
    # What it did beyond lowering the balance: the rest a settlement wrote off, and money above what was owed
    # (refunded by a person). Owed before = owed after + amount - overpaid + forgiven: what reports call assigned.
    forgiven: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), server_default="0")
    overpaid: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"), server_default="0")
    paid_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="payments")


class Conversation(Base):
    """One chat thread with one sender on one channel; its mode says who answers."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(64), unique=True)  # "<channel>:<E.164>"
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), index=True)
    mode: Mapped[ConversationMode] = mapped_column(_enum(ConversationMode), default=ConversationMode.BOT)
    mode_reason: Mapped[str | None] = mapped_column(String(64))
    our_address: Mapped[str | None] = mapped_column(String(64))  # the number the debtor wrote to ("To")
    last_inbound_at: Mapped[datetime | None]
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # mode agent
    queued_at: Mapped[datetime | None]  # since when it waits for a person (mode queued)
    reset_dialogue: Mapped[bool] = mapped_column(Boolean, default=False)  # back from an agent: fresh tracker
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    channel: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus))
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # Twilio MessageSid
    media: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_code: Mapped[str | None] = mapped_column(String(16))
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    template: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # WhatsApp ContentSid + ContentVariables
    processed_at: Mapped[datetime | None]
    inbox_checked_at: Mapped[datetime | None]  # looked at for the NLU inbox (bot.admin.inbox)
    intent: Mapped[str | None] = mapped_column(String(64), index=True)  # the model's reading, from that same pass
    intent_confidence: Mapped[float | None]
    # Automated contacts (reminders): the contact rules' answer, kept so an auditor sees why it went when it did
    contact_decision: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    send_after: Mapped[datetime | None] = mapped_column(index=True)  # deferred by the contact rules
    sent_at: Mapped[datetime | None]  # when the provider accepted it: what contact caps count
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # "bot", "system", "import", "user:<id>"
    address: Mapped[str | None] = mapped_column(String(64))  # the client's IP for a person's action
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IdentityCheck(Base):
    """Verification state, kept in the database so a new session or channel cannot reset it.

    One row per debtor; senders whose number matches no debtor get a row per phone, so a stranger is
    locked out the same way and learns nothing from the difference.
    """

    __tablename__ = "identity_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id", ondelete="CASCADE"), unique=True)
    phone_e164: Mapped[str | None] = mapped_column(String(32), unique=True)  # a contact key, see bot.messaging.contact
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    lock_count: Mapped[int] = mapped_column(Integer, default=0)  # locks so far: they escalate
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)  # locked until a person clears it
    failures_day: Mapped[date | None] = mapped_column(Date)  # the day failures_today counts
    failures_today: Mapped[int] = mapped_column(Integer, default=0)
    verified_until: Mapped[datetime | None]
    verified_phone: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OptOut(Base):
    """A number that asked not to be contacted; the one place every sender checks."""

    __tablename__ = "opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(String(32), unique=True)  # a contact key, see bot.messaging.contact
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))  # "intent", "keyword", "twilio_21610", "agent"
    # the debtor's message whose turn opted out: the answer to it (the confirmation) still leaves, nothing else
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgreementStatus(enum.StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PromiseToPay(Base):
    """'Te pago el viernes': a date (and maybe an amount) the debtor committed to, within policy."""

    __tablename__ = "promises_to_pay"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    promised_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[AgreementStatus] = mapped_column(_enum(AgreementStatus), default=AgreementStatus.PENDING)
    created_by: Mapped[str] = mapped_column(String(64))  # "bot", "agent:<id>"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentPlan(Base):
    __tablename__ = "payment_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    total: Mapped[Decimal] = mapped_column(MONEY)
    down_payment: Mapped[Decimal] = mapped_column(MONEY)
    frequency: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[AgreementStatus] = mapped_column(_enum(AgreementStatus), default=AgreementStatus.PENDING)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    installments: Mapped[list[Installment]] = relationship(back_populates="plan", order_by="Installment.number")


class Installment(Base):
    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 0 is the down payment
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    status: Mapped[AgreementStatus] = mapped_column(_enum(AgreementStatus), default=AgreementStatus.PENDING)

    plan: Mapped[PaymentPlan] = relationship(back_populates="installments")


class LinkStatus(enum.StrEnum):
    OPEN = "open"
    PROCESSING = "processing"  # a cash voucher was issued and is not paid yet
    PAID = "paid"
    EXPIRED = "expired"
    FAILED = "failed"


class PaymentLink(Base):
    """One checkout for one amount: the full balance, a settlement, or one installment.

    The debtor sees `<creditor link domain>/p/<token>`, which redirects to the provider's checkout page.
    """

    __tablename__ = "payment_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("payment_plans.id"))
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("installments.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))  # where the receipt goes
    purpose: Mapped[str] = mapped_column(String(16))  # "full", "settlement", "installment"
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(32))
    provider_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[LinkStatus] = mapped_column(_enum(LinkStatus), default=LinkStatus.OPEN)
    expires_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship()


class PaymentEvent(Base):
    """Each provider event, stored once by its id before it is applied (providers retry and reorder)."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class Document(Base):
    """A PDF given to a debtor (settlement letter, agreement, receipt), kept as issued."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "settlement_letter", "agreement", "receipt"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("payment_plans.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]  # a revoked document's links stop working
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- people who use the console, and what they did with a conversation -----------------------------------

user_creditors = Table(
    "user_creditors", Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("creditor_id", ForeignKey("creditors.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """An agent, supervisor or admin; sees only the creditors it is scoped to (unless `all_creditors`)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    all_creditors: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    creditors: Mapped[list[Creditor]] = relationship(secondary=user_creditors, order_by="Creditor.id")


class AuthToken(Base):
    """A bearer token or console session: only its SHA-256 is stored, so the table leaks no credential."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="bearer")  # "bearer" (API) or "session" (console)
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]  # sessions: last use (written at most once a minute), for the idle limit

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """Each sign-in attempt, kept to rate-limit guessing per e-mail and per address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str | None] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Handoff(Base):
    """One stay in the human queue: why, who took it, and how it ended (returned, closed)."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ending: Mapped[str | None] = mapped_column(String(16))  # "returned" (to the bot) or "closed"
    # What the debtor sent while waiting, read off their messages: [{"message_id", "amount", "date", "attachments"}]
    facts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    acknowledged_at: Mapped[datetime | None]  # the debtor's first message while waiting was acknowledged


class ConversationNote(Base):
    """A private note by a person about a conversation; never sent to the debtor."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationOutcome(Base):
    """What came of an agent's work: a promise, a plan, paid, a dispute, a wrong number, no answer, a callback."""

    __tablename__ = "conversation_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    callback_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignSend(Base):
    """One campaign step for one account on one day: the database makes sure it happens at most once.

    The row and its message are written in one transaction before anything is sent, so a worker killed
    at any point neither loses the step (the queue delivers the job again) nor doubles it (this key).
    """

    __tablename__ = "campaign_sends"
    __table_args__ = (UniqueConstraint("account_id", "campaign", "step", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    day: Mapped[date] = mapped_column(Date)  # the account's local day the step is for
    anchor_id: Mapped[int | None]  # the installment or promise the step is about
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))  # None: blocked, never sent
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminChange(Base):
    """One admin edit of what the bot knows or says (training examples, intents…), with before and after:
    the history the admin pages show and revert."""

    __tablename__ = "admin_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the command line
    kind: Mapped[str] = mapped_column(String(32))  # "nlu_example", "intent"
    action: Mapped[str] = mapped_column(String(16))  # "add", "edit", "delete"
    target: Mapped[str] = mapped_column(String(128))  # the intent, or the example's id after the change
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("admin_changes.id"))


class InboxItem(Base):
    """A real inbound message the model was unsure of (fell to fallback, scored low, or a hand-off followed),
    waiting for an admin to accept, relabel or dismiss it. The text is stored redacted: digits that could be
    a document, a card or a phone never reach the admin pages; identity answers are never taken at all."""

    __tablename__ = "nlu_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    text: Mapped[str] = mapped_column(Text)  # redacted
    predicted_intent: Mapped[str] = mapped_column(String(64), index=True)
    confidence: Mapped[float]  # the model's own score, for ranking only (never money)
    reason: Mapped[str] = mapped_column(String(16))  # "fallback", "low_confidence", "handoff"
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)  # accepted, relabelled, dismissed
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelJob(Base):
    """One piece of model work an admin asked for (train, evaluate, activate, roll back), run by the model worker
    one at a time; the page polls it for progress. A train job is also the record of who trained a model and why."""

    __tablename__ = "model_jobs"
    # One running job per lane, enforced by the database: two switches at once would race on the route.
    __table_args__ = (Index("uq_model_jobs_running_lane", "lane", unique=True,
                            sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "train", "evaluate", "activate", "rollback"
    lane: Mapped[str] = mapped_column(String(16))  # "training", or "servers" (jobs that load or switch Rasa)
    model: Mapped[str | None] = mapped_column(String(64), index=True)  # acuerdo-<inputs hash>; train: once known
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # running, done, failed
    worker: Mapped[str | None] = mapped_column(String(128))  # host:pid of the process running it
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the command line
    reason: Mapped[str] = mapped_column(Text, default="")
    override_reason: Mapped[str | None] = mapped_column(Text)  # activation past a failed evaluation
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"stage", "epoch", "epochs"}
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DialogueRoute(Base):
    """The one row every app process reads to know which Rasa server debtors talk to: switching models is an
    update of this row (blue/green), never a reload of the live server."""

    __tablename__ = "dialogue_routes"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    live_url: Mapped[str] = mapped_column(String(255))
    live_model: Mapped[str] = mapped_column(String(64))
    previous_model: Mapped[str | None] = mapped_column(String(64))  # what a rollback goes back to
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_job: Mapped[int | None] = mapped_column(ForeignKey("model_jobs.id"))
