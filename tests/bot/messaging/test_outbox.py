from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.messaging.compliance import check_outbound
from bot.messaging.contact import opt_in, opt_out
from bot.messaging.contact_rules import ContactVerdict
from bot.messaging.conversations import get_or_create_conversation
from bot.messaging.gateway import CANCEL_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, keyword_of
from bot.messaging.outbox import BODY_LIMIT, split_body

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def test_split_body_keeps_words_whole_and_within_the_limit() -> None:
    body = " ".join(f"palabra{index}" for index in range(600))  # 6,489 characters
    parts = split_body(body)
    assert len(parts) == 5
    assert all(len(part) <= BODY_LIMIT for part in parts)
    assert " ".join(parts) == body
    assert split_body("corto") == ["corto"]
    assert split_body("x" * 3500) == ["x" * 1600, "x" * 1600, "x" * 300]  # no space to cut at


@pytest.mark.parametrize(("body", "keyword"), [
    ("BAJA", "baja"), ("¡Baja!", "baja"), ("  stop ", "stop"), ("No  Molestar.", "no molestar"),
    ("NO MOLESTÁR", "no molestar"), ("Cancelar", "cancelar"), ("ALTA", "alta"), ("alto!!", "alto"),
])
def test_keywords_ignore_case_accents_and_punctuation(body: str, keyword: str) -> None:
    assert keyword_of(body) == keyword
    assert keyword in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | CANCEL_KEYWORDS
    assert "cancelar" not in OPT_OUT_KEYWORDS  # "cancelar la deuda" is paying it off


def test_keywords_must_be_the_whole_message() -> None:
    assert keyword_of("quiero darme de baja") not in OPT_OUT_KEYWORDS
    assert keyword_of("alto ahí") not in OPT_OUT_KEYWORDS


def test_compliance_opt_out_and_whatsapp_window(session: Session) -> None:
    conversation = get_or_create_conversation(session, "whatsapp:+5215512345678")
    assert check_outbound(session, conversation, NOW).template_only  # never wrote to us
    conversation.last_inbound_at = NOW - timedelta(hours=23, minutes=59)
    assert check_outbound(session, conversation, NOW).free_text
    conversation.last_inbound_at = NOW - timedelta(hours=24)
    assert check_outbound(session, conversation, NOW).template_only
    opt_out(session, "+525512345678", "sms", source="keyword")  # on any channel
    assert check_outbound(session, conversation, NOW).decision is ContactVerdict.NEVER
    opt_in(session, "+525512345678", "whatsapp", source="keyword")
    sms = get_or_create_conversation(session, "sms:+525512345678")
    assert check_outbound(session, sms, NOW).free_text  # SMS has no window


def test_two_senders_at_once_send_each_message_exactly_once(database_url: str) -> None:
    """The retry worker, a webhook and an agent's reply may flush the outbox at the same moment."""
    import threading
    import time

    from bot.ledger.db import session_scope
    from bot.ledger.models import MessageStatus
    from bot.messaging.outbox import OutboundRequest, send_queued, store_outbound

    now = datetime.now(UTC)
    with session_scope() as session:
        conversation = get_or_create_conversation(session, "sms:+525512345678")
        for number in range(12):
            store_outbound(session, conversation, f"mensaje {number}", now, status=MessageStatus.QUEUED)

    sent: list[str] = []

    class SlowTransport:
        def send(self, request: OutboundRequest) -> str:
            time.sleep(0.01)
            sent.append(request.body or "")
            return f"SM{len(sent):032d}"

        def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
            return []

    barrier = threading.Barrier(2)

    def flush() -> None:
        barrier.wait()
        with session_scope() as session:
            send_queued(session, SlowTransport(), now)

    threads = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(sent) == sorted(f"mensaje {number}" for number in range(12))


def test_after_an_opt_out_only_the_answer_to_the_message_that_asked_leaves(session: Session) -> None:
    """REST mode stores the confirmation of BAJA after the opt-out: it must still reach the debtor, while a reply
    to an earlier message still waiting (a send that failed and is retried) and an agent's note stay blocked."""
    from bot.ledger.models import Direction, Message, MessageStatus
    from bot.messaging.outbox import OutboundRequest, send_queued, store_outbound

    conversation = get_or_create_conversation(session, "sms:+525512340099")

    def inbound(body: str) -> Message:
        message = Message(conversation_id=conversation.id, direction=Direction.INBOUND, channel="sms", body=body,
                          status=MessageStatus.PROCESSED)
        session.add(message)
        session.flush()
        return message

    hola, baja = inbound("hola"), inbound("BAJA")
    store_outbound(session, conversation, "Hola, soy tu asistente.", NOW, status=MessageStatus.QUEUED, in_reply_to=hola)
    assert opt_out(session, "+525512340099", "sms", source="keyword", message_id=baja.id)
    confirmation = store_outbound(session, conversation, "Listo, no te enviaremos más mensajes.", NOW,
                                  status=MessageStatus.QUEUED, in_reply_to=baja)
    store_outbound(session, conversation, "Sin respuesta a nada.", NOW, status=MessageStatus.QUEUED)
    sent: list[str] = []

    class Transport:
        def send(self, request: OutboundRequest) -> str:
            sent.append(request.body or "")
            return f"SM{len(sent):032d}"

        def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
            return []

    assert send_queued(session, Transport(), NOW) == 1
    assert sent == ["Listo, no te enviaremos más mensajes."] and confirmation[0].status is MessageStatus.SENT
    assert check_outbound(session, conversation, NOW).decision is ContactVerdict.NEVER  # nothing else
    assert check_outbound(session, conversation, NOW, answering=hola.id).decision is ContactVerdict.NEVER


