"""What a debtor asks for, read from the whole message: a plan, a settlement, more time.

"puedo pagar 100 lucas ahora y el resto en 3 cuotas", "5 mil de enganche y lo demás en 6 meses, pagando cada
quincena", "la mitad ahora y la otra mitad el mes que viene": one message can carry a down payment, a number of
installments or an amount per installment, a frequency and a first date. Each is read here, in every form the
amount and date parser knows (bot/common/parsing.py); the policy engine decides what of it can be offered.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from bot.common.parsing import parse_amount, parse_date
from bot.negotiation.policy import Frequency

# The piece of a plan the bot asked for last: a bare answer ("6", "2000", "el viernes") fills that one.
Piece = Literal["terms", "down_payment", "first_date"]
PIECES: tuple[Piece, ...] = ("terms", "down_payment", "first_date")

_COUNT_WORDS = {"un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
                "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "quince": 15, "dieciocho": 18,
                "veinte": 20, "veinticuatro": 24, "treinta": 30, "treinta y seis": 36}
_COUNT = r"(\d{1,3}|" + "|".join(sorted(_COUNT_WORDS, key=len, reverse=True)) + r")"
_UNITS = r"(cuotas?|pagos?|meses|mensualidades|partes|quincenas|semanas|abonos|plazos|letras)"
_SHARES = {"la mitad": Fraction(1, 2), "mitad": Fraction(1, 2), "un tercio": Fraction(1, 3),
           "la tercera parte": Fraction(1, 3), "un cuarto": Fraction(1, 4), "la cuarta parte": Fraction(1, 4)}
_DOWN_WORDS = r"(?:enganche|pie|pago inicial|cuota inicial|inicial|anticipo|entrada|abono inicial|adelanto)"
_NOW_WORDS = r"(?:ahora|ahorita|hoy|ya|de una|al tiro|altiro|en este momento|de entrada|inmediato|primero)"
_REST_WORDS = r"(?:el resto|lo demas|lo que falta|lo restante|la otra mitad|el saldo|lo otro|despues)"
_WEEKLY = r"\b(semanal(es)?|por semana|cada semana|a la semana|semanalmente|semanas)\b"
_BIWEEKLY = (r"\b(quincenal(es)?|cada quincena|por quincena|a la quincena|quincenas|quincenalmente"
             r"|(el )?15 y (el )?(30|31|ultimo|fin de mes)|cada 15 dias|cada dos semanas)\b")
_MONTHLY = r"\b(mensual(es|mente)?|al mes|por mes|cada mes|mensualidad(es)?|meses)\b"
_PER_INSTALLMENT = (r"(?:mensual(?:es)?|al mes|por mes|cada mes|semanal(?:es)?|por semana|cada semana|a la semana"
                    r"|quincenal(?:es)?|por quincena|cada quincena|a la quincena|de cuota|por cuota|cada cuota"
                    r"|por pago|cada pago)")
_SETTLE = (r"\b(a mano|en paz|a tablas|quedamos (saldados|a mano|en paz|bien)|y (listo|cerramos|ya)\b|cerra(r|mos)"
           r"|salda(r|mos)|liquida(r|mos)|finiquit|por todo|por toda la deuda|en total y|y me olvido|me la dejas"
           r"|me lo dejas|lo dejamos)")
_MORE_TIME = (r"\b(mas tiempo|mas dias|chance|chanse|plazo|prorroga|esperar(me)?|esperas|espera|aguanta(me|s|n)?"
              r"|dame hasta|deme hasta|darme hasta|me das hasta|me da hasta|me dan hasta|denme hasta"
              r"|unos dias mas|hasta que cobre|hasta que me paguen)\b")


def plain(text: str) -> str:
    """Lower case, no accents, single spaces: what the patterns here are written against."""
    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[¿?¡!;:()]|,(?!\d)", " ", text).split())


@dataclass(frozen=True)
class PlanRequest:
    """What the debtor has said about the plan they want, gathered over one or more messages."""

    down_payment: Decimal | None = None
    down_share: Fraction | None = None  # "la mitad ahora": a share of the balance, priced when proposed
    installments: int | None = None
    per_installment: Decimal | None = None
    frequency: Frequency | None = None
    first_date: date | None = None

    @property
    def has_terms(self) -> bool:
        return self.installments is not None or self.per_installment is not None

    @property
    def has_down_payment(self) -> bool:
        return self.down_payment is not None or self.down_share is not None

    def missing(self) -> list[Piece]:
        """What is still needed, in the order the bot asks for it."""
        known = {"terms": self.has_terms, "down_payment": self.has_down_payment,
                 "first_date": self.first_date is not None}
        return [piece for piece in PIECES if not known[piece]]

    def is_empty(self) -> bool:
        return self == PlanRequest()

    def merged(self, newer: PlanRequest) -> PlanRequest:
        """What was said before, updated by what was said now (a new number of installments replaces an
        amount per installment, and the other way round)."""
        values = {item.name: getattr(newer, item.name) if getattr(newer, item.name) is not None
                  else getattr(self, item.name) for item in fields(self)}
        if newer.installments is not None and newer.per_installment is None:
            values["per_installment"] = None
        if newer.per_installment is not None and newer.installments is None:
            values["installments"] = None
        if newer.down_payment is not None and newer.down_share is None:
            values["down_share"] = None
        if newer.down_share is not None and newer.down_payment is None:
            values["down_payment"] = None
        return PlanRequest(**values)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                data[item.name] = value if isinstance(value, int | str) else str(value) if not isinstance(
                    value, date) else value.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PlanRequest:
        data = data or {}
        return cls(
            down_payment=Decimal(data["down_payment"]) if "down_payment" in data else None,
            down_share=Fraction(data["down_share"]) if "down_share" in data else None,
            installments=int(data["installments"]) if "installments" in data else None,
            per_installment=Decimal(data["per_installment"]) if "per_installment" in data else None,
            frequency=data.get("frequency"),
            first_date=date.fromisoformat(data["first_date"]) if "first_date" in data else None)


def _count(word: str) -> int | None:
    value = int(word) if word.isdigit() else _COUNT_WORDS.get(word)
    return value if value is not None and 1 <= value <= 120 else None


def _frequency(text: str) -> Frequency | None:
    if re.search(_BIWEEKLY, text):
        return "biweekly"
    if re.search(_WEEKLY, text):
        return "weekly"
    if re.search(_MONTHLY, text):
        return "monthly"
    return None


def _positive(amount: Decimal | None) -> Decimal | None:
    return amount if amount is not None and amount > 0 else None


_CLAUSE_BREAK = r", | y | e | luego | despues "


def _last_clause(words: str) -> str:
    """'4 cuotas y un' → 'un': the words next to a keyword, not the previous clause's number."""
    return re.split(_CLAUSE_BREAK, f" {words} ")[-1]


