"""`make demo`'s agent: created once, a fresh password on every start, and that password signs in."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agents.users import InvalidCredentials, authenticate
from bot.ledger.models import Role, User, utcnow
from bot.tools.demo import DEMO_AGENT, demo_agent


def test_the_demo_agent_gets_a_fresh_password_each_start(session: Session) -> None:
    first = demo_agent(session, utcnow())
    second = demo_agent(session, utcnow())
    assert first != second and len(second) >= 12
    user = session.scalars(select(User).where(User.email == DEMO_AGENT)).one()
    assert (user.role, user.all_creditors) == (Role.AGENT, True)
    assert authenticate(session, DEMO_AGENT, second, "127.0.0.1", utcnow()).id == user.id
    with pytest.raises(InvalidCredentials):
        authenticate(session, DEMO_AGENT, first, "127.0.0.1", utcnow())
