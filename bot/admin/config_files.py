"""The configuration files admins own, edited as a whole: negotiation limits, canned replies, hand-off keywords
and campaign cadences. Each edit is checked by the same code that reads the file (plus a few rules of its own:
no role more generous than the one above it, variables that exist, copy that fits two SMS segments) on a
copy before it replaces the file; the version (a hash of the text read) stops an edit based on a stale read.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from bot.admin.training_data import EditConflict, InvalidEdit
from bot.campaigns.cadences import Campaign
from bot.common import config
from bot.common.copy import MESSAGES_FILE
from bot.common.settings import get_settings
from bot.ledger.models import AdminChange, AuditLog
from bot.negotiation.policy import PolicyEngine, PolicyError

SMS_TWO_SEGMENTS = 134  # UCS-2 (Spanish accents): 67 characters a segment
VARIABLE_WIDTH = 12  # a filled-in {variable} is counted as this many characters
CANNED_VARIABLES = {"nombre", "saldo", "vencimiento"}
_VARIABLE = re.compile(r"\{(\w+)\}")
ROLE_ORDER = ("bot", "agent", "supervisor")  # each may offer at most what the next one may
_AT_MOST = ("max_installments", "max_days_to_first_payment", "max_settlement_discount_pct", "max_promise_days")
_AT_LEAST = ("min_down_payment_pct",)


def sms_length(text: str) -> int:
    return len(_VARIABLE.sub("x" * VARIABLE_WIDTH, text))


def _check_policy(path: Path) -> None:
    try:
        PolicyEngine(path).check()
    except PolicyError as exc:
        raise InvalidEdit("text", str(exc).replace(str(path), "policy.yml")) from exc
    roles = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("roles", {})
    for lower, higher in zip(ROLE_ORDER, ROLE_ORDER[1:], strict=False):
        for key in _AT_MOST:
            if roles[lower][key] > roles[higher][key]:
                raise InvalidEdit("text", f"roles.{lower}.{key} ({roles[lower][key]}) pasa el de {higher} "
                                          f"({roles[higher][key]}): un rol no puede ofrecer más que el de arriba.")
        for key in _AT_LEAST:
            if roles[lower][key] < roles[higher][key]:
                raise InvalidEdit("text", f"roles.{lower}.{key} ({roles[lower][key]}) queda por debajo del de "
                                          f"{higher} ({roles[higher][key]}): un rol no puede pedir menos que el "
                                          "de arriba.")


def _check_canned(path: Path) -> None:
    try:
        replies = config.parse_canned_replies(path)
    except config.ConfigError as exc:
        raise InvalidEdit("text", str(exc).replace(str(path), "canned_replies.yml")) from exc
    for code, reply in replies.items():
        unknown = set(_VARIABLE.findall(reply.text)) - CANNED_VARIABLES
        if unknown:
            raise InvalidEdit("text", f"{code}: la variable {{{sorted(unknown)[0]}}} no existe (hay: "
                                      f"{', '.join('{' + v + '}' for v in sorted(CANNED_VARIABLES))}).")
        if sms_length(reply.text) > SMS_TWO_SEGMENTS:
            raise InvalidEdit("text", f"{code}: el texto no cabe en dos SMS ({sms_length(reply.text)} de "
                                      f"{SMS_TWO_SEGMENTS} caracteres, contando cada variable como {VARIABLE_WIDTH}).")


def _check_handoff(path: Path) -> None:
    try:
        config.parse_handoff_keywords(path)
    except config.ConfigError as exc:
        raise InvalidEdit("text", str(exc).replace(str(path), "handoff.yml")) from exc


def _check_campaigns(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidEdit("text", "campaigns.yml: se espera un mapa de campañas.")
    messages = yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8")) or {}
    for name, fields in data.items():
        try:
            campaign = Campaign(name=str(name), **(fields or {}))
        except (ValueError, TypeError) as exc:
            raise InvalidEdit("text", f"campaigns.yml: {name}: {exc}") from exc
        for step in campaign.steps:
            missing = [f"{step.message}_{variant}" for variant in ("discreet", "detailed")
                       if f"{step.message}_{variant}" not in messages]
            if missing:
                raise InvalidEdit("text", f"campaigns.yml: {name}.{step.name}: no existe el texto {missing[0]} "
                                          "en config/messages.yml.")


@dataclass(frozen=True)
class EditableFile:
    name: str
    file: str
    check: Callable[[Path], None]


FILES = {file.name: file for file in (
    EditableFile("policy", "policy.yml", _check_policy),
    EditableFile("canned_replies", "canned_replies.yml", _check_canned),
    EditableFile("handoff", "handoff.yml", _check_handoff),
    EditableFile("campaigns", "campaigns.yml", _check_campaigns),
)}


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _path(name: str) -> Path:
    if name not in FILES:
        raise LookupError(name)
    return get_settings().config_dir / FILES[name].file


def read(name: str) -> tuple[str, str]:
    """(text, version) of an editable file."""
    text = _path(name).read_text(encoding="utf-8")
    return text, version_of(text)


def check(name: str, text: str) -> None:
    """InvalidEdit unless `text` is a file the product reads without complaint."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidEdit("text", f"{FILES[name].file}: no es YAML válido: {exc}") from exc
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / FILES[name].file
        copy.write_text(text, encoding="utf-8")
        FILES[name].check(copy)


def write(session: Session, user_id: int | None, name: str, text: str, version: str, now: datetime) -> AdminChange:
    """Replace the file with `text`, if it still is what the admin read (`version`) and it checks out."""
    path = _path(name)
    current = path.read_text(encoding="utf-8")
    if version_of(current) != version:
        raise StaleFile(current)
    if not text.endswith("\n"):
        text += "\n"
    check(name, text)
    change = record(session, user_id, name, {"text": current}, {"text": text}, now)
    path.write_text(text, encoding="utf-8")
    return change


def record(session: Session, user_id: int | None, name: str, before: dict[str, Any], after: dict[str, Any],
           now: datetime, reverts: AdminChange | None = None) -> AdminChange:
    change = AdminChange(at=now, user_id=user_id, kind=f"config:{name}", action="edit", target=FILES[name].file,
                         before=before, after=after, reverts_id=reverts.id if reverts else None)
    session.add(change)
    session.add(AuditLog(actor=f"user:{user_id}" if user_id else "cli", action="admin_config_edit",
                         entity_type="config", entity_id=FILES[name].file,
                         details={"version": version_of(after["text"])}, at=now))
    session.flush()
    return change


def revert(session: Session, user_id: int | None, change: AdminChange, now: datetime) -> AdminChange:
    name = change.kind.removeprefix("config:")
    path = _path(name)
    current = path.read_text(encoding="utf-8")
    assert change.before is not None and change.after is not None
    if current != change.after["text"]:
        raise StaleFile(current)
    check(name, change.before["text"])
    undo = record(session, user_id, name, {"text": current}, {"text": change.before["text"]}, now, reverts=change)
    path.write_text(change.before["text"], encoding="utf-8")
    return undo


class StaleFile(EditConflict):
    """The file changed since it was read; `text` is what it holds now (for the merge view)."""

    def __init__(self, text: str) -> None:
        super().__init__("El archivo cambió desde que lo abriste: revisa la versión actual y vuelve a aplicar "
                         "tu cambio.", [])
        self.text = text
        self.version = version_of(text)
