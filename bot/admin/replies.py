"""The bot's replies (domain.yml `responses`) as admins edit them: variations, slot conditions, named variables.

domain.yml stays the source of truth and `rasa train` reads it as ever: an edit rewrites only the lines of the
one response it is about, in the file's own style (`- text: "…"`, conditions above their text), so an engineer
reviews it as a git diff. A response's version is a hash of its lines: an edit based on a stale read is a
conflict with the current variations, never a silent overwrite. Edits reach debtors with the next model.

The checks are the ones Rasa and the debtor's phone impose: a text for every variation, at least one variation
without a condition (what Rasa says when no condition matches), conditions on slots that exist, only the
variables this response is given today (the action or a slot fills them: a new one needs code), and every text,
filled in for a sample debtor of each country, within two SMS segments (a reply already longer may not grow).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from bot.admin.training_data import EditConflict, InvalidEdit, locked
from bot.common import config
from bot.common.locale import format_long_date, format_money
from bot.messaging.sms import SmsSize, sms_size

MAX_SEGMENTS = 2
MAX_VARIATIONS = 10
MAX_TEXT_CHARS = 1000
_RESPONSES_LINE = re.compile(r"^responses:\s*(#.*)?$")
_RESPONSE_LINE = re.compile(r"^  (utter_\w+):\s*(#.*)?$")
_VARIABLE = re.compile(r"\{(\w+)\}")
_MONEY = {"amount": "1830.55", "total": "12500.00", "installment": "1041.67", "down": "1500.00",
          "minimum": "500.00", "principal": "10500.00", "interest": "1650.55", "fees": "350.00",
          "offered": "6000.00", "example": "800.00"}
_DATES = {"date": date(2026, 12, 15), "due_date": date(2026, 12, 15), "first_date": date(2026, 12, 5),
          "latest_date": date(2026, 12, 20), "valid_until": date(2026, 12, 10), "deadline": date(2026, 12, 12)}
_WORDS = {"account_ref": "…4521", "attempts_left": "2", "count": "6", "creditor": "Banco Aurora",
          "creditors": "Banco Aurora y Finanzas Norte", "days": "7", "days_past_due": "45", "hours": "lunes a "
          "viernes de 9:00 a 18:00", "limit": "12", "limits": "el plazo máximo es de 12 cuotas.",
          "link_prefix": "https://pagos.acuerdo.example/", "methods": "tarjeta o transferencia", "minutes": "15",
          "number": "1", "product": "Tarjeta de crédito", "products": "Tarjeta de crédito y Préstamo personal",
          "reason": "Entiendo tu situación.", "summary": "6 cuotas, la primera el 5 de diciembre",
          "title": "Constancia de pago", "url": "https://pagos.acuerdo.example/p/AbC123",
          "when": "mañana a las 10:00"}
SAMPLE_NAMES = {"MX": "Lupita", "CO": "Camilo", "AR": "Facundo", "CL": "Javiera", "PE": "Rosa"}


class StaleReply(EditConflict):
    """The response changed since it was read; `reply` is what it says now (the merge view)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("Esta respuesta cambió desde que la abriste: revisa la versión actual y vuelve a aplicar "
                         "tu cambio.", [])
        self.reply = reply


@dataclass(frozen=True)
class Variation:
    text: str
    condition: tuple[tuple[str, str, Any], ...] = ()  # (type, name, value): Rasa's slot conditions

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"text": self.text}
        if self.condition:
            shown["condition"] = [{"type": kind, "name": name, "value": value} for kind, name, value in self.condition]
        return shown


@dataclass(frozen=True)
class Reply:
    name: str
    variations: tuple[Variation, ...]
    version: str

    @property
    def variables(self) -> list[str]:
        return sorted({name for variation in self.variations for name in _VARIABLE.findall(variation.text)})

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "variables": self.variables,
                "variations": [variation.as_dict() for variation in self.variations]}


@dataclass(frozen=True)
class Preview:
    country: str
    locale: str
    variation: int  # index into the variations
    text: str
    size: SmsSize


def variation_of(raw: dict[str, Any]) -> Variation:
    """A variation as the API or the file gives it; anything but text and slot conditions is refused."""
    unknown = set(raw) - {"text", "condition"}
    if unknown:
        raise InvalidEdit("variations", f"Una variación solo lleva text y condition (sobra: {sorted(unknown)[0]}).")
    conditions = []
    for item in raw.get("condition") or []:
        if not isinstance(item, dict) or set(item) != {"type", "name", "value"}:
            raise InvalidEdit("variations", "Cada condición lleva type, name y value.")
        conditions.append((str(item["type"]), str(item["name"]), item["value"]))
    return Variation(str(raw.get("text") or ""), tuple(conditions))


