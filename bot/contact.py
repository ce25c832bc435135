"""Consent to be contacted: opt-outs are honoured at once, on every channel, for automated messages."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.storage.models import AuditLog, OptOut


def opt_out(session: Session, e164: str, channel: str, source: str) -> bool:
    """Record that this number wants no more automated messages. Returns False if it already had."""
    if is_opted_out(session, e164):
        return False
    session.add(OptOut(e164=e164, channel=channel, source=source))
    session.add(AuditLog(actor="bot", action="opted_out", entity_type="phone", entity_id=e164,
                         details={"channel": channel, "source": source}))
    session.flush()
    return True


def opt_in(session: Session, e164: str, channel: str, source: str) -> bool:
    """The number asked to hear from us again (ALTA / START). Returns False if it was not opted out."""
    removed = session.execute(delete(OptOut).where(OptOut.e164 == e164)).rowcount
    if removed:
        session.add(AuditLog(actor="bot", action="opted_in", entity_type="phone", entity_id=e164,
                             details={"channel": channel, "source": source}))
    return bool(removed)


def is_opted_out(session: Session, e164: str) -> bool:
    return session.scalar(select(OptOut.id).where(OptOut.e164 == e164)) is not None
