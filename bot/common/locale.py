"""Money and dates as each debtor's country writes them (Babel)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.core import get_global
from babel.dates import format_date, format_datetime
from babel.numbers import get_currency_precision, parse_pattern

from bot.common.config import country as country_config


def locale_for_country(country: str) -> str:
    return country_config(country).locale


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor units (CLP has none)."""
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def cash_precision(currency: str) -> int:
    """The decimals a currency has in practice (CLDR cash digits): 0 for COP and CLP, whose cents nobody pays."""
    fractions = get_global("currency_fractions")
    return int((fractions.get(currency) or fractions["DEFAULT"])[2])


def cash_unit(currency: str) -> Decimal:
    """The smallest amount people pay in cash: 1 for COP and CLP, 0.01 for MXN."""
    return Decimal(1).scaleb(-cash_precision(currency))


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """'$1,234.50' in es_MX, '$1.800.000' for COP in es_CO (no decimals nobody pays); Babel's no-break spaces
    are kept."""
    if not isinstance(amount, Decimal):
        raise TypeError("money must be a Decimal")
    digits = cash_precision(currency)
    pattern = parse_pattern(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    rounded = amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return pattern.apply(rounded, locale, currency=currency, currency_digits=False)


def format_long_date(day: date, locale: str) -> str:
    """'15 de diciembre de 2026'."""
    return format_date(day, "long", locale=locale)


def format_weekday_date(day: date, locale: str) -> str:
    """'viernes 27 de noviembre': for near dates, where the year goes without saying."""
    return format_date(day, "EEEE d 'de' MMMM", locale=locale)


def zone_for(country: str, timezone_name: str | None) -> ZoneInfo:
    """The debtor's own time zone, else (none, or a name no zone has: imports keep what the file said) their
    country's."""
    if timezone_name:
        try:
            return ZoneInfo(timezone_name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(country_config(country).timezone)


def local_today(country: str, timezone_name: str | None, now: datetime) -> date:
    """Today where the debtor lives: days past due change at their midnight, not the server's."""
    return now.astimezone(zone_for(country, timezone_name)).date()


def format_deadline(moment: datetime, locale: str, zone: ZoneInfo) -> str:
    """'27 de noviembre a las 21:20', in the debtor's time zone."""
    return format_datetime(moment, "d 'de' MMMM 'a las' HH:mm", tzinfo=zone, locale=locale)


def join_spanish(items: list[str]) -> str:
    """'a, b y c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " y " + items[-1]