def _blocks(lines: list[str]) -> Iterator[tuple[str, int, int]]:
    """(response, first line, end line) of each response under `responses:`; trailing blanks stay outside."""
    start = next((i for i, line in enumerate(lines) if _RESPONSES_LINE.match(line.rstrip("\r\n"))), None)
    if start is None:
        return
    current: tuple[str, int] | None = None
    last_content = start
    for index in range(start + 1, len(lines)):
        line = lines[index].rstrip("\r\n")
        if line and not line.startswith(" ") and not line.startswith("#"):
            break  # the next top-level key
        match = _RESPONSE_LINE.match(line)
        if match or (line.startswith("  ") and not line.startswith("   ") and line.strip()):
            if current:
                yield current[0], current[1], last_content + 1
            current = (match.group(1), index) if match else None
            last_content = index
        elif line.strip() and line.startswith("   "):
            last_content = index
    if current:
        yield current[0], current[1], last_content + 1


def _emit(name: str, variations: tuple[Variation, ...]) -> list[str]:
    lines = [f"  {name}:\n"]
    for variation in variations:
        text = json.dumps(variation.text, ensure_ascii=False)
        if variation.condition:
            lines.append("    - condition:\n")
            for kind, slot, value in variation.condition:
                lines += [f"        - type: {kind}\n", f"          name: {slot}\n",
                          f"          value: {json.dumps(value, ensure_ascii=False)}\n"]
            lines.append(f"      text: {text}\n")
        else:
            lines.append(f"    - text: {text}\n")
    return lines


class Replies:
    """The responses of one domain.yml, read fresh for every operation."""

    def __init__(self, domain_file: Path) -> None:
        self.domain_file = domain_file

    def _read(self) -> tuple[list[str], dict[str, Any]]:
        text = self.domain_file.read_text(encoding="utf-8")
        return text.splitlines(keepends=True), yaml.safe_load(text) or {}

    def all(self, query: str | None = None) -> list[Reply]:
        lines, domain = self._read()
        found = [self._reply(name, lines[first:end], domain) for name, first, end in _blocks(lines)]
        if query:
            wanted = query.lower()
            found = [reply for reply in found if wanted in reply.name.lower()
                     or any(wanted in variation.text.lower() for variation in reply.variations)]
        return found

    def get(self, name: str) -> Reply:
        lines, domain = self._read()
        for found, first, end in _blocks(lines):
            if found == name:
                return self._reply(name, lines[first:end], domain)
        raise LookupError(name)

    @staticmethod
    def _reply(name: str, block: list[str], domain: dict[str, Any]) -> Reply:
        raw = (domain.get("responses") or {}).get(name) or []
        variations = tuple(variation_of(item) for item in raw)
        return Reply(name, variations, hashlib.sha256("".join(block).encode()).hexdigest()[:16])

    def slots(self) -> dict[str, Any]:
        return self._read()[1].get("slots") or {}

    # --- checking --------------------------------------------------------------------------------------

    def check(self, current: Reply, variations: tuple[Variation, ...]) -> None:
        """InvalidEdit (field `variations.N`) unless Rasa and two SMS segments take these variations."""
        if not variations:
            raise InvalidEdit("variations", "Una respuesta necesita al menos una variación.")
        if len(variations) > MAX_VARIATIONS:
            raise InvalidEdit("variations", f"Como mucho {MAX_VARIATIONS} variaciones por respuesta.")
        if all(variation.condition for variation in variations):
            raise InvalidEdit("variations", "Deja al menos una variación sin condición: es la que se usa cuando "
                                            "ninguna condición se cumple.")
        slots = self.slots()
        given = set(current.variables) | set(slots)
        limit = max([MAX_SEGMENTS, *(p.size.segments for p in previews(current.variations, every=True))])
        seen: set[tuple[str, tuple[tuple[str, str, Any], ...]]] = set()
        for index, variation in enumerate(variations):
            field_name = f"variations.{index}"
            text = variation.text.strip()
            if not text:
                raise InvalidEdit(field_name, "El texto está vacío.")
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidEdit(field_name, f"El texto pasa de {MAX_TEXT_CHARS} caracteres.")
            if (normalized := " ".join(text.split()), variation.condition) in seen:
                raise InvalidEdit(field_name, "Esta variación repite otra con la misma condición.")
            seen.add((normalized, variation.condition))
            if text.count("{") != text.count("}") or _VARIABLE.sub("", text).count("{"):
                raise InvalidEdit(field_name, "Hay una llave { } suelta: las variables se escriben {así}.")
            for name in _VARIABLE.findall(text):
                if name not in given:
                    offered = ", ".join("{" + v + "}" for v in current.variables) or "ninguna"
                    raise InvalidEdit(field_name, f"La variable {{{name}}} no existe para esta respuesta "
                                                  f"(recibe: {offered}).")
            for kind, slot, _value in variation.condition:
                if kind != "slot" or slot not in slots:
                    raise InvalidEdit(field_name, f"La condición usa «{kind}: {slot}», que no es un slot del "
                                                  "dominio.")
        for preview in previews(variations, every=True):  # conditions the sample debtor does not meet count too
            if preview.size.segments > limit:
                raise InvalidEdit(f"variations.{preview.variation}",
                                  f"Para {preview.country} ocupa {preview.size.segments} SMS "
                                  f"({preview.size.units} caracteres {preview.size.encoding}); el máximo es "
                                  f"{limit}. Acórtalo.")

    # --- writing ---------------------------------------------------------------------------------------

    def edit(self, name: str, variations: tuple[Variation, ...], version: str) -> tuple[Reply, Reply]:
        """(before, after): the response rewritten, if it still is what the admin read (`version`)."""
        with locked(self.domain_file):
            before = self.get(name)
            if before.version != version:
                raise StaleReply(before)
            variations = tuple(Variation(v.text.strip(), v.condition) for v in variations)
            self.check(before, variations)
            lines, _domain = self._read()
            first, end = next((f, e) for found, f, e in _blocks(lines) if found == name)
            updated = lines[:first] + _emit(name, variations) + lines[end:]
            try:
                parsed = yaml.safe_load("".join(updated))
                reads_back = [variation_of(raw) for raw in parsed["responses"][name]] == list(variations)
            except (yaml.YAMLError, KeyError, TypeError) as exc:
                raise InvalidEdit("variations", "Ese texto no se puede guardar tal cual en domain.yml.") from exc
            if not reads_back:  # never write a domain that says something else than what was checked
                raise InvalidEdit("variations", "Ese texto no se puede guardar tal cual en domain.yml.")
            self.domain_file.write_text("".join(updated), encoding="utf-8")
            return before, self.get(name)


