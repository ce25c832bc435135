from datetime import date
from decimal import Decimal

import pytest

from bot.common.locale import format_long_date, format_money, format_weekday_date, locale_for_country, quantize_money

NBSP = "\u00a0"


@pytest.mark.parametrize(("country", "currency", "amount", "text"), [
    ("MX", "MXN", "1234567.5", "$1,234,567.50"),
    ("CO", "COP", "1234567.5", "$1.234.568"),  # whole pesos: COP has no cash decimals
    ("AR", "ARS", "1234567.5", "$1.234.567,50"),
    ("CL", "CLP", "1234567.5", "$1.234.568"),  # CLP has no decimals: rounded half up
    ("CL", "CLP", "1449500", "$1.449.500"),
    ("PE", "PEN", "1234567.5", f"S/{NBSP}1,234,567.50"),
    ("MX", "MXN", "0", "$0.00"),
    ("MX", "MXN", "0.005", "$0.01"),
])
def test_money_in_each_country(country: str, currency: str, amount: str, text: str) -> None:
    assert format_money(Decimal(amount), currency, locale_for_country(country)) == text


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        format_money(10.5, "MXN", "es_MX")  # type: ignore[arg-type]


def test_quantize_follows_currency_minor_units() -> None:
    assert quantize_money(Decimal("10.555"), "MXN") == Decimal("10.56")
    assert quantize_money(Decimal("10.5"), "CLP") == Decimal("11")


@pytest.mark.parametrize("country", ["MX", "CO", "AR", "CL", "PE"])
def test_long_spanish_dates(country: str) -> None:
    locale = locale_for_country(country)
    assert format_long_date(date(2026, 12, 15), locale) == "15 de diciembre de 2026"
    assert format_weekday_date(date(2026, 11, 27), locale) == "viernes 27 de noviembre"
