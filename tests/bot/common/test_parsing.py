"""Table tests of the Spanish amount and date normaliser: how debtors in five countries write."""
from datetime import date
from decimal import Decimal

import pytest

from bot.common.parsing import parse_amount, parse_date

TODAY = date(2026, 11, 26)  # a Thursday


@pytest.mark.parametrize(("text", "amount"), [
    # Mexico
    ("$1.500", "1500"), ("$1,500", "1500"), ("1,500.50", "1500.50"), ("puedo pagar 800 al mes", "800"),
    ("solo tengo 2 mil ahora", "2000"), ("mil quinientos pesos", "1500"), ("dos mil quinientos", "2500"),
    ("te doy 500 varos", "500"), ("$12,500.00", "12500.00"), ("5k", "5000"), ("1.5k", "1500"),
    ("2 mil quinientos", "2500"),
    # Colombia
    ("$385.000", "385000"), ("385.000,50", "385000.50"), ("100 mil", "100000"), ("2 palos", "2000000"),
    ("cincuenta mil pesos", "50000"), ("un millón", "1000000"),
    # Argentina
    ("20 lucas", "20000"), ("una luca", "1000"), ("$ 845.000", "845000"), ("tengo 30 lucas para pagar", "30000"),
    ("doscientos mil", "200000"),
    # Chile
    ("$1.250.000", "1250000"), ("40 lucas al mes", "40000"), ("medio millón", "500000"), ("15 lukas", "15000"),
    # Peru
    ("S/ 150", "150"), ("S/. 890.50", "890.50"), ("150 soles", "150"), ("trescientos soles", "300"),
    ("veintiún mil", "21000"), ("treinta y cinco mil", "35000"),
])
def test_amounts(text: str, amount: str) -> None:
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["hola", "te pago el 15", "en 6 cuotas", "no tengo", "1.50.0", "",
                                  "me das chance hasta la quincena?", "cada quincena"])
def test_not_amounts(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(("text", "day"), [
    ("hoy", date(2026, 11, 26)), ("mañana", date(2026, 11, 27)), ("manana", date(2026, 11, 27)),
    ("pasado mañana", date(2026, 11, 28)), ("te pago el viernes", date(2026, 11, 27)),
    ("el jueves", date(2026, 12, 3)),  # said on a Thursday: next week's
    ("el próximo lunes", date(2026, 11, 30)), ("el sabado", date(2026, 11, 28)), ("el domingo", date(2026, 11, 29)),
    ("el 15", date(2026, 12, 15)), ("el 30", date(2026, 11, 30)), ("el 26", date(2026, 11, 26)),
    ("el 31", date(2026, 12, 31)), ("el 15 de diciembre", date(2026, 12, 15)),
    ("15 de diciembre", date(2026, 12, 15)), ("el 15 de enero", date(2027, 1, 15)),
    ("15/12", date(2026, 12, 15)), ("15-12-2026", date(2026, 12, 15)), ("3/1", date(2027, 1, 3)),
    ("fin de mes", date(2026, 11, 30)), ("a fin de mes", date(2026, 11, 30)),
    ("a finales de mes", date(2026, 11, 30)), ("en la quincena", date(2026, 11, 30)),
    ("la otra semana", date(2026, 11, 30)), ("la próxima semana", date(2026, 11, 30)),
    ("en 3 días", date(2026, 11, 29)), ("en una semana", date(2026, 12, 3)), ("en dos semanas", date(2026, 12, 10)),
    ("a principios de mes", date(2026, 12, 1)), ("el otro mes", date(2026, 12, 1)),
    ("el finde", date(2026, 11, 28)), ("ayer", date(2026, 11, 25)), ("el 1 de diciembre de 2026", date(2026, 12, 1)),
    ("para el 10 de diciembre", date(2026, 12, 10)), ("el miércoles que viene", date(2026, 12, 2)),
])
def test_dates(text: str, day: date) -> None:
    assert parse_date(text, TODAY) == day


def test_quincena_early_in_the_month_is_the_fifteenth() -> None:
    assert parse_date("la quincena", date(2026, 12, 3)) == date(2026, 12, 15)


def test_fin_de_mes_in_february() -> None:
    assert parse_date("fin de mes", date(2027, 2, 10)) == date(2027, 2, 28)


@pytest.mark.parametrize("text", ["algún día", "cuando pueda", "no sé", "31/02", ""])
def test_unreadable_dates(text: str) -> None:
    assert parse_date(text, TODAY) is None
