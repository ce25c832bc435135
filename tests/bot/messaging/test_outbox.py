from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.messaging.compliance import SendVerdict, check_outbound
from bot.messaging.contact import opt_in, opt_out
from bot.messaging.conversations import get_or_create_conversation
from bot.messaging.gateway import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, keyword_of
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
    assert keyword in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS


def test_keywords_must_be_the_whole_message() -> None:
    assert keyword_of("quiero darme de baja") not in OPT_OUT_KEYWORDS
    assert keyword_of("alto ahí") not in OPT_OUT_KEYWORDS


def test_compliance_opt_out_and_whatsapp_window(session: Session) -> None:
    conversation = get_or_create_conversation(session, "whatsapp:+5215512345678")
    assert check_outbound(session, conversation, NOW).verdict is SendVerdict.TEMPLATE_ONLY  # never wrote to us
    conversation.last_inbound_at = NOW - timedelta(hours=23, minutes=59)
    assert check_outbound(session, conversation, NOW).verdict is SendVerdict.SEND
    conversation.last_inbound_at = NOW - timedelta(hours=24)
    assert check_outbound(session, conversation, NOW).verdict is SendVerdict.TEMPLATE_ONLY
    opt_out(session, "+525512345678", "sms", source="keyword")  # on any channel
    assert check_outbound(session, conversation, NOW).verdict is SendVerdict.BLOCKED
    opt_in(session, "+525512345678", "whatsapp", source="keyword")
    sms = get_or_create_conversation(session, "sms:+525512345678")
    assert check_outbound(session, sms, NOW).verdict is SendVerdict.SEND  # SMS has no window
