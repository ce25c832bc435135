"""Two agents claim the same conversation at the same moment: exactly one gets it, on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ledger.models import Conversation, ConversationMode, Handoff
from bot.messaging.conversations import request_handoff
from tests.api.agents.conftest import ANA, Desk

ROUNDS = 8


def claim_at_once(api: TestClient, desk: Desk, who: list[str]) -> dict[str, int]:
    barrier = threading.Barrier(len(who))
    statuses: dict[str, int] = {}

    def claim(name: str) -> None:
        barrier.wait()
        statuses[name] = api.post(f"/api/agent/conversations/{desk.ana}/claim", headers=desk.auth(name)).status_code

    threads = [threading.Thread(target=claim, args=(name,)) for name in who]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


def test_exactly_one_of_two_simultaneous_claims_wins(api: TestClient, desk: Desk, session: Session) -> None:
    winners = []
    for _ in range(ROUNDS):
        statuses = claim_at_once(api, desk, ["agent_aurora", "agent_aurora_2"])
        assert sorted(statuses.values()) == [200, 409], statuses
        winner = next(name for name, status in statuses.items() if status == 200)
        winners.append(winner)
        session.expire_all()
        conversation = session.get(Conversation, desk.ana)
        assert conversation is not None and conversation.mode is ConversationMode.AGENT
        assert conversation.assigned_user_id is not None
        assert api.get(f"/api/agent/conversations/{desk.ana}",
                       headers=desk.auth(winner)).json()["assigned_to"] == f"{winner}@acuerdo.example"
        # back with the bot, and queued again for the next round (test_the_loser_learns_who_has_it: the 409 body)
        assert api.post(f"/api/agent/conversations/{desk.ana}/return", headers=desk.auth(winner)).status_code == 200
        session.expire_all()
        request_handoff(session, ANA, "debtor_request", datetime.now(UTC))
        session.commit()
    handoffs = session.scalars(select(Handoff).where(Handoff.conversation_id == desk.ana)).all()
    assert len(handoffs) == ROUNDS + 1 and all(h.ending == "returned" for h in handoffs[:-1])


def test_the_loser_learns_who_has_it(api: TestClient, desk: Desk) -> None:
    assert api.post(f"/api/agent/conversations/{desk.ana}/claim",
                    headers=desk.auth("supervisor_aurora")).status_code == 200
    again = api.post(f"/api/agent/conversations/{desk.ana}/claim", headers=desk.auth("admin"))
    assert again.status_code == 409
    assert again.json()["detail"] == {"reason": "not_in_queue", "mode": "agent",
                                      "assigned_to": "supervisor_aurora@acuerdo.example"}
