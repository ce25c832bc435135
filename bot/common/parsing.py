"""What debtors write for amounts and dates, in Spanish, into Decimal and date.

Babel's parse_decimal trusts the locale ("$1.500" in es_MX is 1.5) and dateparser misses "el viernes",
"fin de mes" or "la quincena"; debtors write all of those. So: a small, table-tested normaliser.
Amounts: "$1.500", "1,500.50", "2 mil", "dos mil quinientos", "20 lucas", "5k", "mil quinientos pesos",
"2 palos". Dates, relative to the debtor's today: "hoy", "pasado mañana", "el viernes", "el 15",
"el 15 de diciembre", "15/12", "fin de mes", "la quincena", "la otra semana", "en 3 días".
"""
from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

_UNITS = {
    "cero": 0, "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiun": 21,
    "veintiuno": 21, "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24, "veinticinco": 25,
    "veintiseis": 26, "veintisiete": 27, "veintiocho": 28, "veintinueve": 29, "treinta": 30, "cuarenta": 40,
    "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90, "cien": 100, "ciento": 100,
    "doscientos": 200, "doscientas": 200, "trescientos": 300, "trescientas": 300, "cuatrocientos": 400,
    "cuatrocientas": 400, "quinientos": 500, "quinientas": 500, "seiscientos": 600, "seiscientas": 600,
    "setecientos": 700, "setecientas": 700, "ochocientos": 800, "ochocientas": 800, "novecientos": 900,
    "novecientas": 900, "medio": 0.5,
}
_MULTIPLIERS = {"mil": 1000, "luca": 1000, "lucas": 1000, "luka": 1000, "lukas": 1000, "k": 1000,
                "millon": 1_000_000, "millones": 1_000_000, "palo": 1_000_000, "palos": 1_000_000}
