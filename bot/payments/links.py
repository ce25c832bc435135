"""Payment links: the one way the bot, agents and reminders ask a provider for a checkout.

bot/ says what a provider must do (`PaymentProvider`); payments/ implements Stripe Checkout and the local
sandbox. A link is stored before the debtor sees it, is reused while it is open, and is created with an
idempotency key, so a retried action never opens two checkouts for the same thing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.locale import quantize_money
from bot.common.settings import get_settings
from bot.ledger.models import (
    Account,
    AuditLog,
    Conversation,
    Installment,
    LinkStatus,
    PaymentLink,
)

Purpose = Literal["full", "settlement", "installment"]
_ISSUE_WINDOW = timedelta(minutes=5)  # retries inside one window send byte-identical requests
_MIN_PROVIDER_EXPIRY = timedelta(minutes=30)
_STILL_USEFUL = timedelta(minutes=15)  # an open link closer than this to expiring is not handed out again


@dataclass(frozen=True)
class CheckoutRequest:
    """What a provider needs to open one checkout; amounts stay Decimal until the provider's edge."""

    reference: str  # our link token (Stripe: client_reference_id)
    amount: Decimal
    currency: str
    country: str
    description: str
    expires_at: datetime
    idempotency_key: str
    metadata: dict[str, str]
    success_url: str
    cancel_url: str
    customer_email: str | None = None


@dataclass(frozen=True)
class Checkout:
    session_id: str
    url: str


class PaymentProviderError(RuntimeError):
    """The provider refused or could not be reached; nothing was stored."""


class PaymentProvider(Protocol):
    name: str

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """Open (or, for a repeated idempotency key, return) a checkout. Raises PaymentProviderError."""
        ...

    def expire_checkout(self, session_id: str) -> None:
        """Close an open checkout so it can no longer be paid. Raises PaymentProviderError."""
        ...


@dataclass(frozen=True)
class IssuedLink:
    link: PaymentLink
    url: str  # what the debtor sees: the creditor's link domain
    prefix: str  # every genuine link starts with this ("https://pagos.bancoaurora.example/")


def links_base_url(creditor_code: str) -> str:
    """Where debtor-facing links live: the creditor's own domain (LINK_BASE_URL overrides it in the demo)."""
    settings = get_settings()
    if settings.link_base_url:
        return settings.link_base_url.rstrip("/")
    creditor = config.creditors().get(creditor_code)
    if creditor is not None and creditor.link_domain:
        return f"https://{creditor.link_domain}"
    return settings.public_base_url.rstrip("/")


