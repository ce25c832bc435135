"""PDFs a debtor keeps: the settlement letter (carta finiquito), the written agreement, payment receipts.

Each is rendered once, stored as issued (a legal document must not change when a template does), and
handed out through a signed link that expires (DOCUMENT_LINK_DAYS) and stops working once the document
is revoked; a verified debtor can get a fresh link. A PDF travels further than a chat (forwarded,
printed, left in a downloads folder), so it never prints what proves identity: the document number is
masked, the last four digits (the verification answer) always hidden.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.common.copy import app_message
from bot.common.locale import format_long_date, format_money, local_today, locale_for_country
from bot.common.settings import get_settings
from bot.ledger.models import Account, AuditLog, Document, Payment, PaymentPlan, utcnow
from bot.payments.links import links_base_url

KINDS = ("settlement_letter", "agreement", "receipt")  # also the order a debtor's documents are listed in


def document_title(kind: str) -> str:
    """The document's name as the debtor reads it (config/messages.yml `document_title_<kind>`)."""
    return app_message(f"document_title_{kind}")


@dataclass(frozen=True)
class Row:
    label: str
    value: str


def _row(name: str, value: str, **variables: object) -> Row:
    """A labelled line whose label is config/messages.yml's `document_row_<name>`."""
    return Row(app_message(f"document_row_{name}", **variables), value)


