"""Every agent route, as every kind of caller: anonymous and bad tokens get 401, another creditor's person
gets 404 (never the data), another agent's conversation is out of an agent's reach but not a supervisor's."""
from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.agents.conftest import Desk

CONVERSATION_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("POST", "/claim", None),
    ("POST", "/messages", {"text": "Hola, soy Laura del equipo."}),
    ("POST", "/notes", {"text": "Pidió que le llamen por la tarde."}),
    ("POST", "/offers", {"kind": "settlement", "account_id": 1}),
    ("POST", "/outcome", {"kind": "no_answer"}),
    ("POST", "/release", None),
    ("POST", "/return", None),
    ("POST", "/close", None),
]


def call(api: TestClient, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> Any:
    return api.request(method, path, json=body, headers=headers)


def routes(conversation_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [("GET", "/api/agent/queue", None), ("GET", "/api/agent/mine", None)] + [
        (method, f"/api/agent/conversations/{conversation_id}{suffix}", body)
        for method, suffix, body in CONVERSATION_ROUTES]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}],
                         ids=["anonymous", "unknown token", "not bearer"])
def test_every_route_needs_a_signed_in_person(api: TestClient, desk: Desk, headers: dict[str, str]) -> None:
    for method, path, body in routes(desk.ana):
        response = call(api, method, path, body, headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "Ana" not in response.text


def test_another_creditors_person_sees_nothing_of_the_conversation(api: TestClient, desk: Desk) -> None:
    for method, path, body in routes(desk.ana)[2:]:
        response = call(api, method, path, body, desk.auth("agent_norte"))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"detail": "not found"}  # the same as a conversation that does not exist
    missing = api.get("/api/agent/conversations/999999", headers=desk.auth("admin"))
    assert missing.status_code == 404 and missing.json() == {"detail": "not found"}
    detail = api.get(f"/api/agent/conversations/{desk.ana}", headers=desk.auth("agent_aurora")).json()
    assert detail["debtor"]["name"] == "Ana Ruiz" and detail["mode"] == "queued"


@pytest.mark.parametrize(("who", "sees"), [("agent_aurora", {"ana"}), ("agent_norte", {"camila"}),
                                          ("supervisor_aurora", {"ana"}), ("admin", {"ana", "camila"})])
def test_the_queue_shows_only_the_persons_creditors(api: TestClient, desk: Desk, who: str, sees: set[str]) -> None:
    ids = {"ana": desk.ana, "camila": desk.camila}
    queue = api.get("/api/agent/queue", headers=desk.auth(who))
    assert queue.status_code == 200
    assert {entry["id"] for entry in queue.json()} == {ids[name] for name in sees}


def test_a_conversation_another_agent_holds_is_for_supervisors_only(api: TestClient, desk: Desk) -> None:
    assert api.post(f"/api/agent/conversations/{desk.ana}/claim", headers=desk.auth("agent_aurora")).status_code == 200
    for method, path, body in routes(desk.ana)[2:]:
        response = call(api, method, path, body, desk.auth("agent_aurora_2"))
        expected = 409 if path.endswith("/claim") else 404  # a claimer learns it lost, nothing more
        assert response.status_code == expected, (method, path, response.text)
    detail = api.get(f"/api/agent/conversations/{desk.ana}", headers=desk.auth("supervisor_aurora"))
    assert detail.status_code == 200 and detail.json()["assigned_to"] == "agent_aurora@acuerdo.example"
    released = api.post(f"/api/agent/conversations/{desk.ana}/release", headers=desk.auth("supervisor_aurora"))
    assert released.status_code == 200 and released.json()["mode"] == "queued"
    # back in the queue: the second agent may take it now
    assert api.post(f"/api/agent/conversations/{desk.ana}/claim",
                    headers=desk.auth("agent_aurora_2")).status_code == 200
