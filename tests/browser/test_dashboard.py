"""The numbers page (/console/dashboard) in a real headless Chromium, on a small ledger of the last days: an
admin sees the headline figures and the charts Chart.js drew from GET /api/kpis, downloads a table as CSV, and
is told when the range is backwards; a supervisor of one creditor sees only that creditor's numbers and a 404
for another's; an agent gets no page.

The ledger is the test's own (a fresh unit-test database, SQLite and PostgreSQL): `app_env` is overridden so that
the live app runs on it without the bot's servers, and every number is known exactly."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.agents.users import create_user
from bot.ledger.db import session_scope
from bot.ledger.models import (
    Account,
    AuditLog,
    Conversation,
    Creditor,
    Debtor,
    Direction,
    Handoff,
    Message,
    MessageStatus,
    OptOut,
    Phone,
    PromiseToPay,
    Role,
    utcnow,
)
from bot.payments.events import apply_payment
from tests.browser.test_console import PASSWORD, RESULTS, signed_in
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, refresh_app_state

pytestmark = pytest.mark.e2e
NORTE = "Finanzas del Norte, S.A."  # a comma: the CSV must quote it


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[pytest.MonkeyPatch]:
    """The app (tests/browser/conftest.py's live_app) on this test's own database; no Rasa, no Redis."""
    for key, value in {"DATABASE_URL": database_url, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                       "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PAYMENT_PROVIDER": "sandbox",
                       "RETRY_INTERVAL_SECONDS": "3600"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    refresh_app_state()
    yield monkeypatch
    refresh_app_state()


def ago(days: float, minutes: int = 0) -> datetime:
    return datetime.now(UTC) - timedelta(days=days) + timedelta(minutes=minutes)


def seed() -> None:
    """Ana (MX, Banco Aurora, late) promised and paid 400 of 1,000 MXN, three days after the bot first wrote, and
    was verified; Beto (MX, Banco Aurora, early) promised, was read as a fallback, asked for a person (handled
    for 30 minutes) and opted out; Camila (CL, Finanzas del Norte, severe) paid all her 100,000 CLP in cash."""
    with session_scope() as session:
        aurora, norte = Creditor(code="banco-aurora", name="Banco Aurora"), Creditor(code="finanzas-norte", name=NORTE)
        session.add_all([aurora, norte])

        def account(name: str, country: str, phone: str, creditor: Creditor, currency: str, principal: str,
                    days_past_due: int) -> Account:
            debtor = Debtor(external_id=f"D-{name}", full_name=name, document_id="12345678", country=country)
            session.add(debtor)
            session.flush()
            session.add(Phone(debtor_id=debtor.id, e164=phone))
            account = Account(external_id=f"A-{name}", creditor=creditor, debtor=debtor, product="X",
                              currency=currency, principal=Decimal(principal),
                              due_date=(datetime.now(UTC) - timedelta(days=days_past_due)).date(), created_at=ago(60))
            session.add(account)
            session.flush()
            return account

        def talk(account: Account, channel: str, phone: str, when: datetime, intent: str) -> Conversation:
            conversation = Conversation(channel=channel, sender_id=f"{channel}:{phone}", debtor_id=account.debtor_id)
            session.add(conversation)
            session.flush()
            session.add_all([
                Message(conversation_id=conversation.id, direction=Direction.OUTBOUND, channel=channel, body="…",
                        status=MessageStatus.SENT, created_at=when),
                Message(conversation_id=conversation.id, direction=Direction.INBOUND, channel=channel, body="…",
                        status=MessageStatus.PROCESSED, intent=intent, created_at=when + timedelta(minutes=5))])
            return conversation

        ana = account("Ana", "MX", "+525511110001", aurora, "MXN", "1000.00", 45)
        beto = account("Beto", "MX", "+525511110002", aurora, "MXN", "2000.00", 10)
        camila = account("Camila", "CL", "+56911110003", norte, "CLP", "100000", 200)
        for who, days in ((ana, 6), (beto, 4)):
            session.add(PromiseToPay(account_id=who.id, promised_date=ago(days - 1).date(), amount=None,
                                     currency=who.currency, created_by="bot", created_at=ago(days)))
        session.flush()
        apply_payment(session, ana, None, Decimal("400.00"), ago(5), ago(5), provider="external_transfer",
                      provider_ref="external:banco-aurora:T1")  # keeps her promise
        apply_payment(session, camila, None, Decimal("100000"), ago(3), ago(3), provider="external_cash",
                      provider_ref="external:finanzas-norte:C1")
        talk(ana, "whatsapp", "+525511110001", ago(8), "greet")
        with_beto = talk(beto, "sms", "+525511110002", ago(7), "nlu_fallback")
        session.add_all([
            AuditLog(actor="bot", action="identity_verified", entity_type="debtor", entity_id=str(ana.debtor_id),
                     at=ago(8, 10), details={}),
            Handoff(conversation_id=with_beto.id, reason="debtor_request", requested_at=ago(7, 6),
                    claimed_at=ago(7, 10), ended_at=ago(7, 40), ending="returned"),
            OptOut(e164="+525511110002", channel="sms", source="keyword", created_at=ago(2))])


def someone(role: Role, creditors: list[str]) -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@acuerdo.example"
    with session_scope() as session:
        create_user(session, email, PASSWORD, role, creditors, now=utcnow())
    return email


def kpi(page: Page, key: str) -> Any:
    return page.locator(f'[data-kpi="{key}"] dd')


def chart(page: Page, canvas: str) -> Any:
    """What Chart.js drew on the canvas (None when it drew nothing): labels and the first dataset's values."""
    return page.evaluate("""(id) => {
        const drawn = Chart.getChart(document.getElementById(id));
        return drawn === undefined ? null : { type: drawn.config.type, labels: drawn.data.labels,
                                              data: drawn.data.datasets[0].data };
    }""", canvas)


def test_an_admin_reads_the_numbers_charts_and_a_csv(live_app: str, browser: Browser) -> None:
    seed()
    context, page = signed_in(browser, live_app, someone(Role.ADMIN, []))
    page.get_by_role("link", name="Números").click()
    expect(page).to_have_url(f"{live_app}/console/dashboard?from={ago(29).date()}&to={ago(0).date()}")
    expect(page.locator("#dash-status")).to_have_text(f"Del {ago(29).date()} al {ago(0).date()}.")

    expect(kpi(page, "accounts")).to_have_text("3")
    expect(kpi(page, "amount")).to_have_text("CLP 100,000.00 · MXN 3,000.00")
    expect(kpi(page, "contacted")).to_have_text("2 (2 personas)")
    expect(kpi(page, "rpc")).to_have_text("50 % (1 de 2)")
    expect(kpi(page, "recovery")).to_have_text(
        "CLP 100 % (100,000.00 de 100,000.00) · MXN 13.3 % (400.00 de 3,000.00)")
    expect(kpi(page, "promises")).to_have_text("2 / 1 (50 %)")
    expect(kpi(page, "plans")).to_have_text("0 / 0 (—)")  # nothing to divide by: a dash, never 0 %
    expect(kpi(page, "handoff")).to_have_text("50 % (1 de 2)")
    expect(kpi(page, "containment")).to_have_text("50 % (1 de 2)")
    expect(kpi(page, "fallback")).to_have_text("50 % (1 de 2 mensajes)")
    expect(kpi(page, "optouts")).to_have_text("1")
    expect(kpi(page, "first-payment")).to_have_text("3 días")
    expect(kpi(page, "handling")).to_have_text("30 min")

    assert chart(page, "chart-recovery") == {"type": "bar", "labels": ["Banco Aurora · MXN", f"{NORTE} · CLP"],
                                             "data": [13.3, 100]}
    assert chart(page, "chart-payments") == {"type": "bar", "labels": ["Efectivo · CLP", "Transferencia · MXN"],
                                             "data": [1, 1]}
    assert chart(page, "chart-reasons") == {"type": "bar", "labels": ["Pidió una persona"], "data": [1]}
    assert chart(page, "chart-containment") == {
        "type": "doughnut", "labels": ["Resueltas por el bot", "Derivadas a personas"], "data": [1, 1]}
    daily = chart(page, "chart-daily")
    assert daily["type"] == "line" and len(daily["labels"]) == 30 and daily["labels"][-1] == str(ago(0).date())
    assert sum(daily["data"]) == 2  # the two messages sent in the range, each on its day
    for canvas in page.locator("canvas").all():
        assert canvas.get_attribute("aria-label")
    expect(page.locator("figure figcaption")).to_have_count(5)
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "console_dashboard.png"), full_page=True)

    with page.expect_download() as downloading:
        page.get_by_role("button", name="Descargar CSV: Recuperación por acreedor").click()
    download = downloading.value
    assert download.suggested_filename == f"recuperacion-por-creditor-{ago(29).date()}-a-{ago(0).date()}.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the accents
    assert raw.decode("utf-8-sig").split("\r\n") == [
        "Acreedor,Moneda,Cuentas,Asignado,Cobrado,Recuperación (%)",
        "Banco Aurora,MXN,2,3000.00,400.00,13.33",
        f'"{NORTE}",CLP,1,100000.00,100000.00,100',
        ""]

    page.get_by_label("Agrupar la recuperación por").select_option("stage")
    assert chart(page, "chart-recovery")["labels"] == ["Temprana · MXN", "Tardía · MXN", "Severa · CLP"]
    expect(page.locator("#table-recovery tbody tr").nth(1)).to_contain_text("Tardía")

    page.get_by_label("Desde").fill(str(ago(0).date()))
    page.get_by_label("Hasta").fill(str(ago(1).date()))
    page.get_by_role("button", name="Aplicar").click()
    expect(page.locator("#dash-status")).to_have_text("Revisa los filtros: «Desde» va después de «Hasta».")
    expect(page.locator("#dash-results")).to_be_hidden()
    context.close()