def _printable(text: str) -> str:
    """The core PDF fonts carry Latin-1: Spanish fits; Babel's narrow spaces and stray symbols are mapped."""
    text = text.replace("\u202f", " ").replace("\xa0", " ").replace("…", "...").replace("–", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(title: str, issuer: str, intro: list[str], rows: list[Row], closing: list[str]) -> bytes:
    pdf = FPDF(format="Letter")
    pdf.set_title(_printable(title))
    pdf.set_author(_printable(issuer))
    pdf.set_creator("Acuerdo")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _printable(issuer), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 10, _printable(title.upper()), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    for paragraph in intro:
        pdf.multi_cell(0, 6, _printable(paragraph), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    if rows:
        pdf.ln(2)
        for row in rows:
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(80, 7, _printable(row.label))
            pdf.set_font("Helvetica", "", 11)
            pdf.cell(0, 7, _printable(row.value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    for paragraph in closing:
        pdf.multi_cell(0, 6, _printable(paragraph), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def mask_document(document_id: str) -> str:
    """The document number as a PDF may show it: at most the first two characters, never the last four.

    The last four digits answer the identity check (and the whole number does too), so they are masked
    whatever the length; separators stay, so "12.345.678-5" reads "12.***.***-*".
    """
    characters = [index for index, char in enumerate(document_id) if char.isalnum()]
    shown = set(characters[:max(0, min(2, len(characters) - 4))])
    return "".join(char if index in shown or not char.isalnum() else "*" for index, char in enumerate(document_id))


def _store(session: Session, kind: str, account: Account, content: bytes, now: datetime, *,
           plan: PaymentPlan | None = None, payment: Payment | None = None) -> Document:
    document = Document(kind=kind, account_id=account.id, plan_id=plan.id if plan else None,
                        payment_id=payment.id if payment else None, content=content,
                        sha256=hashlib.sha256(content).hexdigest(), created_at=now)
    session.add(document)
    session.flush()
    return document


def issue_settlement_letter(session: Session, account: Account, balance_before: Decimal, paid: Decimal,
                            forgiven: Decimal, now: datetime) -> Document:
    """The carta finiquito: the account is settled, what was owed, paid and forgiven, and since when."""
    locale = locale_for_country(account.debtor.country)
    money = lambda amount: format_money(amount, account.currency, locale)  # noqa: E731
    debtor, creditor = account.debtor, account.creditor
    today = format_long_date(local_today(debtor.country, debtor.timezone, now), locale)
    rows = [_row("creditor", creditor.name), _row("holder", debtor.full_name),
            _row("identity_document", mask_document(debtor.document_id)), _row("product", account.product),
            _row("account", account.external_id), _row("balance_before", money(balance_before)),
            _row("paid", money(paid))]
    if forgiven > 0:
        rows.append(_row("discount", money(forgiven)))
    rows += [_row("balance_left", money(Decimal("0"))), _row("settled_on", today),
             _row("number", f"CF-{account.id:06d}-{now:%Y%m%d%H%M}")]
    names = {"creditor": creditor.name, "debtor": debtor.full_name}
    content = render_pdf(
        document_title("settlement_letter"), creditor.name,
        [app_message("document_settlement_intro", **names, account=account.external_id, product=account.product,
                     date=today)],
        rows,
        [app_message("document_settlement_settled", **names), app_message("document_settlement_keep")])
    return _store(session, "settlement_letter", account, content, now)


def issue_agreement(session: Session, plan: PaymentPlan, account: Account, now: datetime) -> Document:
    """The written payment agreement: who, what account, every payment and its date."""
    locale = locale_for_country(account.debtor.country)
    money = lambda amount: format_money(amount, account.currency, locale)  # noqa: E731
    debtor, creditor = account.debtor, account.creditor
    rows = [_row("creditor", creditor.name), _row("holder", debtor.full_name), _row("product", account.product),
            _row("account", account.external_id), _row("agreement_total", money(plan.total))]
    rows += [_row("down_payment" if item.number == 0 else "installment",
                  f"{format_long_date(item.due_date, locale)}: {money(item.amount)}", number=item.number)
             for item in plan.installments]
    rows.append(_row("number", f"CV-{plan.id:06d}"))
    content = render_pdf(
        document_title("agreement"), creditor.name,
        [app_message("document_agreement_intro", debtor=debtor.full_name, creditor=creditor.name,
                     date=format_long_date(local_today(debtor.country, debtor.timezone, now), locale),
                     account=account.external_id, product=account.product)],
        rows,
        [app_message("document_agreement_links"), app_message("document_agreement_changes")])
    return _store(session, "agreement", account, content, now, plan=plan)


def issue_receipt(session: Session, payment: Payment, account: Account, balance_after: Decimal,
                  now: datetime) -> Document:
    locale = locale_for_country(account.debtor.country)
    paid_on = local_today(account.debtor.country, account.debtor.timezone, payment.paid_at)
    rows = [_row("number", receipt_number(payment)), _row("date", format_long_date(paid_on, locale)),
            _row("amount", format_money(payment.amount, payment.currency, locale)),
            _row("creditor", account.creditor.name), _row("holder", account.debtor.full_name),
            _row("account", f"{account.product} {account.external_id}"),
            _row("balance_after", format_money(balance_after, account.currency, locale)),
            _row("reference", payment.provider_ref or "")]
    content = render_pdf(document_title("receipt"), account.creditor.name,
                         [app_message("document_receipt_intro")], rows, [])
    return _store(session, "receipt", account, content, now, payment=payment)


def receipt_number(payment: Payment) -> str:
    return f"R-{payment.id:08d}"


# --- signed, expiring links ---------------------------------------------------------------------------

def _signature(document_id: int, expires: int) -> str:
    digest = hmac.new(get_settings().link_signing_secret.encode(), f"document:{document_id}:{expires}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def document_token(document: Document, now: datetime) -> str:
    expires = int((now + timedelta(days=get_settings().document_link_days)).timestamp())
    return f"{document.id}.{expires}.{_signature(document.id, expires)}"


def document_url(document: Document, account: Account, now: datetime) -> str:
    return f"{links_base_url(account.creditor.code)}/d/{document_token(document, now)}"


class DocumentLinkError(ValueError):
    def __init__(self, reason: str) -> None:  # "invalid", "expired" or "revoked"
        super().__init__(reason)
        self.reason = reason


def document_id_from_token(token: str, now: datetime) -> int:
    """The document a signed token opens; DocumentLinkError if forged or expired."""
    try:
        document_id, expires, signature = token.split(".")
        number, deadline = int(document_id), int(expires)
    except ValueError:
        raise DocumentLinkError("invalid") from None
    if not hmac.compare_digest(signature, _signature(number, deadline)):
        raise DocumentLinkError("invalid")
    if now.timestamp() > deadline:
        raise DocumentLinkError("expired")
    return number


def open_document(session: Session, token: str, now: datetime) -> Document:
    """The document a link opens; DocumentLinkError("invalid" | "expired" | "revoked") otherwise.

    Revocation is read from the ledger on every download: a signed link cannot be unsigned, so this is
    what makes a link already sent stop working.
    """
    document = session.get(Document, document_id_from_token(token, now))
    if document is None:
        raise DocumentLinkError("invalid")
    if document.revoked_at is not None:
        raise DocumentLinkError("revoked")
    return document


def revoke_document(session: Session, document_id: int, actor: str, now: datetime | None = None) -> Document:
    """Make every link to this document stop working (issued in error, superseded, sent to the wrong person).

    Idempotent: a second revocation keeps the first time and writes no second audit row. LookupError if
    there is no such document.
    """
    document = session.get(Document, document_id, with_for_update=True)
    if document is None:
        raise LookupError(f"no document {document_id}")
    if document.revoked_at is None:
        document.revoked_at = now or utcnow()
        session.add(AuditLog(actor=actor, action="document_revoked", entity_type="document",
                             entity_id=str(document.id), details={"kind": document.kind,
                                                                  "account_id": document.account_id}))
        session.flush()
    return document


def fresh_document_link(session: Session, document_id: int, verified_debtor_id: int, now: datetime,
                        actor: str = "bot") -> str:
    """A new signed link (DOCUMENT_LINK_DAYS from `now`) to one of the verified debtor's own documents.

    For when an earlier link expired. The caller must have verified the debtor (bot/identity/verification.py); this
    checks the document is theirs and not revoked, and raises DocumentLinkError("invalid" | "revoked")
    otherwise, saying the same "invalid" for someone else's document as for none.
    """
    document = session.get(Document, document_id)
    account = session.get(Account, document.account_id) if document is not None else None
    if document is None or account is None or account.debtor_id != verified_debtor_id:
        raise DocumentLinkError("invalid")
    if document.revoked_at is not None:
        raise DocumentLinkError("revoked")
    session.add(AuditLog(actor=actor, action="document_link_issued", entity_type="document",
                         entity_id=str(document.id), details={"debtor_id": verified_debtor_id}))
    session.flush()
    return document_url(document, account, now)


def debtor_documents(session: Session, debtor_id: int) -> list[Document]:
    """The debtor's documents that can still be handed out, newest first (for the bot to offer a fresh link)."""
    return list(session.scalars(select(Document).join(Account, Document.account_id == Account.id)
                                .where(Account.debtor_id == debtor_id, Document.revoked_at.is_(None))
                                .order_by(Document.id.desc())))


def latest_documents(session: Session, debtor_id: int) -> list[Document]:
    """The newest settlement letter, agreement and receipt a debtor can still open: what "send it again" means."""
    newest: dict[str, Document] = {}
    for document in debtor_documents(session, debtor_id):
        newest.setdefault(document.kind, document)
    return [newest[kind] for kind in KINDS if kind in newest]
