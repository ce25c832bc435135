"""rasa_server/action_calls.py replaces how the running Rasa calls the action server: one connection for many
calls, and what each call sends and answers exactly as Rasa's own. Run in the Rasa venv, against a local server
that records every request and the connection it came on."""
from __future__ import annotations

import json
import subprocess

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT

CALLS = """
import asyncio, json, sys
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

PAYLOADS = [
    {"next_action": "action_balance", "tracker": {"latest_message": {"text": "¿cuánto debo? 🙏 / saldo",
     "intent": {"name": "ask_balance", "confidence": 0.9731}}}, "domain": {"slots": {"amount": {"type": "float"}}}},
    {"big": 2 ** 70, "nested": [[1.5, None, True], {"1": "uno"}]},  # an integer ujson refuses: json encodes it
]

async def handler(request: web.Request) -> web.StreamResponse:
    seen.append({"connection": request.transport.get_extra_info("peername")[1], "path": request.path,
                 "query": dict(request.query), "headers": {name: request.headers.get(name) for name in (
                     "Content-Type", "Authorization", "X-Acuerdo")}, "body": await request.text()})
    if request.path.endswith("/fails"):
        return web.Response(status=503, reason="Service Unavailable", text="down")
    if request.path.endswith("/text"):
        return web.Response(text="plain")
    return web.json_response({"events": [], "responses": [{"text": "¡Listo! Tu saldo es $1,234.50"}]})

async def calls(endpoint: EndpointConfig) -> list:
    answers = []
    for payload in PAYLOADS:
        answers.append(await endpoint.request(json=payload, method="post", timeout=10))
    answers.append(await endpoint.request(method="get", subpath="/text", params={"page": "2"}))
    try:
        await endpoint.request(json={}, subpath="/fails")
    except ClientResponseError as error:
        answers.append([error.status, error.message, error.text.decode()])
    return answers

async def main() -> dict:
    runner = web.AppRunner(web.Application())
    runner.app.router.add_route("*", "/{tail:.*}", handler)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", token="s3cret", headers={"X-Acuerdo": "1"},
                              basic_auth={"username": "rasa", "password": "clave"})
    out = {"rasa": await calls(endpoint), "rasa_seen": list(seen)}
    seen.clear()
    import rasa.core.run
    from rasa_server import action_calls
    action_calls.keep_action_server_connections()
    out["ours"] = await calls(endpoint)
    out["ours_seen"] = list(seen)
    session = action_calls._session()
    await rasa.core.run.close_resources(type("App", (), {"ctx": type("Ctx", (), {})()})(), None)
    out["closed"] = session.closed
    await runner.cleanup()
    return out

seen = []
print(json.dumps(asyncio.run(main())))
"""


def test_calls_share_one_connection_and_send_and_answer_as_rasas_own() -> None:
    run = subprocess.run([str(RASA_BIN.with_name("python")), "-c", CALLS], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["ours"] == out["rasa"] == [
        {"events": [], "responses": [{"text": "¡Listo! Tu saldo es $1,234.50"}]},
        {"events": [], "responses": [{"text": "¡Listo! Tu saldo es $1,234.50"}]},
        None, [503, "Service Unavailable", "down"]]

    def without_connection(requests: list[dict]) -> list[dict]:
        return [{**request, "body": json.loads(request["body"]) if request["body"] else None,
                 "connection": None} for request in requests]

    assert without_connection(out["ours_seen"]) == without_connection(out["rasa_seen"])
    assert [request["query"] for request in out["ours_seen"]] == [{"token": "s3cret"}] * 2 + [
        {"token": "s3cret", "page": "2"}, {"token": "s3cret"}]
    assert out["ours_seen"][0]["headers"]["Authorization"].startswith("Basic ")
    assert json.loads(out["ours_seen"][1]["body"])["big"] == 2 ** 70
    assert len({request["connection"] for request in out["rasa_seen"]}) == 4  # Rasa's own: a connection a call
    assert len({request["connection"] for request in out["ours_seen"]}) == 1
    assert out["closed"]  # with Rasa's other resources, when the server stops