def test_a_supervisor_sees_only_their_creditor(live_app: str, browser: Browser) -> None:
    seed()
    context, page = signed_in(browser, live_app, someone(Role.SUPERVISOR, ["finanzas-norte"]))
    page.goto(f"{live_app}/console/dashboard")
    expect(kpi(page, "accounts")).to_have_text("1")
    expect(kpi(page, "amount")).to_have_text("CLP 100,000.00")
    expect(kpi(page, "optouts")).to_have_text("0")
    expect(kpi(page, "handoff")).to_have_text("— (0 de 0)")
    expect(page.locator("#dash-creditor option")).to_have_text(["Todos", NORTE])
    assert chart(page, "chart-recovery") == {"type": "bar", "labels": [f"{NORTE} · CLP"], "data": [100]}
    assert chart(page, "chart-payments")["labels"] == ["Efectivo · CLP"]
    assert chart(page, "chart-reasons")["labels"] == []
    assert "MXN" not in page.locator("#dash-results").inner_text()
    assert "Banco Aurora" not in page.content()

    page.goto(f"{live_app}/console/dashboard?creditor=banco-aurora")  # another's: as if it did not exist
    expect(page.locator("#dash-status")).to_have_text("Ese acreedor no existe o no está entre los tuyos.")
    expect(page.locator("#dash-results")).to_be_hidden()
    context.close()


def test_an_agent_gets_no_numbers(live_app: str, browser: Browser) -> None:
    seed()
    context, page = signed_in(browser, live_app, someone(Role.AGENT, ["finanzas-norte"]))
    expect(page.get_by_role("link", name="Números")).to_have_count(0)
    response = page.goto(f"{live_app}/console/dashboard")
    assert response is not None and response.status == 404  # the same answer as /console/supervision
    context.close()
