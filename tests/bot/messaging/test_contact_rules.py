"""Contact hours per country, in the debtor's time zone, with public holidays (hand-checked cases)."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from bot.messaging.contact_rules import ContactVerdict, contact_decision
from bot.tools.cli import main


@pytest.mark.parametrize(("country", "at", "decision", "next_allowed"), [
    ("CO", "2026-12-01T18:59:00-05:00", "send", None),  # Tuesday, a minute before 19:00
    ("CO", "2026-12-01T19:00:00-05:00", "defer", "2026-12-02T07:00:00-05:00"),
    ("CO", "2026-12-07T20:00:00-05:00", "defer", "2026-12-09T07:00:00-05:00"),  # 8 Dec: Inmaculada Concepción
    ("CO", "2026-12-05T15:30:00-05:00", "defer", "2026-12-07T07:00:00-05:00"),  # Saturday after 15:00, no Sundays
    ("PE", "2026-12-05T10:00:00-05:00", "defer", "2026-12-07T07:00:00-05:00"),  # no Saturdays in Peru
    ("CL", "2026-12-05T10:00:00-03:00", "send", None),  # Saturdays are allowed in Chile
    ("MX", "2026-12-05T23:30:00-06:00", "defer", "2026-12-06T07:00:00-06:00"),
    ("MX", "2026-12-06T06:59:00-06:00", "defer", "2026-12-06T07:00:00-06:00"),
])
def test_contact_hours(country: str, at: str, decision: str, next_allowed: str | None) -> None:
    answer = contact_decision(country, datetime.fromisoformat(at))
    assert (answer.decision.value, answer.next_allowed.isoformat() if answer.next_allowed else None) == (
        decision, next_allowed)
    assert "(" in answer.reason and answer.reason.endswith(").")  # names the rule's source


def test_the_moment_is_read_in_the_debtors_zone() -> None:
    utc_noon = datetime.fromisoformat("2026-12-02T12:00:00+00:00")  # 07:00 in Bogotá, 04:00 in Hawaii
    assert contact_decision("CO", utc_noon).decision is ContactVerdict.SEND
    assert contact_decision("CO", utc_noon, "Pacific/Honolulu").decision is ContactVerdict.DEFER


def test_contact_check_prints_one_json_object(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contact-check", "--country", "CO", "--channel", "sms", "--at", "2026-12-01T19:00:00-05:00"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"decision": "defer", "next_allowed": "2026-12-02T07:00:00-05:00",
                       "reason": "Fuera del horario de contacto de Colombia (Ley 2300 de 2023)."}
    assert main(["contact-check", "--country", "CO", "--channel", "sms", "--at", "2026-12-01T19:00"]) == 2
