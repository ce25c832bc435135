"""What a person does with a conversation, through the API: notes, outcomes, offers within each role's
limits (config/policy.yml), refusals with reasons, and every action in the audit log with its address."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ledger.models import (
    Account,
    AuditLog,
    Conversation,
    ConversationMode,
    ConversationOutcome,
    PaymentPlan,
)
from bot.ledger.portfolio import import_portfolio_text
from bot.messaging.contact import opt_out
from tests.api.agents.conftest import Desk
from tests.factories import portfolio, row
from tests.fakes.twilio_api import FakeTwilio


def ana_account(session: Session) -> int:
    return session.scalars(select(Account.id).where(Account.external_id == "A-90001")).one()


def test_settlements_stay_within_each_roles_own_limits(api: TestClient, desk: Desk, session: Session,
                                                       fake_twilio: FakeTwilio) -> None:
    path, account_id = f"/api/agent/conversations/{desk.ana}/offers", ana_account(session)
    # Ana owes 14,680.55 MXN (interest and fees 2,180.55); Banco Aurora's agents may forgive 20 % of those
    too_low = api.post(path, headers=desk.auth("agent_aurora"),
                       json={"kind": "settlement", "account_id": account_id, "amount": "14000.00"})
    assert too_low.status_code == 422
    assert too_low.json()["detail"] == {"reason": "outside_policy", "reasons": ["discount_too_large"]}
    lowest = api.post(path, headers=desk.auth("agent_aurora"), json={"kind": "settlement", "account_id": account_id})
    assert lowest.status_code == 201 and lowest.json()["amount"] == "14244.44"
    assert lowest.json()["payment_url"] in fake_twilio.sent[-1]["Body"]
    # a supervisor's limit is 40 % of the total
    wider = api.post(path, headers=desk.auth("supervisor_aurora"),
                     json={"kind": "settlement", "account_id": account_id, "amount": "9000.00"})
    assert wider.status_code == 201 and wider.json()["amount"] == "9000.00"
    assert api.post(path, headers=desk.auth("supervisor_aurora"),
                    json={"kind": "settlement", "account_id": account_id, "amount": "8000.00"}).status_code == 422
    nonsense = api.post(path, headers=desk.auth("supervisor_aurora"),
                        json={"kind": "settlement", "account_id": account_id, "amount": "-5"})
    assert nonsense.status_code == 422
    someone_else = api.post(path, headers=desk.auth("supervisor_aurora"), json={"kind": "settlement",
                                                                                 "account_id": account_id + 1})
    assert someone_else.status_code == 404  # Camila's account is not in Ana's conversation


def test_notes_outcomes_and_the_audit_log(api: TestClient, desk: Desk, session: Session) -> None:
    base = f"/api/agent/conversations/{desk.ana}"
    note = api.post(f"{base}/notes", headers=desk.auth("agent_aurora"), json={"text": "Cobra el día 15."})
    assert note.status_code == 201 and note.json()["author"] == "agent_aurora@acuerdo.example"
    assert api.post(f"{base}/notes", headers=desk.auth("agent_aurora"), json={"text": ""}).status_code == 422
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert api.post(f"{base}/outcome", headers=desk.auth("agent_aurora"),
                    json={"kind": "callback", "callback_at": past}).status_code == 422
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert api.post(f"{base}/outcome", headers=desk.auth("agent_aurora"),
                    json={"kind": "callback", "callback_at": later}).status_code == 201
    assert api.post(f"{base}/outcome", headers=desk.auth("agent_aurora"), json={"kind": "lunch"}).status_code == 422
    detail = api.get(base, headers=desk.auth("supervisor_aurora")).json()
    assert [n["body"] for n in detail["notes"]] == ["Cobra el día 15."]
    assert [o["kind"] for o in detail["outcomes"]] == ["callback"]
    assert session.scalars(select(ConversationOutcome.kind)).all() == ["callback"]
    audit = session.scalars(select(AuditLog).where(AuditLog.actor.like("user:%")).order_by(AuditLog.id)).all()
    assert [entry.action for entry in audit] == ["note_added", "outcome_recorded"]
    assert all(entry.address == "testclient" and entry.entity_id == str(desk.ana) for entry in audit)


def test_a_message_is_text_or_a_template_and_never_reaches_an_opted_out_number(
        api: TestClient, desk: Desk, session: Session, fake_twilio: FakeTwilio) -> None:
    path = f"/api/agent/conversations/{desk.ana}/messages"
    for body in ({}, {"text": "hola", "template": "reopen_conversation"}, {"text": "x" * 1601}):
        assert api.post(path, headers=desk.auth("agent_aurora"), json=body).status_code == 422
    assert api.post(path, headers=desk.auth("agent_aurora"), json={"text": "   "}).status_code == 422
    unknown = api.post(path, headers=desk.auth("agent_aurora"), json={"template": "promo", "variables": {}})
    assert unknown.status_code == 409 and unknown.json()["detail"]["reason"] == "unknown_template"
    opt_out(session, "+525512345678", "whatsapp", source="keyword")
    session.commit()
    refused = api.post(path, headers=desk.auth("agent_aurora"), json={"text": "¿Podemos hablar?"})
    assert refused.status_code == 409 and refused.json()["detail"] == {"reason": "opted_out"}
    assert fake_twilio.sent == []


def test_a_debtor_of_two_creditors_shows_each_person_only_their_creditors_account(
        api: TestClient, desk: Desk, session: Session) -> None:
    import_portfolio_text(session, portfolio(row("D1", "Ana Ruiz", "55 1234 5678", "5544332211", "1985-03-12", "MX",
                                                 "F-77777", "finanzas-norte", "Préstamo personal", "MXN", "3000.00",
                                                 "200.00", "0.00", 20)))
    session.commit()
    norte_account = session.scalars(select(Account.id).where(Account.external_id == "F-77777")).one()
    base = f"/api/agent/conversations/{desk.ana}"
    as_aurora = api.get(base, headers=desk.auth("agent_aurora")).json()
    assert [a["external_id"] for a in as_aurora["accounts"]] == ["A-90001"]
    assert "F-77777" not in str(api.get("/api/agent/queue", headers=desk.auth("agent_aurora")).json())
    as_norte = api.get(base, headers=desk.auth("agent_norte")).json()
    assert [a["external_id"] for a in as_norte["accounts"]] == ["F-77777"]
    refused = api.post(f"{base}/offers", headers=desk.auth("agent_aurora"),
                       json={"kind": "settlement", "account_id": norte_account})
    assert refused.status_code == 404  # another creditor's account, even of the same debtor
    assert session.scalars(select(AuditLog.action).where(AuditLog.actor.like("user:%"))).all() == []


def test_close_needs_a_claim_and_outcomes_take_times_with_their_offset(api: TestClient, desk: Desk) -> None:
    base = f"/api/agent/conversations/{desk.ana}"
    agent = desk.auth("agent_aurora")
    assert api.post(f"{base}/close", headers=agent).json()["detail"] == {"reason": "claim_first"}
    assert api.post(f"{base}/release", headers=desk.auth("supervisor_aurora")).status_code == 409  # nobody has it
    for body in ({"kind": "callback", "callback_at": "2030-01-01T10:00:00"},  # no offset
                 {"kind": "callback", "callback_at": (datetime.now(UTC) + timedelta(days=200)).isoformat()},
                 {"kind": "no_answer", "callback_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
                 {"kind": "paid", "details": {f"k{n}": "v" for n in range(30)}}):
        assert api.post(f"{base}/outcome", headers=agent, json=body).status_code == 422, body
    assert api.post(f"{base}/claim", headers=agent).status_code == 200
    closed = api.post(f"{base}/close", headers=agent)
    assert closed.status_code == 200 and closed.json()["mode"] == "closed"
    assert api.post(f"{base}/close", headers=agent).json()["detail"] == {"reason": "not_handed_off", "mode": "closed"}


def test_the_policys_answer_comes_before_anything_is_sent(api: TestClient, desk: Desk, session: Session,
                                                          fake_twilio: FakeTwilio) -> None:
    path, account_id = f"/api/agent/conversations/{desk.ana}/offers/preview", ana_account(session)
    first = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    refused = api.post(path, headers=desk.auth("agent_aurora"), json={
        "kind": "plan", "account_id": account_id, "installments": 30, "down_payment": "1000.00", "first_date": first})
    assert refused.status_code == 200
    assert (refused.json()["allowed"], refused.json()["reasons"]) == (False, ["too_many_installments"])
    assert refused.json()["lowest_settlement"] == "14244.44"
    allowed = api.post(path, headers=desk.auth("agent_aurora"), json={
        "kind": "plan", "account_id": account_id, "installments": 6, "down_payment": "1000.00", "first_date": first})
    preview = allowed.json()
    assert preview["allowed"] and preview["amount"] == "1000.00" and len(preview["schedule"]) == 7
    assert sum(Decimal(item["amount"]) for item in preview["schedule"]) == Decimal("14680.55")
    session.expire_all()
    assert fake_twilio.sent == [] and session.scalars(select(PaymentPlan)).all() == []
    assert session.get(Conversation, desk.ana).mode is ConversationMode.QUEUED  # a preview claims nothing


def test_supervisors_see_who_handles_what_and_reassign(api: TestClient, desk: Desk) -> None:
    base = f"/api/agent/conversations/{desk.ana}"
    assert api.post(f"{base}/claim", headers=desk.auth("agent_aurora")).status_code == 200
    assert api.get("/api/agent/overview", headers=desk.auth("agent_aurora")).status_code == 403
    assert api.post(f"{base}/assign", headers=desk.auth("agent_aurora"),
                    json={"email": "agent_aurora_2@acuerdo.example"}).status_code == 403
    overview = {person["email"]: [c["id"] for c in person["conversations"]]
                for person in api.get("/api/agent/overview", headers=desk.auth("supervisor_aurora")).json()}
    assert overview["agent_aurora@acuerdo.example"] == [desk.ana]
    assert "agent_norte@acuerdo.example" not in overview  # another creditor's people are not theirs to see
    wrong = api.post(f"{base}/assign", headers=desk.auth("supervisor_aurora"),
                     json={"email": "agent_norte@acuerdo.example"})
    assert wrong.status_code == 409  # not a person of this conversation's creditor
    moved = api.post(f"{base}/assign", headers=desk.auth("supervisor_aurora"),
                     json={"email": "agent_aurora_2@acuerdo.example"})
    assert moved.status_code == 200
    assert api.get(base, headers=desk.auth("agent_aurora_2")).json()["assigned_to"] == "agent_aurora_2@acuerdo.example"
    assert api.get(base, headers=desk.auth("agent_aurora")).status_code == 404


def test_canned_replies_are_filled_for_the_conversation(api: TestClient, desk: Desk) -> None:
    replies = {r["id"]: r["text"] for r in api.get(f"/api/agent/conversations/{desk.ana}/canned",
                                                   headers=desk.auth("agent_aurora")).json()}
    assert replies["saludo"].startswith("Hola Ana,")
    assert "$14,680.55" in replies["saldo"] and "{" not in "".join(replies.values())
