"""An admin at work in a real headless Chromium: relabels a message from the NLU inbox, edits the example it
became, and sees both changes, before and after, in the history; marks an entity by selecting its words; edits
a reply with its live preview; reviews a conversation and marks a bot turn wrong. The files change accordingly.
A supervisor sees the same page with nothing to change."""
from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from bot.agents.users import create_user
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, Direction, InboxItem, Message, MessageStatus, Role, utcnow
from bot.messaging.conversations import get_or_create_conversation
from tests.api.conftest import signed_post, whatsapp_form
from tests.browser.test_console import PASSWORD, RESULTS, signed_in

pytestmark = pytest.mark.e2e
TEXT = "oiga ese cobro de la tarjeta yo no lo hice, alguien mas lo uso"


def someone(role: Role) -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@acuerdo.example"
    with session_scope() as session:
        create_user(session, email, PASSWORD, role, [], all_creditors=role is not Role.ADMIN, now=utcnow())
    return email


def an_unsure_message(text: str = TEXT, predicted: str = "ask_debt_details") -> None:
    with session_scope() as session:
        conversation = get_or_create_conversation(session, f"whatsapp:+5255{uuid.uuid4().int % 10**8:08d}")
        message = Message(conversation_id=conversation.id, direction=Direction.INBOUND, channel="whatsapp",
                          body=text, status=MessageStatus.PROCESSED, inbox_checked_at=utcnow())
        session.add(message)
        session.flush()
        session.add(InboxItem(message_id=message.id, text=text, predicted_intent=predicted,
                              confidence=0.41, reason="low_confidence"))


def test_an_admin_relabels_an_inbox_message_edits_it_and_sees_the_history(
        training_copy: Path, live_app: str, browser: Browser) -> None:
    an_unsure_message()
    context, page = signed_in(browser, live_app, someone(Role.ADMIN))
    page.get_by_role("link", name="Ajustes del bot").click()
    row = page.locator(".inbox-item").filter(has_text=TEXT)
    expect(row).to_be_visible()
    row.get_by_label("Intent correcto").select_option("dispute_debt")
    row.get_by_role("button", name="Aceptar").click()
    expect(page.locator("#status")).to_have_text("Guardado con otro intent.")
    expect(row).to_have_count(0)

    page.get_by_role("tab", name="Ejemplos").click()
    page.locator("#intent-select").select_option("dispute_debt")
    page.get_by_label("Buscar ejemplo").fill("alguien mas lo uso")
    example = page.locator("#example-list li")
    expect(example).to_have_count(1)
    example.get_by_label("Ejemplo").fill(TEXT + " sin mi permiso")
    example.get_by_role("button", name="Guardar").click()
    expect(page.locator("#status")).to_have_text("Guardado.")

    page.get_by_role("tab", name="Historial").click()
    changes = page.locator("#history-list .change")
    expect(changes.first.locator("del")).to_have_text(f"dispute_debt: {TEXT}")
    expect(changes.first.locator("ins")).to_have_text(f"dispute_debt: {TEXT} sin mi permiso")
    expect(changes.nth(1).locator("ins")).to_have_text(f"dispute_debt: {TEXT}")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_history.png"), full_page=True)
    written = "".join(path.read_text(encoding="utf-8") for path in (training_copy / "nlu").glob("*.yml"))
    assert f"    - {TEXT} sin mi permiso\n" in written and f"    - {TEXT}\n" not in written
    context.close()


def test_an_admin_marks_an_entity_by_selecting_its_words(training_copy: Path, live_app: str,
                                                          browser: Browser) -> None:
    said = f"mire le deposito 500 pesos el viernes sin falta {uuid.uuid4().hex[:6]}"
    an_unsure_message(said, "promise_to_pay")
    context, page = signed_in(browser, live_app, someone(Role.ADMIN))
    page.goto(f"{live_app}/console/admin")
    row = page.locator(".inbox-item").filter(has_text=said)
    box = row.get_by_label("Texto del ejemplo")
    start = said.index("el viernes")
    box.evaluate("(input, [start, end]) => input.setSelectionRange(start, end)", [start, start + len("el viernes")])
    row.get_by_label("Entidad").select_option("date")
    row.get_by_role("button", name="Marcar entidad").click()
    expect(box).to_have_value(said.replace("el viernes", "[el viernes](date)"))
    row.get_by_role("button", name="Aceptar").click()
    expect(page.locator("#status")).to_have_text("Guardado.")
    written = "".join(path.read_text(encoding="utf-8") for path in (training_copy / "nlu").glob("*.yml"))
    assert f"    - {said.replace('el viernes', '[el viernes](date)')}\n" in written
    context.close()


