"""Whole plans, settlements and requests for time, read from what debtors write (table-tested)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from bot.negotiation.requests import PlanRequest, asks_for_more_time, read_plan_request, settlement_amount

TODAY = date(2026, 11, 27)  # a Friday
D = Decimal


@pytest.mark.parametrize(("text", "expected"), [
    ("puedo pagar 100 lucas ahora y el resto en 3 cuotas",
     PlanRequest(down_payment=D(100000), installments=3, first_date=TODAY)),
    ("5 mil de enganche y lo demás en 6 meses, pagando cada quincena",
     PlanRequest(down_payment=D(5000), installments=12, frequency="biweekly")),
    ("la mitad ahora y la otra mitad el mes que viene",
     PlanRequest(down_share=Fraction(1, 2), installments=1, first_date=TODAY)),
    ("100 mil mensuales", PlanRequest(per_installment=D(100000), frequency="monthly")),
    ("2000 por mes", PlanRequest(per_installment=D(2000), frequency="monthly")),
    ("puedo dar 50 mil cada semana", PlanRequest(per_installment=D(50000), frequency="weekly")),
    ("en 6 cuotas de 300 mil empezando el 15 de diciembre",
     PlanRequest(installments=6, first_date=date(2026, 12, 15))),
    ("un pie de 50 lucas y 4 cuotas mensuales",
     PlanRequest(down_payment=D(50000), installments=4, frequency="monthly")),
    ("cuota inicial de 2 palos y el resto en doce meses a partir del 5 de enero",
     PlanRequest(down_payment=D(2000000), installments=12, frequency="monthly", first_date=date(2027, 1, 5))),
    ("sin enganche, en 8 pagos quincenales, el 15 y el 30",
     PlanRequest(down_payment=D(0), installments=8, frequency="biweekly")),
    ("un pago inicial de 1.500 y tres cuotas", PlanRequest(down_payment=D(1500), installments=3)),
    ("te puedo dar S/ 300 al mes desde el lunes",
     PlanRequest(per_installment=D(300), frequency="monthly", first_date=date(2026, 11, 30))),
    ("en 4 cuotas y un pago inicial de 2000", PlanRequest(down_payment=D(2000), installments=4)),
    ("2000 de enganche, 4 cuotas, empiezo mañana",
     PlanRequest(down_payment=D(2000), installments=4, first_date=TODAY + timedelta(days=1))),
    ("quiero un plan de pagos", PlanRequest()),
    ("en 10 cuotas", PlanRequest(installments=10)),
])
def test_one_message_can_carry_the_whole_plan(text: str, expected: PlanRequest) -> None:
    assert read_plan_request(text, TODAY) == expected


@pytest.mark.parametrize(("text", "asked", "expected"), [
    ("6", "terms", PlanRequest(installments=6)),
    ("20 lucas", "terms", PlanRequest(per_installment=D(20000))),
    ("20 lucas", "down_payment", PlanRequest(down_payment=D(20000))),
    ("nada", "down_payment", PlanRequest(down_payment=D(0))),
    ("no tengo para el enganche", "down_payment", PlanRequest(down_payment=D(0))),
    ("1,000", "down_payment", PlanRequest(down_payment=D(1000))),
    ("el viernes", "first_date", PlanRequest(first_date=TODAY + timedelta(days=7))),
    ("2000 de enganche y empiezo el lunes", "terms",
     PlanRequest(down_payment=D(2000), first_date=date(2026, 11, 30))),
    ("no sé", "terms", PlanRequest()),
])
def test_a_bare_answer_fills_the_piece_that_was_asked(text: str, asked: str, expected: PlanRequest) -> None:
    assert read_plan_request(text, TODAY, asked) == expected  # type: ignore[arg-type]


def test_newer_words_replace_older_ones_and_the_rest_is_kept() -> None:
    before = PlanRequest(down_payment=D(500), per_installment=D(800), first_date=TODAY)
    after = before.merged(PlanRequest(installments=8))
    assert after == PlanRequest(down_payment=D(500), installments=8, first_date=TODAY)
    assert PlanRequest.from_json(after.to_json()) == after
    assert after.missing() == [] and PlanRequest(installments=2).missing() == ["down_payment", "first_date"]


@pytest.mark.parametrize(("text", "amount"), [
    ("te doy 17 mil y quedamos a mano?", D(17000)),
    ("si te deposito 800 lucas cerramos la deuda?", D(800000)),
    ("ofrezco 1.200.000 por todo y listo", D(1200000)),
    ("te doy 17 mil", None),
    ("quedamos a mano", None),
])
def test_settlement_offers(text: str, amount: Decimal | None) -> None:
    assert settlement_amount(text) == amount


@pytest.mark.parametrize(("text", "expected"), [
    ("necesito más tiempo para pagar", True), ("me podría dar chance hasta la quincena?", True),
    ("dame hasta fin de mes", True), ("me pueden esperar unos días?", True),
    ("te pago el viernes", False), ("déjame pensarlo", False), ("cuánto debo", False),
])
def test_requests_for_more_time(text: str, expected: bool) -> None:
    assert asks_for_more_time(text) is expected