def _down_payment(text: str) -> tuple[Decimal | None, Fraction | None, bool]:
    """(amount, share, said 'now'): "5 mil de enganche", "un pie de 50 lucas", "100 lucas ahora y el resto",
    "la mitad ahora", "sin enganche"."""
    if re.search(rf"\b(sin|cero de|nada de|0 de) {_DOWN_WORDS}\b|\bno tengo (para el|para la|de) {_DOWN_WORDS}", text):
        return Decimal(0), None, False
    for share_words, share in _SHARES.items():
        if re.search(rf"\b{share_words} (?:de )?(?:{_DOWN_WORDS}|{_NOW_WORDS})\b", text) or \
                re.search(rf"\b{_DOWN_WORDS} (?:de |del )?{share_words}\b", text):
            return None, share, bool(re.search(rf"\b{share_words} {_NOW_WORDS}\b", text))
    before = re.search(rf"(?P<amount>[\w$.,]+(?: [\w$.,]+){{0,3}}?) (?:de |como |para el |para la )?{_DOWN_WORDS}\b",
                       text)
    if before:
        amount = _positive(parse_amount(_last_clause(before.group("amount"))))
        if amount is not None:
            return amount, None, False
    after = re.search(rf"\b{_DOWN_WORDS} (?:de |del |por |con )?(?P<amount>.{{0,30}})", text)
    if after:  # only the clause right after the word: "enganche de 2000, 4 cuotas" is not a 4 down payment
        clause = re.split(_CLAUSE_BREAK, after.group("amount"))[0]
        amount = _positive(parse_amount(clause))
        if amount is not None:
            return amount, None, False
    now = re.search(rf"(?P<amount>[\w$.,]+(?: [\w$.,]+){{0,3}}?) {_NOW_WORDS}\b(?=.*\b{_REST_WORDS}\b)", text)
    if now:
        amount = _positive(parse_amount(_last_clause(now.group("amount"))))
        if amount is not None:
            return amount, None, True
    return None, None, False


