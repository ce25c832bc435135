"""The audit log is append-only in the database itself: a row can be added, never changed or removed."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.ledger.models import AuditLog


def test_the_audit_log_refuses_updates_and_deletes(session: Session) -> None:
    session.add(AuditLog(actor="user:1", action="note_added", entity_type="conversation", entity_id="7",
                         address="203.0.113.9"))
    session.commit()
    for statement in (update(AuditLog).values(actor="someone else"), delete(AuditLog)):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(statement)
        session.rollback()
    assert session.query(AuditLog).count() == 1
