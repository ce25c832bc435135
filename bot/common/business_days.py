"""Which days a payment can fall due on: not a Sunday, not a public holiday of the debtor's country.

Public holidays come from the `holidays` package (including Colombia's holidays moved to Monday); they are
computed locally, nothing is downloaded.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

SUNDAY = 6


@lru_cache(maxsize=64)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # a country the package does not know: Sundays only
        return frozenset()


def is_public_holiday(day: date, country: str | None) -> bool:
    return country is not None and day in _public_holidays(country, day.year)


def is_payment_day(day: date, country: str | None) -> bool:
    return day.weekday() != SUNDAY and not is_public_holiday(day, country)


def next_payment_day(day: date, country: str | None) -> date:
    """`day` itself, or the next day that is neither a Sunday nor a public holiday."""
    while not is_payment_day(day, country):
        day += timedelta(days=1)
    return day
