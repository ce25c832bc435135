"""Contact rules per country and creditor, in the debtor's time zone, with public holidays (hand-checked cases).

The clock is always injected: every moment is an explicit datetime with its offset.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.common import config
from bot.messaging.contact_rules import (
    Block,
    ContactDecision,
    ContactVerdict,
    DebtorContactFacts,
    PastContact,
    contact_decision,
    decide,
    rules_for,
)
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


# --- the whole decision: caps, channels, blocks, creditors (hand-checked; 1 December 2026 is a Tuesday) ----

ALL_CHANNELS = frozenset({"sms", "whatsapp", "email"})
OPTED_OUT = Block("opted_out", "El número pidió no recibir mensajes automáticos (BAJA).")


def creditor(code: str, name: str, **own_rules: object) -> config.CreditorConfig:
    """A creditor whose contact rules are read as config/creditors.yml's are ("09:00" becomes time(9, 0))."""
    return config.CreditorConfig(code=code, name=name,
                                 contact_rules=config.CreditorContactRules.model_validate(own_rules))


STRICT = creditor("x", "Banco Estricto", contact_hours={"mon-fri": ("09:00", "17:00")}, max_per_week=1)
LOOSE = creditor("y", "Banco Laxo", contact_hours={"mon-sun": ("05:00", "23:00")}, max_per_day=5)


def facts(*contacts: tuple[str, str], authorised: frozenset[str] | None = ALL_CHANNELS, timezone: str | None = None,
          blocks: tuple[Block, ...] = ()) -> DebtorContactFacts:
    """A debtor's facts; each contact is (ISO moment with offset, channel)."""
    return DebtorContactFacts(history=tuple(PastContact(datetime.fromisoformat(at), channel)
                                            for at, channel in contacts),
                              blocks=blocks, authorised_channels=authorised, timezone=timezone)


def outcome(answer: ContactDecision) -> tuple[str, str | None, str]:
    return answer.decision.value, answer.next_allowed.isoformat() if answer.next_allowed else None, answer.code


def test_the_creditors_hours_parse_to_times() -> None:
    assert STRICT.contact_rules.contact_hours == {"mon-fri": (time(9, 0), time(17, 0))}
    assert rules_for("CO", STRICT).tightened == frozenset({"hours", "max_per_week"})


def test_colombian_holidays_move_to_monday() -> None:  # Ley Emiliani: San José (19 March) moves to Monday 22
    colombia = holidays.country_holidays("CO", years=2027)
    assert date(2027, 3, 22).weekday() == 0 and date(2027, 3, 22) in colombia
    assert date(2027, 3, 19) not in colombia
    assert date(2026, 1, 12).weekday() == 0 and date(2026, 1, 12) in holidays.country_holidays("CO", years=2026)
    peru = holidays.country_holidays("PE", years=2026)
    assert date(2026, 10, 8).weekday() == 3 and date(2026, 10, 8) in peru  # Combate de Angamos, a Thursday
    assert {date(2026, 12, 8), date(2026, 12, 9)} <= set(peru)  # Tuesday and Wednesday