def sample_values(country: str) -> dict[str, str]:
    """What the variables say for a sample debtor of `country`, in its money, dates and document."""
    settings = config.country(country)
    values = dict(_WORDS)
    values.update({name: format_money(Decimal(amount), settings.currency, settings.locale)
                   for name, amount in _MONEY.items()})
    values.update({name: format_long_date(day, settings.locale) for name, day in _DATES.items()})
    installment = format_money(Decimal(_MONEY["installment"]), settings.currency, settings.locale)
    values["lines"] = "\n".join(f"Cuota {number}, {format_long_date(day, settings.locale)}: {installment}"
                                 for number, day in ((1, date(2026, 12, 5)), (2, date(2027, 1, 5))))
    values.update(first_name=SAMPLE_NAMES.get(country, "Ana"), debtor_first_name=SAMPLE_NAMES.get(country, "Ana"),
                  document=settings.identity_document, country=settings.name)
    return values


def sample_slots(country: str) -> dict[str, Any]:
    return {"voseo": config.country(country).voseo, "verified": True}


def _applies(variation: Variation, slots: dict[str, Any], variations: tuple[Variation, ...]) -> bool:
    """Rasa's choice: variations whose conditions all hold; the unconditioned ones only if none does."""
    if variation.condition:
        return all(slots.get(name) == value for _kind, name, value in variation.condition)
    return not any(other.condition and _applies(other, slots, variations) for other in variations)


def fill(text: str, values: dict[str, str]) -> str:
    """Rasa's way: {name} becomes its value; an unknown name stays as written."""
    return _VARIABLE.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def previews(variations: tuple[Variation, ...], every: bool = False) -> list[Preview]:
    """Each variation filled in for a sample debtor of every country it would be said in (`every`: in every
    country, whatever its conditions)."""
    shown = []
    for code, country in sorted(config.countries().items()):
        values, slots = sample_values(code), sample_slots(code)
        for index, variation in enumerate(variations):
            if every or _applies(variation, slots, variations):
                text = fill(variation.text, values)
                shown.append(Preview(code, country.locale, index, text, sms_size(text)))
    return shown