def test_a_sender_with_a_stale_outbox_does_not_overwrite_what_another_sent(session: Session) -> None:
    """`send_queued` reads its list before it holds each conversation: by the time it checks a message, another
    sender may have sent it, and the number opted out since. The stale check must not write "failed" over it."""
    from sqlalchemy import Table, update

    from bot.ledger.models import Message, MessageStatus
    from bot.messaging.outbox import OutboundRequest, send_one, store_outbound

    conversation = get_or_create_conversation(session, "sms:+525512340098")
    message = store_outbound(session, conversation, "Hola.", NOW, status=MessageStatus.QUEUED)[0]
    messages: Table = Message.__table__  # type: ignore[assignment]
    session.execute(update(messages).where(messages.c.id == message.id)  # another sender, behind this one's back
                    .values(status=MessageStatus.SENT, external_id="SM" + "1" * 32))
    opt_out(session, "+525512340098", "sms", source="keyword")

    class Transport:
        def send(self, request: OutboundRequest) -> str:
            raise AssertionError("sent twice")

        def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
            return []

    assert not send_one(session, Transport(), message, NOW)
    session.flush()
    session.expire_all()
    assert session.get(Message, message.id).status is MessageStatus.SENT


def test_a_turns_replies_are_claimed_together_before_any_leaves_and_leave_in_order(session: Session) -> None:
    """REST mode sends a turn's replies with one claim: every one is "sending" (committed, `checkpoint`) before the
    provider hears of the first, so a sender killed midway never sends one twice; each one's id is written and
    committed before the next leaves (a status callback may come at once); one another sender holds is left to
    it, one the provider refuses is recorded failed, and the rest leave in order."""
    from sqlalchemy import Table, select, update

    from bot.ledger.models import Message, MessageStatus
    from bot.messaging.outbox import OutboundRequest, TransportError, send_replies_of, store_outbound

    conversation = get_or_create_conversation(session, "sms:+525512340096")
    _, taken, _, _ = (store_outbound(session, conversation, body, NOW, status=MessageStatus.QUEUED)[0]
                      for body in ("uno", "dos", "tres", "cuatro"))
    messages: Table = Message.__table__  # type: ignore[assignment]
    session.execute(update(messages).where(messages.c.id == taken.id).values(status=MessageStatus.SENDING))
    events: list[object] = []

    class Transport:
        def send(self, request: OutboundRequest) -> str:
            events.append(request.body)
            if request.body == "tres":
                raise TransportError("30003", "Unreachable destination handset")
            return f"SM-{request.body}"

        def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
            raise AssertionError("nothing was lost")

    def checkpoint() -> None:  # a commit in production: what it would write, read back
        session.flush()
        events.append(dict(session.execute(select(messages.c.body, messages.c.status)
                                           .where(messages.c.conversation_id == conversation.id)).all()))

    assert send_replies_of(session, Transport(), conversation.sender_id, NOW, checkpoint=checkpoint) == 2
    sending, sent, failed = MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.FAILED
    assert events == [{"uno": sending, "dos": sending, "tres": sending, "cuatro": sending}, "uno",
                      {"uno": sent, "dos": sending, "tres": sending, "cuatro": sending}, "tres",
                      {"uno": sent, "dos": sending, "tres": failed, "cuatro": sending}, "cuatro"]
    session.flush()
    session.expire_all()
    stored = {message.body: message for message in session.scalars(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id))}
    assert [(stored[body].status, stored[body].external_id, stored[body].error_code) for body in stored] == [
        (MessageStatus.SENT, "SM-uno", None), (MessageStatus.SENDING, None, None),
        (MessageStatus.FAILED, None, "30003"), (MessageStatus.SENT, "SM-cuatro", None)]
    assert [stored[body].sent_at is not None for body in stored] == [True, False, False, True]


def test_a_send_that_fails_without_an_answer_keeps_what_left_and_queues_what_was_not_tried(session: Session) -> None:
    """The network fails on a turn's second reply: the first stays recorded as sent, the second stays "sending"
    (Twilio may have it: `resume_sending` asks before sending it again), the third is queued again for the next
    pass, and the error reaches the caller."""
    from sqlalchemy import Table, select

    from bot.ledger.models import Message, MessageStatus
    from bot.messaging.outbox import OutboundRequest, send_replies_of, store_outbound

    conversation = get_or_create_conversation(session, "sms:+525512340095")
    for body in ("uno", "dos", "tres"):
        store_outbound(session, conversation, body, NOW, status=MessageStatus.QUEUED)

    class Transport:
        def send(self, request: OutboundRequest) -> str:
            if request.body == "dos":
                raise ConnectionError("connection reset by peer")
            return f"SM-{request.body}"

        def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
            return []

    with pytest.raises(ConnectionError):
        send_replies_of(session, Transport(), conversation.sender_id, NOW, checkpoint=session.flush)
    messages: Table = Message.__table__  # type: ignore[assignment]
    assert session.execute(select(messages.c.body, messages.c.status, messages.c.external_id)
                           .where(messages.c.conversation_id == conversation.id).order_by(messages.c.id)).all() == [
        ("uno", MessageStatus.SENT, "SM-uno"), ("dos", MessageStatus.SENDING, None),
        ("tres", MessageStatus.QUEUED, None)]