def test_an_admin_reviews_a_conversation_and_marks_a_bot_turn_wrong(
        training_copy: Path, live_app: str, browser: Browser, app_env: pytest.MonkeyPatch) -> None:
    stories = training_copy / "review" / "test_review_stories.yml"
    app_env.setenv("REVIEW_STORIES_FILE", str(stories))
    get_settings.cache_clear()
    number = f"+5199{uuid.uuid4().int % 10**7:07d}"
    with httpx.Client(base_url=live_app, timeout=60) as webhook:
        for said in ("hola buenas tardes", "quiero hablar con una persona"):
            assert signed_post(webhook, "/webhooks/twilio/whatsapp", whatsapp_form(number, said)).status_code == 200
    with session_scope() as session:
        conversation_id = session.scalars(select(Conversation.id).where(
            Conversation.sender_id == f"whatsapp:{number}")).one()

    context, page = signed_in(browser, live_app, someone(Role.ADMIN))
    page.goto(f"{live_app}/console/admin")
    page.get_by_role("tab", name="Conversaciones").click()
    page.get_by_label("Resultado").select_option("handoff")
    page.get_by_label("Motivo de traspaso").fill("debtor_request")
    page.get_by_role("button", name="Buscar", exact=True).click()
    page.get_by_role("button", name=f"#{conversation_id} ").click()
    turns = page.locator("#review-turns li")
    expect(turns.first).to_contain_text("hola buenas tardes")
    greeting = page.locator("#review-turns li.outbound").first
    greeting.get_by_role("button", name="Marcar como error").click()
    greeting.get_by_label("Respuesta correcta").select_option("utter_take_your_time")
    greeting.get_by_role("button", name="Guardar historia de prueba").click()
    expect(page.locator("#status")).to_have_text("Historia de prueba guardada.")
    expect(page.locator("#review-story")).to_contain_text("- user: hola buenas tardes")
    expect(page.locator("#review-story")).to_contain_text("- action: utter_take_your_time")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_review.png"), full_page=True)
    story = yaml.safe_load(stories.read_text(encoding="utf-8"))["stories"][-1]
    assert story["steps"][0] == {"user": "hola buenas tardes", "intent": "greet"}
    context.close()


def test_a_supervisor_reads_the_page_and_changes_nothing(training_copy: Path, live_app: str,
                                                         browser: Browser) -> None:
    an_unsure_message()
    context, page = signed_in(browser, live_app, someone(Role.SUPERVISOR))
    page.goto(f"{live_app}/console/admin")
    expect(page.get_by_text("Solo lectura")).to_be_visible()
    expect(page.locator(".inbox-item").first).to_be_visible()
    expect(page.get_by_role("button", name="Aceptar")).to_have_count(0)
    context.close()


def test_an_admin_edits_a_reply_with_its_live_preview_and_sees_the_diff_in_history(
        training_copy: Path, live_app: str, browser: Browser) -> None:
    context, page = signed_in(browser, live_app, someone(Role.ADMIN))
    page.goto(f"{live_app}/console/admin")
    page.get_by_role("tab", name="Respuestas").click()
    page.get_by_label("Buscar respuesta").fill("no coincide con nuestros registros. Te quedan")
    page.get_by_role("button", name="utter_identity_retry", exact=True).click()
    expect(page.locator("#reply-variables")).to_have_text("Variables que recibe: {attempts_left}")
    preview = page.locator("#reply-preview tr")
    expect(preview.filter(has_text="AR (es_AR)")).to_contain_text("Te quedan 2 intentos: ¿me lo escribís de nuevo?")

    second = page.get_by_label("Variación 2")
    second.fill("Ese dato no coincide. Te quedan {intentos} intentos.")
    expect(page.locator("#variation-list .variation").nth(1).locator(".field-error")).to_contain_text(
        "{intentos} no existe")
    second.fill("Ese dato no coincide. Te quedan {attempts_left} intentos: ¿lo intentas otra vez?")
    expect(preview.filter(has_text="MX (es_MX)")).to_contain_text(
        "Ese dato no coincide. Te quedan 2 intentos: ¿lo intentas otra vez?")
    expect(preview.filter(has_text="MX (es_MX)")).to_contain_text("1 SMS")
    expect(page.locator("#variation-list .field-error").nth(1)).to_have_text("")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_reply_editor.png"), full_page=True)
    page.get_by_role("button", name="Guardar respuesta").click()
    expect(page.locator("#status")).to_have_text("Guardado.")

    page.get_by_role("tab", name="Historial").click()
    change = page.locator("#history-list .change").first
    expect(change.locator("del")).to_have_text("utter_identity_retry: Ese dato no coincide con nuestros registros. "
                                               "Te quedan {attempts_left} intentos: ¿me lo escribes de nuevo?")
    expect(change.locator("ins")).to_have_text("utter_identity_retry: Ese dato no coincide. Te quedan "
                                               "{attempts_left} intentos: ¿lo intentas otra vez?")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_reply_history.png"), full_page=True)
    written = (training_copy / "domain.yml").read_text(encoding="utf-8")
    assert '    - text: "Ese dato no coincide. Te quedan {attempts_left} intentos: ¿lo intentas otra vez?"\n' in written
    context.close()
