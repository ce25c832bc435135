"""Twilio out: WhatsApp and SMS messages through the official SDK (the webhooks in are api/routes/twilio.py)."""
from __future__ import annotations

import json
import logging
from datetime import datetime

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.common.settings import Settings
from bot.messaging.outbox import OutboundRequest, TransportError


class TwilioTransport:
    """Sends through the official SDK; TWILIO_API_BASE points it elsewhere (tests: a local fake)."""

    def __init__(self, settings: Settings) -> None:
        self._client = Client(settings.twilio_account_sid, settings.twilio_auth_token)
        if settings.twilio_api_base:
            self._client.api.base_url = settings.twilio_api_base.rstrip("/")
        self._settings = settings
        # The SDK logs every request and response line by line at INFO: a quarter of a send's CPU (issue 23), and
        # nothing an operator reads; its warnings and errors still show.
        self._client.http_client.logger.setLevel(logging.WARNING)

    def send(self, request: OutboundRequest) -> str:
        default_from = (self._settings.twilio_whatsapp_from if request.channel == "whatsapp"
                        else self._settings.twilio_sms_from)
        arguments: dict[str, object] = {
            "to": request.to, "from_": request.from_ or default_from,
            "status_callback": self._settings.public_base_url.rstrip("/") + "/webhooks/twilio/status",
        }
        if request.content_sid:
            arguments["content_sid"] = request.content_sid
            arguments["content_variables"] = json.dumps(request.content_variables)
        else:
            arguments["body"] = request.body
        try:
            return str(self._client.messages.create(**arguments).sid)
        except TwilioRestException as exc:
            raise TransportError(str(exc.code or exc.status), exc.msg) from exc

    def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
        """Twilio's newest messages to this number from our sender created since `since`, with the same body when
        it is free text (a template's body is Twilio's rendering). Not filtered by DateSent: a message Twilio
        accepted but has not sent yet has none."""
        default_from = (self._settings.twilio_whatsapp_from if request.channel == "whatsapp"
                        else self._settings.twilio_sms_from)
        sender = request.from_ or default_from
        try:
            return [str(message.sid) for message in self._client.messages.list(to=request.to, limit=50)
                    if (not sender or message.from_ == sender)
                    and (message.date_created is None or message.date_created >= since)
                    and (request.body is None or message.body == request.body)]
        except TwilioRestException as exc:
            raise TransportError(str(exc.code or exc.status), exc.msg) from exc
