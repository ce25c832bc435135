"""A person using the demo chat in a real headless Chromium: the page, the gateway, Rasa, the actions."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from bot.common.settings import PROJECT_ROOT, get_settings
from tests.factories import due_phrase

pytestmark = pytest.mark.e2e


def send(page: Page, text: str, replies_before: int) -> None:
    page.get_by_label("Mensaje").fill(text)
    page.get_by_role("button", name="Enviar").click()
    expect(page.locator(".bubble.in")).not_to_have_count(replies_before, timeout=30_000)


def test_a_short_conversation_on_the_demo_page(live_app: str, page: Page) -> None:
    page.goto(f"{live_app}/demo")
    page.get_by_label("Deudor de demostración").select_option(label="Sofía Hernández (MX)")
    expect(page.locator("#hint")).to_contain_text("dígitos del documento: 4455")
    send(page, "hola", 0)
    expect(page.locator(".bubble.in").nth(1)).to_contain_text("últimos 4 dígitos de tu INE o CURP")
    send(page, "4455", 2)
    expect(page.locator(".bubble.in").nth(2)).to_have_text(
        "¡Gracias, Sofía! Ya confirmé tu identidad. ¿En qué te puedo ayudar? Puedo decirte tu saldo, por ejemplo.")
    send(page, "cuánto debo?", 3)
    expect(page.locator(".bubble.in").nth(4)).to_have_text(
        "Banco Aurora · Tarjeta de crédito (termina en 0777)\nCapital: $3,200.00\nIntereses: $410.10\n"
        f"Comisiones: $0.00\nTotal: $3,610.10\n{due_phrase(get_settings().database_url, 'AUR-70777')}")
    (PROJECT_ROOT / "results").mkdir(exist_ok=True)
    page.screenshot(path=str(PROJECT_ROOT / "results" / "demo_chat.png"), full_page=True)


def test_paying_a_link_from_the_demo_chat_brings_the_receipt_into_the_chat(live_app: str, page: Page) -> None:
    # The page's clock stands still until the payment is made, so its notice poll first runs after the
    # receipt is stored: the race that a fast machine used to hit by chance, forced on every machine.
    installed = datetime.now()
    page.clock.install(time=installed)
    # Pause a little ahead of the installed time (the fake clock may have ticked already, and it cannot go
    # back); no page is loaded yet, so no timer is due on the way.
    page.clock.pause_at(installed + timedelta(seconds=5))
    page.goto(f"{live_app}/demo")
    chooser = page.get_by_label("Deudor de demostración")
    chooser.select_option(label="Sofía Hernández (MX)")  # a first choice must not leak into the next one
    chooser.select_option(label="Ricardo Núñez (MX)")
    send(page, "quiero pagar todo", 0)
    replies = page.locator(".bubble.in").count()
    send(page, "7788", replies)
    link = page.locator(".bubble.in a").first
    expect(link).to_have_attribute("href", re.compile(r"^https://pagos\.bancoaurora\.example/p/[\w-]+$"))
    expect(page.locator(".bubble.in").last).to_contain_text("Nuestros enlaces de pago siempre empiezan con")

    # The creditor's link domain does not resolve here: follow the link's path on the local app.
    path = urlsplit(link.get_attribute("href") or "").path
    checkout = urlsplit(httpx.get(f"{live_app}{path}", follow_redirects=False).headers["location"]).path
    assert page.context.browser is not None
    checkout_tab = page.context.browser.new_page()  # a second tab, as a phone opens the link in the browser
    checkout_tab.goto(f"{live_app}{checkout}")
    expect(checkout_tab.locator("#amount")).to_have_text("$1,595.50")
    (PROJECT_ROOT / "results").mkdir(exist_ok=True)
    checkout_tab.screenshot(path=str(PROJECT_ROOT / "results" / "sandbox_checkout.png"))
    checkout_tab.get_by_role("button", name="Pagar con tarjeta").click()
    expect(checkout_tab.locator("#status")).to_have_text("Estado: Pagado")
    page.clock.resume()

    receipt = page.locator(".bubble.in", has_text="Recibimos tu pago")
    expect(receipt).to_contain_text("¡Gracias, Ricardo! Recibimos tu pago de $1,595.50 a Banco Aurora.",
                                    timeout=15_000)
    expect(receipt).to_contain_text("¡Tu cuenta quedó liquidada!")
    expect(receipt.locator("a")).to_have_count(2)  # the receipt and the settlement letter, both tappable
    page.screenshot(path=str(PROJECT_ROOT / "results" / "demo_payment.png"), full_page=True)
    page.clock.run_for(10_000)  # later polls show nothing twice
    expect(page.locator(".bubble.in", has_text="Recibimos tu pago")).to_have_count(1)
