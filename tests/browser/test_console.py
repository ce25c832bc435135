"""Agents at work in a real headless Chromium: sign in, a hand-off arrives live, claim, a debtor message
arrives live, a canned reply, offers the policy refuses and accepts, back to the bot; two agents racing for one
conversation; the template picker once WhatsApp's window has closed; another creditor's conversation by URL."""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.agents.users import create_user
from bot.common.settings import PROJECT_ROOT
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, ConversationMode, Debtor, Role, utcnow
from bot.messaging.conversations import request_handoff
from tests.api.conftest import twiml_messages, whatsapp_form
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.e2e

NUMBER, SENDER = "+5215588889999", "whatsapp:+525588889999"  # Tomás Vega, Banco Aurora
PASSWORD = "una clave larga de prueba"
RESULTS = PROJECT_ROOT / "results"


def debtor_says(app: str, text: str, number: str = NUMBER) -> list[str]:
    """A signed WhatsApp webhook, as Twilio posts it."""
    form = whatsapp_form(number, text)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + "/webhooks/twilio/whatsapp", form)
    return twiml_messages(httpx.post(f"{app}/webhooks/twilio/whatsapp", data=form, timeout=60,
                                     headers={"X-Twilio-Signature": signature}))


def person(role: Role = Role.AGENT, creditor: str = "banco-aurora") -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@acuerdo.example"
    with session_scope() as session:
        create_user(session, email, PASSWORD, role, [creditor], now=utcnow())
    return email


def signed_in(browser: Browser, app: str, email: str, block_live_updates: bool = False) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if block_live_updates:  # a stale screen: what a slower colleague sees
        context.route("**/api/agent/stream", lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{app}/console")
    expect(page).to_have_url(f"{app}/console/login?next=%2Fconsole")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page).to_have_url(f"{app}/console")
    return context, page


def handed_off(sender: str, debtor_external_id: str, *, inbound_hours_ago: float = 0.1) -> int:
    with session_scope() as session:
        debtor_id = session.scalars(select(Debtor.id).where(Debtor.external_id == debtor_external_id)).one()
        conversation = request_handoff(session, sender, "debtor_request", utcnow(), debtor_id)
        conversation.last_inbound_at = utcnow() - timedelta(hours=inbound_hours_ago)
        return conversation.id