@pytest.mark.parametrize(("country", "at", "expected"), [
    pytest.param("CO", "2027-03-22T10:00:00-05:00", ("defer", "2027-03-23T07:00:00-05:00", "holiday"),
                 id="co-san-jose-on-monday"),
    pytest.param("CO", "2027-03-19T10:00:00-05:00", ("send", None, "allowed"), id="co-19-march-is-a-workday"),
    pytest.param("CO", "2027-03-20T16:00:00-05:00", ("defer", "2027-03-23T07:00:00-05:00", "outside_hours"),
                 id="co-saturday-late-then-sunday-then-holiday"),
    pytest.param("CO", "2026-01-12T06:00:00-05:00", ("defer", "2026-01-13T07:00:00-05:00", "holiday"),
                 id="co-reyes-on-monday"),
    pytest.param("CO", "2026-12-01T19:00:00-05:00", ("defer", "2026-12-02T07:00:00-05:00", "outside_hours"),
                 id="co-19h"),
    pytest.param("CO", "2026-12-06T10:00:00-05:00", ("defer", "2026-12-07T07:00:00-05:00", "closed_day"),
                 id="co-sunday"),
    pytest.param("PE", "2026-10-08T10:00:00-05:00", ("defer", "2026-10-09T07:00:00-05:00", "holiday"),
                 id="pe-angamos-thursday"),
    pytest.param("PE", "2026-12-08T12:00:00-05:00", ("defer", "2026-12-10T07:00:00-05:00", "holiday"),
                 id="pe-two-holidays-in-a-row"),
    pytest.param("PE", "2026-12-07T20:00:00-05:00", ("defer", "2026-12-10T07:00:00-05:00", "outside_hours"),
                 id="pe-monday-night-before-two-holidays"),
    pytest.param("PE", "2026-12-05T10:00:00-05:00", ("defer", "2026-12-07T07:00:00-05:00", "closed_day"),
                 id="pe-saturday"),
    pytest.param("PE", "2026-10-09T19:59:00-05:00", ("send", None, "allowed"), id="pe-friday-19h59"),
])
def test_days_without_contact(country: str, at: str, expected: tuple[str, str | None, str]) -> None:
    assert outcome(contact_decision(country, datetime.fromisoformat(at))) == expected


