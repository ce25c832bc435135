"""Negotiation through the signed WhatsApp webhook, with the real Rasa and action servers, on both stacks."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.storage.db import session_scope
from bot.storage.models import Account, AgreementStatus, Conversation, ConversationMode, PaymentPlan, PromiseToPay
from tests.api.conftest import signed_post, whatsapp_form
from tests.api.test_twilio_gateway import twiml_messages
from tests.conftest import Stack
from tests.factories import MONTHS, local_today, spanish_weekday_date

pytestmark = pytest.mark.e2e


def conversation(client: TestClient, number: str, *texts: str) -> list[list[str]]:
    return [twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(number, text)))
            for text in texts]


def test_a_promise_to_pay(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+5215511112222", "te pago el viernes", "6655")
    promised = local_today("MX") + timedelta(days=(4 - local_today("MX").weekday() - 1) % 7 + 1)
    assert replies[1] == [f"¡Gracias, Diego! Anoté tu compromiso de pago para el {spanish_weekday_date(promised)}."]
    with session_scope(stack.database_url) as session:
        promise = session.scalars(select(PromiseToPay).join(Account).where(Account.external_id == "AUR-40404")).one()
        assert (promise.promised_date, promise.status) == (promised, AgreementStatus.PENDING)


def test_a_settlement_offer_within_policy(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+56981112222", "hola", "6667", "me hacen algún descuento si pago todo?")
    valid_until = local_today("CL") + timedelta(days=3)
    assert replies[2] == [
        "Puedes liquidar Crédito de consumo de Finanzas del Norte con un solo pago de $1.008.800 (en vez de "
        f"$1.028.000), hasta el {valid_until.day} de {MONTHS[valid_until.month - 1]} de {valid_until.year}.",
        "Pronto podrás pagar desde este chat. Por ahora, una persona de nuestro equipo te ayuda a pagar: "
        "¿te comunico?"]


def test_already_paid_is_taken_to_a_person_without_arguing(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+5491133334444", "ya pagué eso", "1222", "hola")
    assert replies[1] == ["¡Gracias por avisarnos! Todavía no veo el pago. ¿Me dices cuándo y cuánto pagaste? "
                          "Una persona de nuestro equipo lo revisará."]
    assert replies[2] == []  # a person has the conversation now
    with session_scope(stack.database_url) as session:
        queued = session.scalars(select(Conversation).where(Conversation.sender_id == "whatsapp:+5491133334444")).one()
        assert (queued.mode, queued.mode_reason) == (ConversationMode.QUEUED, "already_paid")


def test_a_dispute_pauses_collection_and_offers_a_person(client: TestClient, stack: Stack) -> None:
    replies = conversation(client, "+51987111222", "hola", "2222", "esa deuda no es mía, nunca contraté ese plan", "sí")
    assert replies[2] == ["Entiendo, y gracias por decírmelo. Una persona de nuestro equipo puede revisar tu caso "
                          "con calma. ¿Quieres que te comunique?"]
    assert replies[3] == ["Listo, te comunico con una persona de nuestro equipo. Te escribirá por este mismo chat lo "
                          "antes posible."]
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
    assert counter.startswith("Así no me es posible con las condiciones de tu cuenta. Te propongo este plan:\n"
                              f"Pago inicial, {spanish_weekday_date(friday)}: $1,000.00\nCuota 1, ")
    assert counter.count("Cuota ") == 4 and counter.endswith("Total: $6,500.00. ¿Te sirve?")
    assert replies[4] == [f"¡Listo, Laura! Registré tu plan: 5 pagos, el primero el {spanish_weekday_date(friday)}. "
                          "¡Gracias!"]
    with session_scope(stack.database_url) as session:
        plan = session.scalars(select(PaymentPlan).join(Account).where(Account.external_id == "FDN-50505")).one()
        assert sum(item.amount for item in plan.installments) == plan.total == Decimal("6500.00")
        assert [item.due_date for item in plan.installments][0] == friday
