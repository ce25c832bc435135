"""A verified debtor asks for their documents again: fresh links to the newest of each, never another's."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.identity import ActionRespondVerified
from bot.ledger.models import Account, Payment, utcnow
from bot.payments.documents import issue_receipt, issue_settlement_letter, open_document, revoke_document
from tests.actions.conftest import ANA, make_tracker, run_action, validate


def ask_for_documents(sender: str) -> list[dict]:
    messages, _ = run_action(ActionRespondVerified(), make_tracker(
        sender, intent="request_document", text="me mandas otra vez la carta finiquito?", slots={"verified": True}))
    return messages


def account(session: Session, external_id: str) -> Account:
    return session.scalars(select(Account).where(Account.external_id == external_id)).one()


def test_no_documents_yet_is_said_kindly(ledger: Session) -> None:
    validate("2211")
    assert [m["response"] for m in ask_for_documents(ANA)] == ["utter_no_documents"]


def test_fresh_links_to_the_newest_documents_and_not_revoked_ones(ledger: Session) -> None:
    now = utcnow()
    anas = account(ledger, "A-90001")
    payment = Payment(account_id=anas.id, amount=Decimal("500.00"), currency="MXN", provider="sandbox", paid_at=now)
    ledger.add(payment)
    ledger.flush()
    old_receipt = issue_receipt(ledger, payment, anas, Decimal("14180.55"), now)
    new_receipt = issue_receipt(ledger, payment, anas, Decimal("14180.55"), now)
    letter = issue_settlement_letter(ledger, anas, Decimal("14680.55"), Decimal("500.00"), Decimal("0"), now)
    camilas_letter = issue_settlement_letter(ledger, account(ledger, "F-30021"), Decimal("100"), Decimal("100"),
                                             Decimal("0"), now)
    revoke_document(ledger, letter.id, "agent:1", now)
    ledger.commit()

    validate("2211")
    messages = ask_for_documents(ANA)
    assert [m["response"] for m in messages] == ["utter_documents_intro", "utter_document_link"]
    assert messages[0]["days"] == 7
    link = messages[1]
    assert link["title"] == "Comprobante de pago"
    opened = open_document(ledger, link["url"].rsplit("/d/", 1)[1], utcnow())
    assert opened.id == new_receipt.id != old_receipt.id  # Camila's letter and the revoked one are not offered
    assert opened.id != camilas_letter.id
