"""Who we are talking to, and their consent to be contacted.

A *contact key* names the party behind a sender id for everything that must not leak between channels:
verification records and locks (bot.identity.verification), wrong-number reports and opt-outs. WhatsApp and SMS of the
same number share one key, the bare E.164, because a verification proves control of the number and an
opt-out is the number's wish. The demo channel gets its own key, "demo:<E.164>": anyone can type any
number into the demo, so nothing done there may verify, lock or silence a real WhatsApp/SMS number, and
nothing proved on WhatsApp/SMS may be borrowed by the demo.

Opt-outs are honoured at once, on every channel of the key, for automated messages.
"""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from bot.common.phones import split_sender_id
from bot.ledger.models import AuditLog, OptOut

DEMO_CHANNEL = "demo"
_DEMO_PREFIX = f"{DEMO_CHANNEL}:"
# every reply asks it: built once. The row's message: the debtor's message whose turn opted out (see OptOut)
_OPTED_OUT = select(OptOut.id, OptOut.message_id).where(OptOut.e164 == bindparam("key"))


def rules_channel(channel: str) -> str:
    """The channel contact rules count a message on: the demo chat page stands in for WhatsApp."""
    return "whatsapp" if channel == DEMO_CHANNEL else channel


def contact_key(channel: str, e164: str) -> str:
    """The bare E.164 for WhatsApp and SMS (they share it), "demo:<E.164>" for the demo."""
    return f"{_DEMO_PREFIX}{e164}" if channel == DEMO_CHANNEL else e164


def contact_key_of(sender_id: str) -> str:
    """The contact key of a conversation's `<channel>:<E.164>` sender id (raises InvalidPhone)."""
    channel, e164 = split_sender_id(sender_id)
    return contact_key(channel, e164)


def split_contact_key(key: str) -> tuple[bool, str]:
    """(is the demo, the number) of a contact key: which debtors it may reach, and by which phone."""
    if key.startswith(_DEMO_PREFIX):
        return True, key.removeprefix(_DEMO_PREFIX)
    return False, key


def opt_out(session: Session, key: str, channel: str, source: str, message_id: int | None = None) -> bool:
    """Record that this contact wants no more automated messages. Returns False if it already had.

    `message_id`: the debtor's own message that asked (BAJA, "sí" to "¿dejamos de escribirte?"), whose answer,
    the confirmation, must still reach them (`answers_opt_out`)."""
    if is_opted_out(session, key):
        return False
    session.add(OptOut(e164=key, channel=channel, source=source, message_id=message_id))
    session.add(AuditLog(actor="bot", action="opted_out", entity_type="phone", entity_id=key,
                         details={"channel": channel, "source": source}))
    session.flush()
    return True


def opt_in(session: Session, key: str, channel: str, source: str) -> bool:
    """The contact asked to hear from us again (ALTA / START). Returns False if it was not opted out."""
    removed = session.execute(delete(OptOut).where(OptOut.e164 == key)).rowcount  # type: ignore[attr-defined]
    if removed:
        session.add(AuditLog(actor="bot", action="opted_in", entity_type="phone", entity_id=key,
                             details={"channel": channel, "source": source}))
    return bool(removed)


def is_opted_out(session: Session, key: str, answering: int | None = None) -> bool:
    """Whether this contact key (a bare E.164 for WhatsApp/SMS) asked not to be contacted.

    `answering`: the inbound message a reply answers. The reply to the very message that opted out (its
    confirmation) is not held back: in REST mode it is sent after the opt-out is stored, and a debtor who wrote
    BAJA must hear that it worked."""
    row = session.execute(_OPTED_OUT, {"key": key}).first()
    return row is not None and (answering is None or row.message_id != answering)
