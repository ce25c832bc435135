"""Negotiation through the signed WhatsApp webhook, with the real Rasa and action servers, on both stacks."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.common.copy import app_message
from bot.ledger.db import session_scope
from bot.ledger.models import (
    Account,
    AccountStatus,
    AgreementStatus,
    Conversation,
    ConversationMode,
    PaymentPlan,
    PromiseToPay,
    utcnow,
)
from bot.messaging.conversations import handoff_eta
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import Stack
from tests.factories import MONTHS, local_today, spanish_weekday_date
from tests.fakes.twilio_api import FakeTwilio
from tests.payments.conftest import pdf_text

pytestmark = pytest.mark.e2e


def conversation(client: TestClient, number: str, *texts: str) -> list[list[str]]:
    return [twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(number, text)))
            for text in texts]


def test_a_promise_to_pay(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+5215511112222", "te pago el viernes", "6655")
    promised = local_today("MX") + timedelta(days=(4 - local_today("MX").weekday() - 1) % 7 + 1)
    assert replies[1] == [  # the amount due is said back with the date
        f"¡Gracias, Diego! Anoté tu compromiso de pagar $9,050.00 el {spanish_weekday_date(promised)}."]
    with session_scope(stack.database_url) as session:
        promise = session.scalars(select(PromiseToPay).join(Account).where(Account.external_id == "AUR-40404")).one()
        assert (promise.promised_date, promise.status) == (promised, AgreementStatus.PENDING)


def test_a_settlement_offer_within_policy(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+56981112222", "hola", "6667", "me hacen algún descuento si pago todo?")
    valid_until = local_today("CL") + timedelta(days=3)
    assert replies[2] == [
        "Puedes liquidar Crédito de consumo de Finanzas del Norte con un solo pago de $1.008.800 (en vez de "
        f"$1.028.000), hasta el {valid_until.day} de {MONTHS[valid_until.month - 1]} de {valid_until.year}.",
        replies[2][1],
        "🔒 Nuestros enlaces de pago siempre empiezan con https://pagar.finanzasnorte.example/. Nunca te pediremos "
        "claves ni códigos por chat."]
    assert re.fullmatch(r"Paga \$1\.008\.800 aquí: https://pagar\.finanzasnorte\.example/p/[\w-]{22} "
                        r"\(vale hasta el \d{1,2} de [a-z]+ a las \d\d:\d\d\)\.", replies[2][1]), replies[2][1]


def test_already_paid_is_taken_to_a_person_without_arguing(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+5491133334444", "ya pagué eso", "1222", "hola")
    assert replies[1] == ["¡Gracias por avisarnos! Todavía no veo el pago. ¿Me decís cuándo y cuánto pagaste? "
                          "Una persona de nuestro equipo lo revisará."]  # an Argentine debtor: voseo
    # a person has the conversation now: the answer only hears that it reached the case, and when
    assert replies[2] == [app_message("utter_waiting_for_person", when=handoff_eta("AR", utcnow()))]
    with session_scope(stack.database_url) as session:
        queued = session.scalars(select(Conversation).where(Conversation.sender_id == "whatsapp:+5491133334444")).one()
        assert (queued.mode, queued.mode_reason) == (ConversationMode.QUEUED, "already_paid")


def test_a_dispute_pauses_collection_and_offers_a_person(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+51987111222", "hola", "2222", "esa deuda no es mía, nunca contraté ese plan", "sí")
    assert replies[2] == ["Entiendo, y gracias por decírmelo. Una persona de nuestro equipo puede revisar tu caso "
                          "con calma. ¿Quieres que te comunique?"]
    when = handoff_eta("PE", utcnow())  # business hours in Lima: soon, or when they open
    assert replies[3] == [f"Listo, te comunico con una persona de nuestro equipo. Te escribirá por este mismo chat "
                          f"{when}."]
    with session_scope(stack.database_url) as session:
        account = session.scalars(select(Account).where(Account.external_id == "TAN-PE-505")).one()
        assert account.collection_paused_reason == "dispute"


def next_friday(today):  # type: ignore[no-untyped-def]
    return today + timedelta(days=(4 - today.weekday() - 1) % 7 + 1)


def test_a_payment_plan_with_a_counter_offer(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+5215522223333", "quiero pagar en 10 cuotas", "8899", "1000", "el viernes", "sí")
    assert replies[1] == ["¿Cuánto puedes dar de pago inicial? El mínimo es $650.00."]
    assert replies[2] == ["¿Qué día harías el primer pago? Por ejemplo: el viernes o el 15."]
    friday = next_friday(local_today("MX"))
    counter = replies[3][0]
    assert counter.startswith("Así no me es posible: Puedo ofrecerte máximo 4 cuotas. Lo más cercano que puedo "
                              f"ofrecerte:\nPago inicial, {spanish_weekday_date(friday)}: $1,000.00\nCuota 1, ")
    assert counter.count("Cuota ") == 4 and counter.endswith("Total: $6,500.00. ¿Te sirve?")
    assert replies[4][0] == (f"¡Listo, Laura! Registré tu plan: 5 pagos, el primero el "
                             f"{spanish_weekday_date(friday)}. ¡Gracias!")
    assert replies[4][1].startswith("Aquí tienes tu convenio por escrito (PDF): https://pagar.finanzasnorte.example/d/")
    assert replies[4][2].startswith("Paga $1,000.00 aquí: https://pagar.finanzasnorte.example/p/")
    agreement = client.get(replies[4][1].split("example")[1])
    assert "CONVENIO DE PAGO" in pdf_text(agreement.content) and "Laura Torres" in pdf_text(agreement.content)
    # Later, "quiero pagar" brings back the next payment's link: the same one while it is open.
    later = conversation(client, "+5215522223333", "quiero pagar")[0]
    assert later[0] == f"Te toca tu pago inicial, con fecha {spanish_weekday_date(friday)}."
    assert later[1] == replies[4][2]
    with session_scope(stack.database_url) as session:
        plan = session.scalars(select(PaymentPlan).join(Account).where(Account.external_id == "FDN-50505")).one()
        assert sum(item.amount for item in plan.installments) == plan.total == Decimal("6500.00")
        assert [item.due_date for item in plan.installments][0] == friday


def test_negotiate_pay_in_the_sandbox_and_get_a_receipt(client: TestClient, stack: Stack,
                                                        fake_twilio: FakeTwilio) -> None:
    """The whole path: a link in the chat, the sandbox checkout, Stripe's signed event, the receipt."""
    number = "+5215533334444"  # Paula: 2,680.00 MXN with Banco Aurora, early stage (no discount)
    replies = conversation(client, number, "hola, quiero pagar todo lo que debo", "6677")
    assert replies[1][0] == "Para liquidar Préstamo personal de Banco Aurora, el total es $2,680.00."
    link = re.search(r"https://pagos\.bancoaurora\.example(/p/[\w-]+)", replies[1][1])
    assert link, replies[1]
    checkout = client.get(link.group(1), follow_redirects=False)
    assert checkout.status_code == 303
    page = urlsplit(checkout.headers["location"]).path
    assert page.startswith("/sandbox/checkout/cs_sandbox_") and "$2,680.00" in client.get(page).text

    paid = client.post(page, data={"outcome": "card_paid"})
    assert "Estado: Pagado" in paid.text
    receipts = [m["Body"] for m in fake_twilio.sent if m["To"] == "whatsapp:+525533334444"]
    assert len(receipts) == 1 and receipts[0].startswith("¡Gracias, Paula! Recibimos tu pago de $2,680.00 a Banco "
                                                          "Aurora. Folio R-")
    letter_url = receipts[0].split("carta finiquito")[1].split(": ")[1].split()[0]
    letter = pdf_text(client.get(urlsplit(letter_url).path).content)
    assert "Paula Méndez liquidó la cuenta AUR-60606" in letter and "queda totalmente saldada" in letter

    assert client.post(page, data={"outcome": "card_paid"}).status_code == 409  # paid once, not twice
    assert conversation(client, number, "cuánto debo?")[0] == [
        "Paula, no encuentro saldos pendientes a tu nombre. ¡Gracias por escribirnos!"]
    with session_scope(stack.database_url) as session:
        account = session.scalars(select(Account).where(Account.external_id == "AUR-60606")).one()
        assert (account.status, account.total) == (AccountStatus.PAID, Decimal("0.00"))