_NUMBER = r"\d+(?:[.,]\d+)*"
_NUMBER_WORDS = "|".join(sorted(set(_UNITS) | set(_MULTIPLIERS) - {"k"}, key=len, reverse=True))
_AMOUNT = re.compile(  # whole words only: "quince" is a number, "quincena" is not
    rf"(?P<number>{_NUMBER})\s*(?P<multiplier>k|mil|lucas?|lukas?|millon(?:es)?|palos?)?\b"
    rf"|(?P<words>(?:\b(?:{_NUMBER_WORDS}|y)\b\s*)+)",
)
_MONTHS = {name: number for number, name in enumerate(
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(), 1)}
_MONTHS["setiembre"] = 9
_WEEKDAYS = {"lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6}


def _plain(text: str) -> str:
    """Lower case, no accents, no currency words or symbols that only get in the way."""
    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    text = re.sub(r"s/\.?|\$|\b(?:mxn|cop|ars|clp|pen|usd|pesos?|soles?|dolares?|mensuales?|al mes)\b", " ", text)
    return " ".join(text.split())


def _decimal_from_digits(number: str) -> Decimal | None:
    """'1.500' → 1500, '1,500.50' → 1500.50, '1500,5' → 1500.5: a separator before exactly three digits
    groups thousands, whatever the country; the last separator before one or two digits is the decimal."""
    groups = re.split(r"[.,]", number)
    separators = re.findall(r"[.,]", number)
    if len(groups) == 1:
        return Decimal(number)
    if len(groups[-1]) != 3 or (len(set(separators)) == 2 and separators[-1] != separators[0]):
        integer, fraction = "".join(groups[:-1]), groups[-1]
        if any(len(group) != 3 for group in groups[1:-1]):
            return None
        return Decimal(f"{integer}.{fraction}") if len(fraction) <= 2 else None
    if any(len(group) != 3 for group in groups[1:]):
        return None
    return Decimal("".join(groups))


def _words_value(words: str) -> Decimal | None:
    total, current = Decimal(0), Decimal(0)
    seen = False
    for word in words.split():
        if word == "y":
            continue
        if word in _UNITS:
            current += Decimal(str(_UNITS[word]))
            seen = True
        elif word in _MULTIPLIERS:
            total += (current or Decimal(1)) * _MULTIPLIERS[word]
            current = Decimal(0)
            seen = True
    value = total + current
    return value if seen and value > 0 else None


def parse_amount(text: str) -> Decimal | None:
    """The first amount in `text`, or None when there is none (or it cannot be read safely)."""
    plain = _plain(text)
    for match in _AMOUNT.finditer(plain):
        if match.group("number"):
            before = plain[: match.start()].split()
            if before and before[-1] in ("el", "dia", "los", "en") and not match.group("multiplier"):
                continue  # "el 15", "en 6 cuotas": a day or a count, not money
            try:
                value = _decimal_from_digits(match.group("number"))
            except InvalidOperation:
                value = None
            if value is None:
                return None
            multiplier = match.group("multiplier")
            if multiplier:
                value *= _MULTIPLIERS[multiplier]
                rest = plain[match.end():].split()
                if rest and rest[0] in _UNITS and _UNITS[rest[0]] >= 1 and multiplier in ("mil", "millon", "millones"):
                    tail = _words_value(" ".join(rest[:3]))  # "2 mil quinientos"
                    value += tail or 0
            return value.quantize(Decimal(1)) if value == value.to_integral() else value
        words = match.group("words").strip()
        if words and words not in ("y", "un", "una", "uno"):
            value = _words_value(words)
            if value is not None:
                return value
    return None


def _next_weekday(today: date, weekday: int, *, skip_today: bool) -> date:
    days = (weekday - today.weekday()) % 7
    if days == 0 and skip_today:
        days = 7
    return today + timedelta(days=days)


def _end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _first_of_next_month(day: date) -> date:
    return _end_of_month(day) + timedelta(days=1)


def _next_day_of_month(today: date, day_of_month: int) -> date | None:
    """The next date (today included) whose day is `day_of_month`; the 31st skips short months."""
    candidate_month = today.replace(day=1)
    for _ in range(13):
        last = calendar.monthrange(candidate_month.year, candidate_month.month)[1]
        if day_of_month <= last:
            candidate = candidate_month.replace(day=day_of_month)
            if candidate >= today:
                return candidate
        candidate_month = _first_of_next_month(candidate_month)
    return None


def parse_date(text: str, today: date) -> date | None:
    """The date a debtor means, relative to `today` in their own time zone; None if it cannot be read.

    A date in the past is returned as such ("ayer", "el 3 de enero de 2020"): the caller says it is past.
    """
    plain = _plain(text)
    if re.search(r"\bpasado\s+manana\b", plain):
        return today + timedelta(days=2)
    if re.search(r"\bmanana\b", plain):
        return today + timedelta(days=1)
    if re.search(r"\bhoy\b", plain):
        return today
    if re.search(r"\bayer\b", plain):
        return today - timedelta(days=1)
    relative = re.search(r"\ben\s+(\d+|un|una|dos|tres|cuatro|cinco|seis|siete|ocho|diez|quince)\s+(dias?|semanas?)\b",
                         plain)
    if relative:
        count = int(relative.group(1)) if relative.group(1).isdigit() else int(_UNITS[relative.group(1)])
        return today + timedelta(days=count * (7 if relative.group(2).startswith("semana") else 1))
    numeric = re.search(r"\b(\d{1,2})\s*[/-]\s*(\d{1,2})(?:\s*[/-]\s*(\d{2,4}))?\b", plain)
    if numeric:
        day, month = int(numeric.group(1)), int(numeric.group(2))
        return _dated(today, day, month, numeric.group(3))
    named = re.search(r"\b(\d{1,2})\s+(?:de\s+)?(" + "|".join(_MONTHS) + r")\b(?:\s+(?:de(?:l)?\s+)?(\d{4}))?", plain)
    if named:
        return _dated(today, int(named.group(1)), _MONTHS[named.group(2)], named.group(3))
    if re.search(r"\b(fin|finales|final)\s+(de|del)\s+mes\b|\bfin de mes\b", plain):
        return _end_of_month(today)
    if re.search(r"\bquincena\b", plain):
        fifteenth = today.replace(day=15)
        return fifteenth if today <= fifteenth else _end_of_month(today)
    if re.search(r"\b(principios|inicios|comienzos)\s+de(l)?\s+mes\b|\b(el\s+)?(otro|proximo)\s+mes\b"
                 r"|\bmes\s+que\s+viene\b", plain):
        return _first_of_next_month(today)
    if re.search(r"\b(la\s+)?(otra|proxima)\s+semana\b|\bsemana\s+que\s+viene\b", plain):
        return _next_weekday(today, 0, skip_today=True)
    if re.search(r"\b(fin\s+de\s+semana|finde)\b", plain):
        return _next_weekday(today, 5, skip_today=False)
    weekday = re.search(r"\b(" + "|".join(_WEEKDAYS) + r")\b", plain)
    if weekday:  # "el viernes", "el próximo viernes": the coming one; on a Friday, next week's ("hoy" is today)
        return _next_weekday(today, _WEEKDAYS[weekday.group(1)], skip_today=True)
    day_only = re.search(r"\b(?:el|dia|para el)\s+(\d{1,2})\b", plain)
    if day_only and 1 <= int(day_only.group(1)) <= 31:
        return _next_day_of_month(today, int(day_only.group(1)))
    return None


def _dated(today: date, day: int, month: int, year_text: str | None) -> date | None:
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for year in (today.year, today.year + 1):  # "15 de enero" said in November is next January
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None