def last_sent(fake_twilio: FakeTwilio, to: str, count_before: int) -> dict[str, str]:
    """The newest message to `to` once a new one has left (the outbox sends after the response)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sent = [message for message in fake_twilio.sent if message["To"] == to]
        if len(sent) > count_before:
            return sent[-1]
        time.sleep(0.1)
    raise AssertionError(f"nothing new was sent to {to}")


def count_sent(fake_twilio: FakeTwilio, to: str) -> int:
    return len([message for message in fake_twilio.sent if message["To"] == to])


@pytest.fixture
def results() -> Iterator[None]:
    RESULTS.mkdir(exist_ok=True)
    yield


def test_an_agent_takes_a_handoff_from_arrival_to_back_with_the_bot(
        live_app: str, browser: Browser, fake_twilio: FakeTwilio, results: None) -> None:
    _, page = signed_in(browser, live_app, person())
    debtor_says(live_app, "hola")
    assert debtor_says(live_app, "4756")[0].startswith("¡Gracias, Tomás!")
    debtor_says(live_app, "quiero hablar con una persona")
    card = page.locator(".card", has_text="Tomás Vega")
    expect(card).to_be_visible(timeout=15_000)  # arrived live, no reload
    expect(card).to_contain_text("Pidió una persona")
    page.screenshot(path=str(RESULTS / "console_queue.png"), full_page=True)

    card.get_by_role("button", name="Tomar").click()
    expect(page).to_have_url(re.compile(r"/console/conversations/\d+$"))
    expect(page.locator("#mode")).to_have_text("Con una persona")
    debtor_says(live_app, "¿hay alguien ahí?")
    expect(page.locator("#transcript .msg.inbound").last).to_contain_text("¿hay alguien ahí?", timeout=15_000)

    page.get_by_label("Respuesta rápida").select_option(label="Saludo")
    expect(page.get_by_label("Tu mensaje")).to_have_value(
        "Hola Tomás, soy parte del equipo. Gracias por esperar. ¿En qué te puedo ayudar?")
    expect(page.locator("#segments")).to_contain_text("2 SMS")  # "¿" and "á" make it UCS-2: 67 a part
    before = count_sent(fake_twilio, SENDER)
    page.get_by_role("button", name="Enviar", exact=True).click()
    expect(page.locator("#transcript .msg.outbound").last).to_contain_text("Hola Tomás, soy parte del equipo.")
    assert last_sent(fake_twilio, SENDER, before)["Body"].startswith("Hola Tomás, soy parte")

    page.get_by_label("Cuotas", exact=True).fill("30")
    page.get_by_label("Pago inicial").fill("800")
    page.get_by_role("button", name="Revisar con la política").click()
    expect(page.locator("#offer-answer")).to_contain_text("Más cuotas de las que puedes ofrecer")
    expect(page.get_by_role("button", name="Enviar oferta")).to_be_disabled()
    page.get_by_label("Cuotas", exact=True).fill("6")
    page.get_by_role("button", name="Revisar con la política").click()
    expect(page.locator("#offer-answer")).to_contain_text("Dentro de tu política. Primer pago: $800.00.")
    before = count_sent(fake_twilio, SENDER)
    page.get_by_role("button", name="Enviar oferta").click()
    expect(page.locator("#offer-answer")).to_contain_text("Enlace enviado: http")
    assert "/p/" in last_sent(fake_twilio, SENDER, before)["Body"]
    page.screenshot(path=str(RESULTS / "console_conversation.png"), full_page=True)

    page.get_by_role("button", name="Devolver al bot").click()
    expect(page.locator("#mode")).to_have_text("Con el bot")
    assert debtor_says(live_app, "cuánto debo?")[0] == "Tomás, este es tu saldo al día de hoy:"


def test_two_agents_claim_at_once_and_the_slower_one_is_told_who_has_it(
        live_app: str, browser: Browser) -> None:
    first, second = person(), person()
    conversation_id = handed_off("sms:+525588880001", "E-MX-10")
    _, quick = signed_in(browser, live_app, first)
    _, slow = signed_in(browser, live_app, second, block_live_updates=True)
    quick_card = quick.locator(f".card[data-id='{conversation_id}']")
    slow_card = slow.locator(f".card[data-id='{conversation_id}']")
    expect(quick_card).to_be_visible()
    expect(slow_card).to_be_visible()
    quick_card.get_by_role("button", name="Tomar").click()
    expect(quick).to_have_url(f"{live_app}/console/conversations/{conversation_id}")
    slow_card.get_by_role("button", name="Tomar").click()
    expect(slow.locator("#status")).to_have_text(f"Ya la tomó {first}.")
    expect(slow).to_have_url(f"{live_app}/console")
    with session_scope() as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.mode is ConversationMode.AGENT


def test_after_24_hours_only_a_template_can_go_and_another_creditor_cannot_look(
        live_app: str, browser: Browser, fake_twilio: FakeTwilio) -> None:
    conversation_id = handed_off("whatsapp:+525588880002", "E-MX-10", inbound_hours_ago=25)
    _, page = signed_in(browser, live_app, person())
    page.goto(f"{live_app}/console/conversations/{conversation_id}")
    page.get_by_role("button", name="Tomar").click()
    expect(page.locator("#template-picker")).to_be_visible()
    expect(page.locator("#reply")).to_be_hidden()
    expect(page.locator("#window-closed")).to_contain_text("Pasaron más de 24 horas")
    expect(page.get_by_label("first_name")).to_have_value("Tomás")
    page.get_by_role("button", name="Enviar plantilla").click()
    expect(page.locator("#status")).to_have_text("Plantilla enviada.")
    assert last_sent(fake_twilio, "whatsapp:+525588880002", 0)["ContentSid"] == "HX11110000000000000000000000000000"

    _, outsider = signed_in(browser, live_app, person(creditor="telco-andina"))
    response = outsider.goto(f"{live_app}/console/conversations/{conversation_id}")
    assert response is not None and response.status == 404
    expect(outsider.get_by_role("heading")).to_have_text("No encontramos esa conversación")
    assert "Tomás" not in outsider.content()