@pytest.mark.parametrize(("country", "creditor", "channel", "at", "known", "expected", "reason_part"), [
    # Chile: two a week, two (local, calendar) days apart
    pytest.param("CL", None, "sms", "2026-12-02T10:00:00-03:00", facts(("2026-12-01T10:00:00-03:00", "sms")),
                 ("defer", "2026-12-03T08:00:00-03:00", "days_apart"), "Ley 21.320", id="cl-the-day-after"),
    pytest.param("CL", None, "sms", "2026-12-02T19:59:00-03:00", facts(("2026-12-01T08:00:00-03:00", "sms")),
                 ("defer", "2026-12-03T08:00:00-03:00", "days_apart"), "Ley 21.320", id="cl-36-hours-later"),
    pytest.param("CL", None, "sms", "2026-12-03T10:00:00-03:00", facts(("2026-12-01T10:00:00-03:00", "sms")),
                 ("send", None, "allowed"), "Ley 21.320", id="cl-two-days-apart"),
    pytest.param("CL", None, "sms", "2026-12-03T08:00:00-03:00", facts(("2026-12-01T19:59:00-03:00", "sms")),
                 ("send", None, "allowed"), "Ley 21.320", id="cl-two-calendar-days-apart"),
    pytest.param("CL", None, "sms", "2026-12-05T10:00:00-03:00", facts(("2026-12-04T10:00:00-03:00", "sms")),
                 ("defer", "2026-12-07T08:00:00-03:00", "days_apart"), "Ley 21.320", id="cl-days-apart-then-sunday"),
    pytest.param("CL", None, "sms", "2026-12-04T10:00:00-03:00",
                 facts(("2026-11-30T10:00:00-03:00", "sms"), ("2026-12-02T10:00:00-03:00", "whatsapp")),
                 ("defer", "2026-12-07T10:00:00-03:00", "weekly_cap"), "Ley 21.320", id="cl-third-in-seven-days"),
    pytest.param("CL", None, "sms", "2026-12-03T10:00:00-03:00",
                 facts(("2026-11-30T10:00:00-03:00", "sms"), ("2026-12-02T10:00:00-03:00", "sms")),
                 ("defer", "2026-12-07T10:00:00-03:00", "weekly_cap"), "Ley 21.320",
                 id="cl-the-later-wait-binds"),
    pytest.param("CL", None, "sms", "2026-12-07T10:00:00-03:00",
                 facts(("2026-11-30T10:00:00-03:00", "sms"), ("2026-12-02T10:00:00-03:00", "sms")),
                 ("send", None, "allowed"), "Ley 21.320", id="cl-seven-days-later"),
    # Colombia: one a day, one channel a week, only authorised channels
    pytest.param("CO", None, "sms", "2026-12-01T10:00:00-05:00", facts(("2026-12-01T08:00:00-05:00", "sms")),
                 ("defer", "2026-12-02T07:00:00-05:00", "daily_cap"), "Ley 2300 de 2023", id="co-daily-cap"),
    pytest.param("CO", None, "sms", "2026-12-04T10:00:00-05:00", facts(("2026-12-04T08:00:00-05:00", "sms")),
                 ("defer", "2026-12-05T08:00:00-05:00", "daily_cap"), "Ley 2300 de 2023", id="co-daily-cap-friday"),
    pytest.param("CO", None, "sms", "2026-12-07T10:00:00-05:00", facts(("2026-12-07T08:00:00-05:00", "sms")),
                 ("defer", "2026-12-09T07:00:00-05:00", "daily_cap"), "Ley 2300 de 2023",
                 id="co-daily-cap-before-a-holiday"),
    pytest.param("CO", None, "sms", "2026-12-01T07:00:00-05:00", facts(("2026-12-01T04:30:00+00:00", "sms")),
                 ("send", None, "allowed"), "Ley 2300 de 2023", id="co-yesterday-in-bogota-today-in-utc"),
    pytest.param("CO", None, "sms", "2026-12-01T10:00:00-05:00", facts(("2026-11-28T10:00:00-05:00", "whatsapp")),
                 ("defer", "2026-12-05T10:00:00-05:00", "other_channel_this_week"), "Ley 2300 de 2023",
                 id="co-other-channel-this-week"),
    pytest.param("CO", None, "whatsapp", "2026-12-01T10:00:00-05:00",
                 facts(("2026-11-28T10:00:00-05:00", "whatsapp")), ("send", None, "allowed"), "Ley 2300 de 2023",
                 id="co-same-channel"),
    pytest.param("CO", None, "sms", "2026-12-05T10:00:00-05:00", facts(("2026-11-28T10:00:00-05:00", "whatsapp")),
                 ("send", None, "allowed"), "Ley 2300 de 2023", id="co-other-channel-a-week-later"),
    pytest.param("CO", None, "sms", "2026-12-01T10:00:00-05:00", facts(authorised=None),
                 ("never", None, "channel_not_authorised"), "Colombia lo exige", id="co-channels-unknown"),
    pytest.param("CO", None, "sms", "2026-12-01T10:00:00-05:00", facts(authorised=frozenset({"whatsapp"})),
                 ("never", None, "channel_not_authorised"), "no autorizó el canal sms", id="co-sms-not-authorised"),
    pytest.param("CO", None, "whatsapp", "2026-12-01T10:00:00-05:00", facts(authorised=frozenset({"whatsapp"})),
                 ("send", None, "allowed"), "Ley 2300 de 2023", id="co-whatsapp-authorised"),
    pytest.param("MX", None, "sms", "2026-12-01T10:00:00-06:00", facts(authorised=None),
                 ("send", None, "allowed"), "CONDUSEF", id="mx-channels-not-required"),
    pytest.param("MX", None, "sms", "2026-12-01T10:00:00-06:00", facts(authorised=frozenset({"whatsapp"})),
                 ("never", None, "channel_not_authorised"), "no autorizó el canal sms", id="mx-sms-not-authorised"),
    # blocks: never, whatever the hour
    pytest.param("CO", None, "sms", "2026-12-01T10:00:00-05:00", facts(blocks=(OPTED_OUT,)),
                 ("never", None, "opted_out"), OPTED_OUT.reason, id="opted-out-inside-hours"),
    pytest.param("CO", None, "sms", "2026-12-01T20:00:00-05:00", facts(blocks=(OPTED_OUT,)),
                 ("never", None, "opted_out"), OPTED_OUT.reason, id="opted-out-outside-hours"),
    pytest.param("CO", None, "sms", "2026-12-01T10:00:00-05:00",
                 facts(authorised=None, blocks=(Block("dispute", "Disputa abierta."), OPTED_OUT)),
                 ("never", None, "dispute"), "Disputa abierta.", id="the-first-block-wins"),
    # Argentina two a week; Mexico no cap
    pytest.param("AR", None, "sms", "2026-11-05T10:00:00-03:00",
                 facts(("2026-11-03T10:00:00-03:00", "sms"), ("2026-11-04T10:00:00-03:00", "sms")),
                 ("defer", "2026-11-10T10:00:00-03:00", "weekly_cap"), "Ley 24.240", id="ar-third-in-a-week"),
    pytest.param("AR", None, "sms", "2026-11-05T10:00:00-03:00", facts(("2026-11-05T09:00:00-03:00", "sms")),
                 ("send", None, "allowed"), "Ley 24.240", id="ar-second-in-a-week"),
    pytest.param("MX", None, "sms", "2026-12-01T10:00:00-06:00",
                 facts(("2026-11-30T10:00:00-06:00", "sms"), ("2026-12-01T08:00:00-06:00", "sms"),
                       ("2026-12-01T09:00:00-06:00", "whatsapp")),
                 ("send", None, "allowed"), "CONDUSEF", id="mx-no-cap"),
    # a creditor stricter than the law: its own rule, under its name
    pytest.param("CO", STRICT, "sms", "2026-12-01T08:00:00-05:00", facts(),
                 ("defer", "2026-12-01T09:00:00-05:00", "outside_hours"), "regla propia de Banco Estricto",
                 id="strict-before-its-hours"),
    pytest.param("CO", STRICT, "sms", "2026-12-01T16:59:00-05:00", facts(),
                 ("send", None, "allowed"), "regla propia de Banco Estricto", id="strict-inside-its-hours"),
    pytest.param("CO", STRICT, "sms", "2026-12-01T17:30:00-05:00", facts(),
                 ("defer", "2026-12-02T09:00:00-05:00", "outside_hours"), "regla propia de Banco Estricto",
                 id="strict-after-its-hours"),
    pytest.param("CO", STRICT, "sms", "2026-12-05T10:00:00-05:00", facts(),
                 ("defer", "2026-12-07T09:00:00-05:00", "closed_day"), "regla propia de Banco Estricto",
                 id="strict-no-saturdays"),
    pytest.param("CO", STRICT, "sms", "2026-12-03T10:00:00-05:00", facts(("2026-11-30T10:00:00-05:00", "sms")),
                 ("defer", "2026-12-07T10:00:00-05:00", "weekly_cap"), "regla propia de Banco Estricto",
                 id="strict-one-a-week"),
    pytest.param("CO", STRICT, "sms", "2026-12-01T10:00:00-05:00", facts(("2026-12-01T08:30:00-05:00", "sms")),
                 ("defer", "2026-12-09T09:00:00-05:00", "weekly_cap"), "regla propia de Banco Estricto",
                 id="strict-week-ends-on-a-holiday"),
])
def test_contact_decisions(country: str, creditor: config.CreditorConfig | None, channel: str, at: str,
                           known: DebtorContactFacts, expected: tuple[str, str | None, str], reason_part: str) -> None:
    answer = decide(rules_for(country, creditor), channel, datetime.fromisoformat(at), known)
    assert outcome(answer) == expected
    assert reason_part in answer.reason
    assert answer.as_record()["code"] == expected[2]


