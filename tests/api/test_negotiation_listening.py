"""Negotiate like a good human agent (issue 18): real messages through the signed Twilio webhook, the real Rasa
model and action server, a real ledger, on both stacks. One debtor per case (tests/conftest.py, E2E_PORTFOLIO);
the expected copy is written out here, not read from the bot."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.ledger.db import session_scope
from bot.ledger.models import Account, Conversation, Handoff, PaymentPlan, PromiseToPay
from tests.api.test_debtor_repair import Say, verified
from tests.conftest import Stack
from tests.factories import MONTHS, local_today, spanish_long_date, spanish_weekday_date

pytestmark = pytest.mark.e2e

IGNACIO = "+56982223333"  # CL: $1.360.000 at Finanzas del Norte, late (bot: at most 4 installments, 10% down)
FERNANDA = "+5215512120000"  # MX: $10,000.00 at Banco Aurora, late (at most 9 installments)
LUCAS = "+5491155556666"  # AR (voseo): $170.000,00 at Banco Aurora, early
ANDREA = "+5215513130000"  # MX: $5,700.00 at Banco Aurora, late
HECTOR = "+5215514140000"  # MX: $2,680.00 at Banco Aurora, early: no discount at this stage
FRANCISCA = "+56984445555"  # CL: $1.028.000 at Finanzas del Norte, severe: settles for $1.008.800
CARMEN = "+51987333444"  # PE: S/ 650.00 at Telco Andina, early
JULIANA = "+573023334444"  # CO: $1.800.000 at Banco Aurora, late


def payment_day(day: date) -> date:
    """Payments never fall due on a Sunday (the holidays these tests could meet are checked in unit tests)."""
    return day + timedelta(days=1) if day.weekday() == 6 else day


def lines_of(reply: str) -> list[str]:
    return [line for line in reply.splitlines() if line.startswith(("Pago inicial,", "Cuota "))]


def amounts(reply: str) -> list[str]:
    return [line.rsplit(": ", 1)[1] for line in lines_of(reply)]


# --- one message, the whole plan ----------------------------------------------------------------------------

def test_lucas_and_the_rest_in_installments_with_the_limit_named_and_each_no_moving_toward_the_debtor(
        client: TestClient, stack: Stack) -> None:
    say = verified(client, IGNACIO, "8887")
    today = local_today("CL")
    first = say("puedo pagar 100 lucas ahora y el resto en 3 cuotas")
    assert first[0] == ("Entendí: pago inicial de $100.000, el resto en 3 cuotas y el primer pago el "
                        f"{spanish_weekday_date(today)}.")
    counter = first[1]
    assert counter.startswith("Así no me es posible: El pago inicial mínimo es $136.000. Lo más cercano que puedo "
                              f"ofrecerte:\nPago inicial, {spanish_weekday_date(payment_day(today))}: $136.000\n")
    assert amounts(counter) == ["$136.000", "$408.000", "$408.000", "$408.000"]  # whole pesos, what was asked kept
    assert counter.endswith("Total: $1.360.000. ¿Te sirve?")

    cheaper = say("no me sirve")[0]  # more installments, each one lower
    assert cheaper.startswith("Entiendo. Con más cuotas, cada una baja:")
    assert amounts(cheaper) == ["$136.000"] + ["$306.000"] * 4
    later = say("no, sigue siendo mucho")[0]  # four is the most: the same installments, starting later
    latest = today + timedelta(days=15)
    assert later.startswith(f"Entiendo. Podemos empezar más tarde, el {spanish_weekday_date(payment_day(latest))}:")
    assert amounts(later) == ["$136.000"] + ["$306.000"] * 4
    assert say("tampoco") == ["No encuentro un plan que pueda ofrecerte desde aquí. Una persona de nuestro equipo "
                              "puede ayudarte: ¿te comunico?"]


def test_enganche_and_fortnights_fill_the_plan_and_only_the_date_is_asked(client: TestClient, stack: Stack) -> None:
    say = verified(client, FERNANDA, "9900")
    assert say("5 mil de enganche y lo demás en 6 meses, pagando cada quincena") == [
        "Entendí: pago inicial de $5,000.00 y el resto en 12 cuotas quincenales.",
        "¿Qué día harías el primer pago? Por ejemplo: el viernes o el 15."]
    monday = local_today("MX") + timedelta(days=7 - local_today("MX").weekday())
    counter = say("el lunes")[0]
    assert counter.startswith("Así no me es posible: Puedo ofrecerte máximo 9 cuotas. Lo más cercano que puedo "
                              f"ofrecerte:\nPago inicial, {spanish_weekday_date(monday)}: $5,000.00\n"
                              f"Cuota 1, {spanish_weekday_date(payment_day(monday + timedelta(days=14)))}: $555.55\n")
    assert amounts(counter) == ["$5,000.00"] + ["$555.55"] * 8 + ["$555.60"]  # every fortnight, as asked
    created = say("sí")
    assert created[0] == ("¡Listo, Fernanda! Registré tu plan: 10 pagos, el primero el "
                          f"{spanish_weekday_date(monday)}. ¡Gracias!")
    with session_scope(stack.database_url) as session:
        plan = session.scalars(select(PaymentPlan).join(Account).where(Account.external_id == "AUR-12121")).one()
        assert (plan.frequency, len(plan.installments)) == ("biweekly", 10)


def test_half_now_and_half_next_month_with_voseo(client: TestClient, stack: Stack) -> None:
    say = verified(client, LUCAS, "2444")
    today = local_today("AR")
    replies = say("la mitad ahora y la otra mitad el mes que viene")
    assert replies[0] == ("Entendí: pago inicial de la mitad ($85.000,00), el resto en un solo pago y el primer pago "
                          f"el {spanish_weekday_date(today)}.")
    assert replies[1].startswith("Este sería tu plan para Tarjeta de crédito:\n")
    assert amounts(replies[1]) == ["$85.000,00", "$85.000,00"]
    assert replies[1].endswith("Total: $170.000,00. ¿Lo confirmás?")


def test_whole_pesos_for_colombia_and_no_due_date_on_a_sunday(client: TestClient, stack: Stack) -> None:
    say = verified(client, JULIANA, "5566")
    assert say("quiero pagar en 7 cuotas") == ["¿Cuánto puedes dar de pago inicial? El mínimo es $180.000."]
    assert say("200 mil") == ["¿Qué día harías el primer pago? Por ejemplo: el viernes o el 15."]
    sunday = local_today("CO") + timedelta(days=(6 - local_today("CO").weekday()) % 7 or 7)
    proposal = say("el domingo")[0]
    assert lines_of(proposal)[0] == f"Pago inicial, {spanish_weekday_date(sunday + timedelta(days=1))}: $200.000"
    assert amounts(proposal) == ["$200.000"] + ["$228.571"] * 6 + ["$228.574"]
    assert proposal.endswith("Total: $1.800.000. ¿Lo confirmas?")


# --- people can leave, and come back ------------------------------------------------------------------------

def test_a_plan_request_asks_one_thing_and_any_other_request_leaves_the_plan(client: TestClient, stack: Stack) -> None:
    say = verified(client, ANDREA, "5544")
    assert say("quiero un plan de pago") == ["¿En cuántas cuotas te gustaría pagar, o cuánto podrías dar en cada una?"]
    assert say("4 cuotas") == ["¿Cuánto puedes dar de pago inicial? El mínimo es $570.00."]
    left = say("olvidate del plan, ¿por qué me cobran intereses?")
    assert left[0] == ("Mientras la cuenta está vencida se suman intereses y comisiones al capital; por eso crece. "
                       "Este es el desglose:")
    assert not any("pago inicial" in reply for reply in left)
    assert say("bueno, volvamos al plan de pagos") == [
        "Sigamos con tu plan: 4 cuotas. ¿Quieres cambiar algo?",
        "¿Cuánto puedes dar de pago inicial? El mínimo es $570.00."]
    assert say("olvídalo") == ["Listo, dejé ese plan sin efecto; no quedó nada registrado. Si quieres otra propuesta "
                               "o pagar el total, dime."]


# --- discounts and settlements ------------------------------------------------------------------------------

def test_no_discount_is_said_plainly_and_a_settlement_offer_goes_to_a_person(client: TestClient, stack: Stack) -> None:
    say = verified(client, HECTOR, "1100")
    reason = "En esta etapa de tu cuenta, Banco Aurora no ofrece descuentos por pago único."
    assert say("si te pago todo de una me haces descuento?") == [
        f"{reason} El total para liquidar Préstamo personal es $2,680.00. Si quieres, te envío el enlace de pago o "
        "armamos un plan en cuotas."]
    assert say("te doy 2 mil y quedamos a mano?") == [
        f"{reason} Puedo pasarle tu oferta de $2,000.00 a una persona de nuestro equipo para que la revise. ¿Quieres?"]
    assert say("sí")[0].startswith("Listo, te comunico con una persona de nuestro equipo.")
    with session_scope(stack.database_url) as session:
        handoff = session.scalars(select(Handoff).join(Conversation).where(
            Conversation.sender_id == "whatsapp:+525514140000")).one()
        assert (handoff.reason, handoff.facts) == ("settlement_offer", [{"settlement_offer": "2000"}])


def test_a_settlement_offer_is_countered_then_accepted(client: TestClient, stack: Stack) -> None:
    say = verified(client, FRANCISCA, "3338")
    until = local_today("CL") + timedelta(days=3)
    assert say("te doy 900 lucas y quedamos a mano") == [
        f"Con $900.000 no puedo cerrar la cuenta: lo mínimo en un solo pago es $1.008.800, hasta el "
        f"{spanish_long_date(until)}. ¿Te envío el enlace?"]
    assert say("no") == ["Entiendo. Puedo pasarle tu oferta de $900.000 a una persona de nuestro equipo para que la "
                         "revise. ¿Quieres?"]
    accepted = say("te deposito 1.010.000 y cerramos la deuda?")
    assert accepted[0] == (f"¡Trato hecho! Con un solo pago de $1.010.000 hasta el {spanish_long_date(until)}, "
                           "Crédito de consumo queda saldada.")
    assert re.match(r"Paga \$1\.010\.000 aquí: https://pagar\.finanzasnorte\.example/p/", accepted[1]), accepted


# --- more time is a promise ---------------------------------------------------------------------------------

def test_more_time_becomes_a_promise_with_its_weekday_and_amount(client: TestClient, stack: Stack) -> None:
    say: Say = verified(client, CARMEN, "3333")
    today = local_today("PE")
    fifteenth = today.replace(day=15)
    quincena = fifteenth if today <= fifteenth else (today.replace(day=28) + timedelta(days=4)).replace(day=1) \
        - timedelta(days=1)
    assert say("me podría dar chance hasta la quincena?") == [
        f"¡Gracias, Carmen! Anoté tu compromiso de pagar S/\xa0650.00 el {spanish_weekday_date(quincena)}."]
    latest = today + timedelta(days=15)
    assert say("necesito más tiempo para pagar") == [
        f"Claro, Carmen. ¿Hasta qué fecha necesitas? Puedo anotar tu compromiso de pago hasta el "
        f"{latest.day} de {MONTHS[latest.month - 1]} de {latest.year}."]
    friday = today + timedelta(days=(4 - today.weekday() - 1) % 7 + 1)
    assert say("hasta el viernes") == [
        f"¡Gracias, Carmen! Anoté tu compromiso de pagar S/\xa0650.00 el {spanish_weekday_date(friday)}."]
    with session_scope(stack.database_url) as session:
        promises = session.scalars(select(PromiseToPay).join(Account).where(Account.external_id == "TAN-PE-333")
                                   .order_by(PromiseToPay.id)).all()
        assert [(p.promised_date, p.status.value) for p in promises] == [(quincena, "cancelled"), (friday, "pending")]
