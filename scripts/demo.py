"""`make demo`: seed the demo portfolio, start the action server, Rasa and the app, and serve the demo chat
at http://127.0.0.1:8000/demo (`--terminal` chats in the terminal instead). No Twilio, no Redis."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import UTC, datetime

import httpx

from bot.admin.model_jobs import restarted
from bot.admin.rasa_model import active_model
from bot.common.settings import PROJECT_ROOT, get_settings
from bot.identity.verification import document_digits
from bot.ledger.db import migrate, session_scope
from bot.tools.demo import DEMO_AGENT, DEMO_STRANGER, demo_agent, demo_debtors, seed_demo
from scripts import servers


def choose_debtor() -> tuple[str, str]:
    with session_scope() as session:
        debtors = [(d.full_name, d.country, d.phones[0].e164, document_digits(d.document_id)[-4:])
                   for d in demo_debtors(session) if d.phones]
    print("Deudores de demostración (los 4 dígitos verifican la identidad):")
    for number, (name, country, phone, digits) in enumerate(debtors, 1):
        print(f"  {number}. {name} ({country}, {phone}) · documento …{digits}")
    print(f"  {len(debtors) + 1}. Un número desconocido ({DEMO_STRANGER})")
    choice = input("Elige uno [1]: ").strip() or "1"
    index = int(choice) - 1 if choice.isdigit() else 0
    if 0 <= index < len(debtors):
        return debtors[index][0], debtors[index][2]
    return "desconocido", DEMO_STRANGER


def chat(rasa_url: str, sender: str) -> None:
    print("\nEscribe como el deudor (Ctrl-D o /salir para terminar).\n")
    while True:
        try:
            text = input("tú> ").strip()
        except EOFError:
            break
        if text in ("/salir", "/exit"):
            break
        response = httpx.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                              timeout=30)
        for message in response.json():
            print(f"bot> {message.get('text', '')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--action-port", type=int, default=5055)
    parser.add_argument("--app-port", type=int, default=8000)
    parser.add_argument("--standby-port", type=int, default=5006, help="the second Rasa server (model switches)")
    parser.add_argument("--terminal", action="store_true", help="chat in the terminal instead of the web page")
    args = parser.parse_args()
    # The servers run in process groups of their own: stopping the demo (Ctrl-C or a plain kill) stops them too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.environ["DEMO_ENABLED"] = "true"  # the demo page and its portfolio: this command is the demo
    os.environ.setdefault("CAMPAIGNS_IN_APP_MINUTES", "5")  # due reminders appear on the demo chat page
    get_settings.cache_clear()
    model = active_model()
    if model is None:
        print("no trained model: run `make model`", file=sys.stderr)
        return 1
    migrate()
    with session_scope() as session:
        print(seed_demo(session).summary())
        agent_password = demo_agent(session, datetime.now(UTC))
    name, phone = choose_debtor() if args.terminal else ("", "")
    print("Iniciando el servidor de acciones y Rasa (cerca de un minuto)…")
    # Payment and document links point at this machine (the creditors' link domains do not resolve here).
    local = f"http://127.0.0.1:{args.app_port}"
    links = {"PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", local),
             "LINK_BASE_URL": os.environ.get("LINK_BASE_URL", local)}
    os.environ.update(links)
    get_settings.cache_clear()
    trackers = PROJECT_ROOT / "var" / "rasa-trackers.db"  # what debtors wrote: kept for this run only
    trackers.unlink(missing_ok=True)
    running = servers.start(model, args.rasa_port, args.action_port, env=links, log_dir=PROJECT_ROOT / "var" / "logs",
                            token=get_settings().rasa_token, tracker_db=trackers)
    try:
        if not args.terminal:  # a standby for the admins' model switches (blue/green, README "Models")
            os.environ["RASA_STANDBY_URL"] = running.add_rasa(model, args.standby_port)
            get_settings.cache_clear()
        with session_scope() as session:
            restarted(session, get_settings(), running.rasa_url, model.name.removesuffix(".tar.gz"))
        if args.terminal:
            print(f"Chateando como {name} por la demo (demo:{phone}).")
            chat(running.rasa_url, f"demo:{phone}")
        else:
            serve_app(running.rasa_url, args.app_port, agent_password)
    finally:
        running.stop()
    return 0


def serve_app(rasa_url: str, port: int, agent_password: str) -> None:
    import uvicorn

    os.environ["RASA_URL"] = rasa_url
    get_settings.cache_clear()
    print(f"\nListo: abre http://127.0.0.1:{port}/demo (Ctrl-C para terminar).")
    print(f"Consola de agentes: http://127.0.0.1:{port}/console · {DEMO_AGENT} · contraseña {agent_password}\n")
    uvicorn.run("api.main:app", host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    sys.exit(main())