@pytest.mark.parametrize(("at", "known", "expected"), [
    ("2026-12-01T06:00:00-05:00", facts(), ("defer", "2026-12-01T07:00:00-05:00", "outside_hours")),
    ("2026-12-01T22:00:00-05:00", facts(), ("defer", "2026-12-02T07:00:00-05:00", "outside_hours")),
    ("2026-12-05T16:00:00-05:00", facts(), ("defer", "2026-12-07T07:00:00-05:00", "outside_hours")),
    ("2026-12-06T10:00:00-05:00", facts(), ("defer", "2026-12-07T07:00:00-05:00", "closed_day")),
    ("2026-12-08T10:00:00-05:00", facts(), ("defer", "2026-12-09T07:00:00-05:00", "holiday")),
    ("2026-12-01T10:00:00-05:00", facts(("2026-12-01T08:00:00-05:00", "sms")),
     ("defer", "2026-12-02T07:00:00-05:00", "daily_cap")),
    ("2026-12-01T10:00:00-05:00", facts(), ("send", None, "allowed")),
])
def test_a_creditor_never_loosens_the_law(at: str, known: DebtorContactFacts,
                                          expected: tuple[str, str | None, str]) -> None:
    loose, law = rules_for("CO", LOOSE), rules_for("CO", None)
    assert (loose.hours, loose.max_per_day, loose.tightened) == (law.hours, 1, frozenset())
    answer = decide(loose, "sms", datetime.fromisoformat(at), known)
    assert outcome(answer) == expected
    assert answer == decide(law, "sms", datetime.fromisoformat(at), known)  # the same reason, under the law's name
    assert "Ley 2300 de 2023" in answer.reason and "Banco Laxo" not in answer.reason