def _installments(text: str, frequency: Frequency | None) -> int | None:
    """'en 3 cuotas', 'lo demás en 6 meses' (12 payments if every fortnight), 'la otra mitad el mes que viene'."""
    found = re.search(rf"\b{_COUNT} {_UNITS}\b(?! inicial| de entrada)", text)
    if found:
        count = _count(found.group(1))
        if count is not None and found.group(2) == "meses" and frequency in ("weekly", "biweekly"):
            count = count * 2 if frequency == "biweekly" else round(count * 52 / 12)
        return count
    if re.search(r"\bla otra mitad\b|\b(el resto|lo demas|lo que falta) (el|la|para|a fin|a finales|al)\b", text) and \
            not re.search(_PER_INSTALLMENT, text):
        return 1
    return None


def _per_installment(text: str) -> Decimal | None:
    """'100 mil mensuales', '2000 por mes', 'cuotas de 300 lucas', '50 mil cada semana'."""
    after = re.search(r"\b(?:cuotas?|pagos?|abonos?|mensualidad(?:es)?) de (?P<amount>[\w$.,]+(?: [\w$.,]+){0,2})",
                      text)
    if after:
        amount = _positive(parse_amount(after.group("amount")))
        if amount is not None and not re.fullmatch(r"\d{1,2}", after.group("amount").split()[0]):
            return amount
    before = re.search(rf"(?P<amount>[\w$.,]+(?: [\w$.,]+){{0,3}}?) {_PER_INSTALLMENT}\b", text)
    if before:
        return _positive(parse_amount(before.group("amount")))
    return None


def _first_date(text: str, today: date, said_now: bool) -> date | None:
    if said_now:
        return today
    cue = re.search(r"\b(?:empezando|empiezo|empezar|comenzando|comienzo|arrancando|a partir|desde|primer pago"
                    r"|primera cuota|el primero)\b(?P<rest>.*)", text)
    if cue:
        found = parse_date(cue.group("rest"), today)
        if found is not None:
            return found
    # dates inside a frequency ("cada quincena", "15 y 30") or a count ("en 3 semanas") are not a first date
    stripped = re.sub(_BIWEEKLY + "|" + _WEEKLY + r"|\ben \d+ (semanas?|dias?|meses)\b", " ", text)
    return parse_date(stripped, today)


def read_plan_request(text: str, today: date, asked: Piece | None = None) -> PlanRequest:
    """Everything `text` says about a plan; `asked` is the piece the bot just asked for, so a bare answer
    ("6", "2000", "el viernes", "nada") fills it."""
    words = plain(text)
    frequency = _frequency(words)
    down, share, said_now = _down_payment(words)
    installments = _installments(words, frequency)
    per_installment = None if installments is not None else _per_installment(words)
    first = _first_date(words, today, said_now and (down is not None or share is not None))
    request = PlanRequest(down, share, installments, per_installment, frequency, first)
    if asked == "down_payment" and not request.has_down_payment:
        if re.fullmatch(r"(0|cero|nada|ninguno|no tengo|no puedo|sin (enganche|pie|inicial)|no)\b.*", words):
            request = replace(request, down_payment=Decimal(0))
        elif (amount := _positive(parse_amount(words))) is not None and per_installment is None:
            request = replace(request, down_payment=amount)
    if asked == "terms" and not request.has_terms:
        if re.fullmatch(r"(en )?" + _COUNT, words) and (count := _count(words.removeprefix("en "))):
            request = replace(request, installments=count)
        elif (amount := _positive(parse_amount(words))) is not None and request.down_payment != amount:
            request = replace(request, per_installment=amount)
    return request


def settlement_amount(text: str) -> Decimal | None:
    """'te doy 17 mil y quedamos a mano?' → 17000: a lump sum offered to close the debt; None otherwise."""
    words = plain(text)
    if not re.search(_SETTLE, words):
        return None
    return _positive(parse_amount(words))


def asks_for_more_time(text: str) -> bool:
    """'necesito más tiempo', 'me das chance hasta la quincena?', 'dame hasta fin de mes'."""
    return bool(re.search(_MORE_TIME, plain(text)))