def _token(idempotency_key: str) -> str:
    digest = hmac.new(get_settings().link_signing_secret.encode(), idempotency_key.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _expiry(window_start: datetime) -> datetime:
    minutes = timedelta(minutes=get_settings().payment_link_minutes)
    return window_start + max(minutes, _MIN_PROVIDER_EXPIRY + _ISSUE_WINDOW)


def _window_start(now: datetime) -> datetime:
    seconds = int(_ISSUE_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)


def amount_due(account: Account, purpose: Purpose, installment: Installment | None) -> Decimal:
    """What a link for this purpose charges, unless the caller names a (settlement) amount."""
    if purpose == "installment":
        if installment is None:
            raise ValueError("an installment link needs the installment")
        return installment.amount - installment.paid_amount
    return account.total


def issue_link(session: Session, provider: PaymentProvider, account: Account, purpose: Purpose, now: datetime, *,
               amount: Decimal | None = None, installment: Installment | None = None,
               conversation: Conversation | None = None, created_by: str = "bot") -> IssuedLink:
    """A checkout link for `amount` (default: what the purpose leaves to pay), stored before it is shown."""
    amount = quantize_money(amount_due(account, purpose, installment) if amount is None else amount,
                            account.currency)
    if amount <= 0 or amount > account.total:
        raise ValueError(f"cannot charge {amount} {account.currency} on a balance of {account.total}")
    installment_id = installment.id if installment is not None else None
    reusable = session.scalars(
        select(PaymentLink).where(PaymentLink.account_id == account.id, PaymentLink.purpose == purpose,
                                  PaymentLink.installment_id.is_(None) if installment_id is None
                                  else PaymentLink.installment_id == installment_id,
                                  PaymentLink.amount == amount, PaymentLink.status == LinkStatus.OPEN,
                                  PaymentLink.expires_at > now + _STILL_USEFUL)
        .order_by(PaymentLink.id.desc()).limit(1)).first()
    if reusable is not None:
        return _issued(reusable, account)

    earlier = session.scalar(select(func.count(PaymentLink.id)).where(
        PaymentLink.account_id == account.id, PaymentLink.purpose == purpose))
    window = _window_start(now)
    key = (f"acuerdo:{account.id}:{purpose}:{installment_id or 0}:{amount}:{account.currency}:"
           f"{earlier}:{int(window.timestamp())}")
    token = _token(key)
    base = links_base_url(account.creditor.code)
    plan_id = installment.plan_id if installment is not None else None
    request = CheckoutRequest(
        reference=token, amount=amount, currency=account.currency, country=account.debtor.country,
        description=f"{account.creditor.name} · {account.product} · {account.external_id[-4:]}",
        expires_at=_expiry(window), idempotency_key=key,
        metadata={"account_id": str(account.id), "purpose": purpose, "plan_id": str(plan_id or ""),
                  "installment_id": str(installment_id or ""), "link_token": token},
        success_url=f"{base}/p/{token}/gracias", cancel_url=f"{base}/p/{token}",
        customer_email=account.debtor.email)
    checkout = provider.create_checkout(request)
    link = PaymentLink(token=token, account_id=account.id, plan_id=plan_id, installment_id=installment_id,
                       conversation_id=conversation.id if conversation is not None else None, purpose=purpose,
                       amount=amount, currency=account.currency, provider=provider.name,
                       provider_session_id=checkout.session_id, checkout_url=checkout.url, idempotency_key=key,
                       status=LinkStatus.OPEN, expires_at=request.expires_at, created_by=created_by,
                       created_at=now, updated_at=now)
    session.add(link)
    session.add(AuditLog(actor=created_by, action="payment_link_issued", entity_type="account",
                         entity_id=str(account.id), details={"purpose": purpose, "amount": str(amount),
                                                             "provider": provider.name}))
    session.flush()
    link.account = account
    return _issued(link, account)


def _issued(link: PaymentLink, account: Account) -> IssuedLink:
    base = links_base_url(account.creditor.code)
    return IssuedLink(link, f"{base}/p/{link.token}", f"{base}/")


def link_by_token(session: Session, token: str) -> PaymentLink | None:
    return session.scalars(select(PaymentLink).where(PaymentLink.token == token)).one_or_none()


def link_by_session(session: Session, session_id: str) -> PaymentLink | None:
    """Checkout ids are unique across providers (the sandbox's start with cs_sandbox_)."""
    return session.scalars(select(PaymentLink).where(PaymentLink.provider_session_id == session_id)).one_or_none()


def withdraw_links(session: Session, provider: PaymentProvider, account_id: int, now: datetime, *,
                   keep: PaymentLink | None = None, plans_other_than: int | None = None) -> list[PaymentLink]:
    """Close open links that no longer fit: all of an account paid off, or those of a replaced plan.

    The provider is asked to expire each; if it cannot, the link is still closed here, and a payment that
    arrives anyway is applied, any excess going to a person for a refund.
    """
    query = select(PaymentLink).where(PaymentLink.account_id == account_id, PaymentLink.status == LinkStatus.OPEN)
    if plans_other_than is not None:
        query = query.where(PaymentLink.plan_id.is_not(None), PaymentLink.plan_id != plans_other_than)
    withdrawn = []
    for link in session.scalars(query):
        if keep is not None and link.id == keep.id:
            continue
        if link.provider == provider.name and link.expires_at > now:
            try:
                provider.expire_checkout(link.provider_session_id)
            except PaymentProviderError as exc:
                session.add(AuditLog(actor="system", action="payment_link_expire_failed", entity_type="payment_link",
                                     entity_id=str(link.id), details={"error": str(exc)[:200]}))
        link.status = LinkStatus.EXPIRED
        link.updated_at = now
        withdrawn.append(link)
    session.flush()
    return withdrawn