@pytest.mark.parametrize(("country", "at", "known", "expected"), [
    ("MX", "2026-12-01T07:30:00-06:00", facts(), ("send", None, "allowed")),
    ("MX", "2026-12-01T07:30:00-06:00", facts(timezone="America/Tijuana"),  # 05:30 in Tijuana
     ("defer", "2026-12-01T07:00:00-08:00", "outside_hours")),
    ("MX", "2026-07-01T22:30:00-06:00", facts(), ("defer", "2026-07-02T07:00:00-06:00", "outside_hours")),
    ("MX", "2026-07-01T22:30:00-06:00", facts(timezone="America/Tijuana"), ("send", None, "allowed")),  # 21:30 PDT
    # the contact was on 2 December in Santiago, 1 December on Easter Island
    ("CL", "2026-12-03T12:00:00-03:00", facts(("2026-12-02T01:00:00-03:00", "sms")),
     ("defer", "2026-12-04T08:00:00-03:00", "days_apart")),
    ("CL", "2026-12-03T12:00:00-03:00", facts(("2026-12-02T01:00:00-03:00", "sms"), timezone="Pacific/Easter"),
     ("send", None, "allowed")),
])
def test_the_debtors_own_time_zone(country: str, at: str, known: DebtorContactFacts,
                                   expected: tuple[str, str | None, str]) -> None:
    assert outcome(decide(rules_for(country, None), "sms", datetime.fromisoformat(at), known)) == expected


# --- property: "send at X" means that at X it may go, and not a minute sooner --------------------------------

@st.composite
def situations(draw: st.DrawFn) -> tuple[str, config.CreditorConfig | None, str, datetime, DebtorContactFacts]:
    country = draw(st.sampled_from(["CO", "PE", "CL", "MX", "AR"]))
    creditor = draw(st.sampled_from([None, STRICT, LOOSE]))
    moment = draw(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 20))).replace(tzinfo=UTC)
    zone = draw(st.sampled_from([None, None, "America/Tijuana", "Pacific/Easter", "Europe/Madrid"]))
    minutes_before = draw(st.lists(st.integers(min_value=1, max_value=10 * 24 * 60), max_size=3))
    channels = draw(st.lists(st.sampled_from(["sms", "whatsapp"]), min_size=len(minutes_before),
                             max_size=len(minutes_before)))
    history = tuple(PastContact(moment - timedelta(minutes=minutes), channel)
                    for minutes, channel in zip(minutes_before, channels, strict=True))
    channel = draw(st.sampled_from(["sms", "whatsapp"]))
    return country, creditor, channel, moment, DebtorContactFacts(history=history, authorised_channels=ALL_CHANNELS,
                                                                  timezone=zone)


@settings(max_examples=500, deadline=None)
@given(situation=situations())
def test_the_next_allowed_moment_is_allowed(
        situation: tuple[str, config.CreditorConfig | None, str, datetime, DebtorContactFacts]) -> None:
    country, creditor, channel, moment, known = situation
    rules = rules_for(country, creditor)
    answer = decide(rules, channel, moment, known)
    assert answer.decision is not ContactVerdict.NEVER  # no block, every channel authorised, hours configured
    if answer.decision is ContactVerdict.SEND:
        assert answer.next_allowed is None
        return
    assert answer.next_allowed is not None and answer.next_allowed > moment
    then = decide(rules, channel, answer.next_allowed, known)
    assert then.decision is ContactVerdict.SEND, (answer, then)
    sooner = answer.next_allowed - timedelta(minutes=1)
    if sooner >= moment:
        assert decide(rules, channel, sooner, known).decision is ContactVerdict.DEFER
