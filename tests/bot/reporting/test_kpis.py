"""The KPIs on a small ledger whose every answer was worked out by hand (the comments say how), for November
2026: three accounts of two creditors, contacts, verifications, promises, plans, payments in and out of the
range, a hand-off, the model's readings and an opt-out. Then the filters, an empty range, a creditor with no data,
and the API: a supervisor of one creditor never sees another's numbers."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from bot.agents.users import create_user, issue_token
from bot.ledger.models import (
    Account,
    AgreementStatus,
    AuditLog,
    Conversation,
    Creditor,
    Debtor,
    Direction,
    Handoff,
    Installment,
    Message,
    MessageStatus,
    OptOut,
    PaymentPlan,
    Phone,
    PromiseToPay,
    Role,
)
from bot.ledger.stages import Stage
from bot.payments.events import apply_payment
from bot.reporting.kpis import Filters, compute

NOVEMBER = Filters(date(2026, 11, 1), date(2026, 11, 30))


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


class Ledger:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.creditors = {code: Creditor(code=code, name=code) for code in ("banco-aurora", "finanzas-norte",
                                                                             "telco-andina")}
        session.add_all(self.creditors.values())
        session.flush()

    def account(self, name: str, country: str, phone: str, creditor: str, currency: str, principal: str,
                due: str) -> Account:
        debtor = Debtor(external_id=f"D-{name}", full_name=name, document_id="12345678", country=country)
        self.session.add(debtor)
        self.session.flush()
        self.session.add(Phone(debtor_id=debtor.id, e164=phone))
        account = Account(external_id=f"A-{name}", creditor=self.creditors[creditor], debtor=debtor, product="X",
                          currency=currency, principal=Decimal(principal), due_date=date.fromisoformat(due),
                          created_at=at("2026-10-01"))
        self.session.add(account)
        self.session.flush()
        return account

    def conversation(self, account: Account, channel: str, phone: str) -> Conversation:
        conversation = Conversation(channel=channel, sender_id=f"{channel}:{phone}", debtor_id=account.debtor_id)
        self.session.add(conversation)
        self.session.flush()
        return conversation

    def message(self, conversation: Conversation, direction: Direction, when: datetime,
                intent: str | None = None) -> None:
        self.session.add(Message(conversation_id=conversation.id, direction=direction, channel=conversation.channel,
                                 body="…", status=MessageStatus.SENT if direction is Direction.OUTBOUND
                                 else MessageStatus.PROCESSED, intent=intent, created_at=when))

    def promise(self, account: Account, when: datetime) -> None:
        self.session.add(PromiseToPay(account_id=account.id, promised_date=when.date(), amount=None,
                                      currency=account.currency, created_by="bot", created_at=when))
        self.session.flush()

    def plan(self, account: Account, when: datetime, *statuses: AgreementStatus) -> None:
        plan = PaymentPlan(account_id=account.id, total=Decimal("100"), down_payment=Decimal("0"),
                           frequency="monthly", currency=account.currency, created_by="bot", created_at=when)
        self.session.add(plan)
        self.session.flush()
        for number, status in enumerate(statuses, start=1):
            self.session.add(Installment(plan_id=plan.id, number=number, due_date=date(2026, 12, number),
                                         amount=Decimal("50"), status=status))


@pytest.fixture
def ledger(session: Session) -> Session:
    book = Ledger(session)
    # Ana (MX, Banco Aurora): 1,000 MXN, due 45 days before 15 Nov (late on 30 Nov: 60 days).
    ana = book.account("Ana", "MX", "+525511110001", "banco-aurora", "MXN", "1000.00", "2026-10-01")
    # Beto (MX, Banco Aurora): 2,000 MXN, due 20 Nov (early on 30 Nov: 10 days).
    beto = book.account("Beto", "MX", "+525511110002", "banco-aurora", "MXN", "2000.00", "2026-11-20")
    # Camila (CL, Finanzas del Norte): 100,000 CLP, due in June (severe).
    camila = book.account("Camila", "CL", "+56911110003", "finanzas-norte", "CLP", "100000", "2026-06-01")

    book.promise(ana, at("2026-11-06"))  # kept by her payment on the 10th
    book.promise(camila, at("2026-11-03"))  # kept: she pays everything on the 20th
    apply_payment(session, beto, None, Decimal("500.00"), at("2026-10-15"), at("2026-10-15"),
                  provider="stripe", provider_ref="cs_oct")  # October: not in the range, still assigned
    apply_payment(session, ana, None, Decimal("400.00"), at("2026-11-10", "09:00"), at("2026-11-10"),
                  provider="external_transfer", provider_ref="external:banco-aurora:T1")
    apply_payment(session, camila, None, Decimal("100000"), at("2026-11-20"), at("2026-11-20"),
                  provider="external_cash", provider_ref="external:finanzas-norte:C1")
    book.promise(beto, at("2026-11-07"))  # pending: made, not kept
    book.plan(ana, at("2026-11-06"), AgreementStatus.KEPT, AgreementStatus.PENDING)  # on track
    book.plan(beto, at("2026-11-08"), AgreementStatus.BROKEN, AgreementStatus.PENDING)  # not on track

    talk_ana = book.conversation(ana, "whatsapp", "+525511110001")
    book.message(talk_ana, Direction.OUTBOUND, at("2026-11-05", "09:00"))  # first contact: 5 days before paying
    book.message(talk_ana, Direction.INBOUND, at("2026-11-05", "09:10"), "greet")
    book.message(talk_ana, Direction.INBOUND, at("2026-11-05", "09:11"), "nlu_fallback")
    talk_beto = book.conversation(beto, "sms", "+525511110002")
    book.message(talk_beto, Direction.OUTBOUND, at("2026-10-20"))  # October only: not contacted in November
    book.message(talk_beto, Direction.INBOUND, at("2026-10-20", "12:05"), "nlu_fallback")
    talk_camila = book.conversation(camila, "whatsapp", "+56911110003")
    book.message(talk_camila, Direction.OUTBOUND, at("2026-11-02"))  # first contact: 18 days before paying
    book.message(talk_camila, Direction.INBOUND, at("2026-11-02", "12:30"), "ask_balance")
    session.add_all([
        AuditLog(actor="bot", action="identity_verified", entity_type="debtor", entity_id=str(ana.debtor_id),
                 at=at("2026-11-05", "09:12"), details={}),
        AuditLog(actor="bot", action="identity_verified", entity_type="debtor", entity_id=str(camila.debtor_id),
                 at=at("2026-10-01"), details={}),  # before the range
        Handoff(conversation_id=talk_ana.id, reason="debtor_request", requested_at=at("2026-11-05", "09:20"),
                claimed_at=at("2026-11-05", "10:00"), ended_at=at("2026-11-05", "10:30"), ending="returned"),
        OptOut(e164="+525511110002", channel="sms", source="keyword", created_at=at("2026-11-12")),
    ])
    session.commit()
    return session


def as_dict(filters: Filters, session: Session) -> dict[str, Any]:
    return compute(session, filters).__dict__


def test_november_by_hand(ledger: Session) -> None:
    kpis = as_dict(NOVEMBER, ledger)
    # Assigned: what is owed now plus what was ever paid: 600+400, 1,500+500, 0+100,000.
    assert kpis["accounts"] == {"assigned": 3, "amount_assigned": {"CLP": "100000.00", "MXN": "3000.00"}}
    assert kpis["recovery"] == [
        {"creditor": "banco-aurora", "country": "MX", "stage": "early", "currency": "MXN", "accounts": 1,
         "assigned": "2000.00", "collected": "0.00", "recovery": 0.0},  # Beto paid in October
        {"creditor": "banco-aurora", "country": "MX", "stage": "late", "currency": "MXN", "accounts": 1,
         "assigned": "1000.00", "collected": "400.00", "recovery": 0.4},
        {"creditor": "finanzas-norte", "country": "CL", "stage": "severe", "currency": "CLP", "accounts": 1,
         "assigned": "100000.00", "collected": "100000.00", "recovery": 1.0}]
    # Contacted in November: Ana and Camila; verified in November: Ana only.
    assert kpis["contact"] == {"accounts_contacted": 2, "debtors_contacted": 2, "right_party_contacts": 1,
                               "right_party_contact_rate": 0.5}
    assert kpis["promises"] == {"made": 3, "kept": 2, "kept_rate": 0.6667}
    assert kpis["plans"] == {"created": 2, "on_track": 1, "on_track_rate": 0.5}
    assert kpis["payments_by_method"] == [
        {"method": "external_cash", "currency": "CLP", "payments": 1, "amount": "100000.00"},
        {"method": "external_transfer", "currency": "MXN", "payments": 1, "amount": "400.00"}]
    # Conversations with a November message: Ana's and Camila's; Ana's went to a person for 30 minutes.
    assert kpis["handoffs"] == {"conversations": 2, "handed_off": 1, "handoff_rate": 0.5,
                                "reasons": {"debtor_request": 1}, "median_agent_handling_seconds": 1800}
    # Read by the model in November: greet, nlu_fallback (Ana), ask_balance (Camila).
    assert kpis["bot"] == {"contained": 1, "containment_rate": 0.5, "messages_classified": 3, "nlu_fallbacks": 1,
                           "nlu_fallback_rate": 0.3333}
    assert kpis["opt_outs"] == 1
    assert kpis["median_days_to_first_payment"] == 11.5  # Ana 5.0 days, Camila 18.0 (Beto paid in October)


def test_filters_narrow_every_number(ledger: Session) -> None:
    chile = as_dict(Filters(NOVEMBER.start, NOVEMBER.end, country="CL"), ledger)
    assert chile["accounts"]["assigned"] == 1 and chile["contact"]["debtors_contacted"] == 1
    assert chile["promises"]["made"] == 1 and chile["opt_outs"] == 0 and chile["handoffs"]["handed_off"] == 0
    late = as_dict(Filters(NOVEMBER.start, NOVEMBER.end, stage=Stage.LATE), ledger)
    assert [row["creditor"] for row in late["recovery"]] == ["banco-aurora"] and late["plans"]["created"] == 1
    sms = as_dict(Filters(NOVEMBER.start, NOVEMBER.end, channel="sms"), ledger)
    assert sms["contact"]["debtors_contacted"] == 0 and sms["handoffs"]["conversations"] == 0
    assert sms["bot"]["nlu_fallback_rate"] is None


def test_an_empty_range_and_a_creditor_with_no_data_give_zeros_and_no_made_up_rates(ledger: Session) -> None:
    january = as_dict(Filters(date(2025, 1, 1), date(2025, 1, 31)), ledger)
    assert january["accounts"] == {"assigned": 0, "amount_assigned": {}} and january["recovery"] == []
    telco = ledger.query(Creditor).filter_by(code="telco-andina").one()
    nothing = as_dict(Filters(NOVEMBER.start, NOVEMBER.end, creditor_ids=frozenset({telco.id})), ledger)
    for kpis in (january, nothing):
        assert kpis["contact"]["right_party_contact_rate"] is None and kpis["promises"]["kept_rate"] is None
        assert kpis["plans"]["on_track_rate"] is None and kpis["handoffs"]["handoff_rate"] is None
        assert kpis["bot"]["containment_rate"] is None and kpis["median_days_to_first_payment"] is None
        assert kpis["payments_by_method"] == [] and kpis["opt_outs"] == 0


def test_the_api_scopes_every_number_to_the_readers_creditors(ledger: Session, stripe_env: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    norte = ledger.query(Creditor).filter_by(code="finanzas-norte").one()
    tokens = {}
    for name, role, creditors in (("agent", Role.AGENT, [norte]), ("norte", Role.SUPERVISOR, [norte]),
                                  ("admin", Role.ADMIN, [])):
        user = create_user(ledger, f"{name}@kpis.example", "una clave larga de prueba", role,
                           [c.code for c in creditors], all_creditors=role is Role.ADMIN, now=now)
        tokens[name], _ = issue_token(ledger, user, address="127.0.0.1", now=now)
    ledger.commit()
    november = {"from": "2026-11-01", "to": "2026-11-30"}
    with TestClient(create_app()) as client:
        def get(who: str | None, **params: str) -> Any:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            return client.get("/api/kpis", params={**november, **params}, headers=headers)

        assert get(None).status_code == 401
        assert get("agent").status_code == 403
        assert get("agent", creditor="no-existe").status_code == 403  # codes are not probed by someone without the role
        mine = get("norte")
        assert mine.status_code == 200, mine.text
        assert mine.json()["accounts"]["assigned"] == 1 and "MXN" not in str(mine.json())
        assert get("norte", creditor="banco-aurora").status_code == 404  # as if it did not exist
        assert get("norte", creditor="finanzas-norte").json()["accounts"]["assigned"] == 1
        everything = get("admin").json()
        assert everything["accounts"]["assigned"] == 3 and everything["promises"]["kept_rate"] == 0.6667
        assert get("admin", creditor="banco-aurora").json()["accounts"]["assigned"] == 2
        assert get("admin", **{"from": "2026-12-01"}).status_code == 422  # after `to`
        assert get("admin", stage="tardio").status_code == 422
        assert "/api/kpis" in client.get("/openapi.json").json()["paths"]


def test_results_per_account_for_a_creditor_as_csv(ledger: Session, stripe_env: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    norte = ledger.query(Creditor).filter_by(code="finanzas-norte").one()
    tokens = {}
    for name, role, creditors in (("norte", Role.SUPERVISOR, ["finanzas-norte"]), ("admin", Role.ADMIN, [])):
        user = create_user(ledger, f"{name}-csv@kpis.example", "una clave larga de prueba", role, creditors,
                           all_creditors=role is Role.ADMIN, now=now)
        tokens[name], _ = issue_token(ledger, user, address="127.0.0.1", now=now)
    ledger.commit()
    assert norte.id
    with TestClient(create_app()) as client:
        def export(who: str, creditor: str) -> Any:
            return client.get("/api/results.csv", params={"creditor": creditor, "from": "2026-11-01",
                                                          "to": "2026-11-30"},
                              headers={"Authorization": f"Bearer {tokens[who]}"})

        assert export("norte", "banco-aurora").status_code == 404
        response = export("admin", "banco-aurora")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert 'filename="resultados-banco-aurora-2026-11-01-2026-11-30.csv"' in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["account_id"] for row in rows] == ["A-Ana", "A-Beto"]
    ana, beto = rows
    assert ana == {"account_id": "A-Ana", "debtor_id": "D-Ana", "country": "MX", "stage": "late", "currency": "MXN",
                   "assigned": "1000.00", "balance": "600.00", "paid_in_range": "400.00", "payments_in_range": "1",
                   "last_payment_at": "2026-11-10T09:00:00+00:00", "contacts_in_range": "1",
                   "last_contact_at": "2026-11-05T09:00:00+00:00", "promises_made": "1", "promises_kept": "1",
                   "plans_created": "1", "plan_status": "pending", "handed_off": "1", "opted_out": "False",
                   "outcome": "partial_payment"}
    assert (beto["paid_in_range"], beto["contacts_in_range"], beto["promises_kept"], beto["opted_out"],
            beto["outcome"]) == ("0.00", "0", "0", "True", "plan")
    assert "+52" not in response.content.decode("utf-8-sig")  # the creditor's ids only: no phone numbers


def test_a_reminder_nobody_answered_is_a_contact_not_a_conversation_the_bot_contained(ledger: Session) -> None:
    beto = ledger.query(Conversation).filter_by(channel="sms").one()
    ledger.add(Message(conversation_id=beto.id, direction=Direction.OUTBOUND, channel="sms", body="Recordatorio",
                       status=MessageStatus.SENT, created_at=at("2026-11-15")))
    ledger.commit()
    kpis = as_dict(NOVEMBER, ledger)
    assert kpis["contact"]["debtors_contacted"] == 3 and kpis["contact"]["right_party_contact_rate"] == 0.3333
    assert (kpis["handoffs"]["conversations"], kpis["bot"]["contained"]) == (2, 1)
    assert kpis["filters"]["creditors"] is None
    assert as_dict(Filters(NOVEMBER.start, NOVEMBER.end, creditor_ids=frozenset(
        {ledger.query(Creditor).filter_by(code="finanzas-norte").one().id})), ledger)["filters"]["creditors"] == [
        "finanzas-norte"]


def test_every_day_of_the_range_with_its_contacts_and_money(ledger: Session) -> None:
    daily = as_dict(NOVEMBER, ledger)["daily"]
    assert [day["day"] for day in daily][:2] == ["2026-11-01", "2026-11-02"] and len(daily) == 30
    by_day = {day["day"]: day for day in daily}
    assert by_day["2026-11-02"] == {"day": "2026-11-02", "contacts": 1, "payments": 0, "collected": {}}  # Camila
    assert by_day["2026-11-05"]["contacts"] == 1  # Ana
    assert by_day["2026-11-10"] == {"day": "2026-11-10", "contacts": 0, "payments": 1, "collected": {"MXN": "400.00"}}
    assert by_day["2026-11-20"]["collected"] == {"CLP": "100000.00"}
    assert sum(day["contacts"] for day in daily) == 2 and sum(day["payments"] for day in daily) == 2


def test_an_id_a_spreadsheet_would_run_is_exported_as_text(ledger: Session) -> None:
    from bot.reporting.results import results_csv

    beto = ledger.query(Account).filter_by(external_id="A-Beto").one()
    beto.external_id = "=HYPERLINK(\"http://x.example\")"
    ledger.commit()
    aurora = ledger.query(Creditor).filter_by(code="banco-aurora").one()
    text = "".join(results_csv(ledger, aurora.id, NOVEMBER.start, NOVEMBER.end))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["account_id"] for row in rows) == ["'=HYPERLINK(\"http://x.example\")", "A-Ana"]


def test_money_above_the_balance_is_collected_once_and_never_raises_what_was_assigned(ledger: Session) -> None:
    beto = ledger.query(Account).filter_by(external_id="A-Beto").one()  # owes 1,500 of the 2,000 assigned
    apply_payment(ledger, beto, None, Decimal("2000.00"), at("2026-11-25"), at("2026-11-25"),
                  provider="external_transfer", provider_ref="external:banco-aurora:OVER")  # 500 too much
    ledger.commit()
    [row] = [row for row in as_dict(NOVEMBER, ledger)["recovery"] if row["stage"] == "early"]
    assert (row["assigned"], row["collected"], row["recovery"]) == ("2000.00", "1500.00", 0.75)
