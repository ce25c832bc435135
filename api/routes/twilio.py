"""Twilio at the edge: signed webhooks in (WhatsApp, SMS, delivery statuses); replies as TwiML or REST."""
from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from api.deps import DbSession, GatewayDep
from api.intake import Intake
from api.limits import read_body_capped
from bot.common.phones import InvalidPhone
from bot.common.settings import get_settings
from bot.ledger.models import MessageStatus, utcnow
from bot.messaging.gateway import Gateway, Inbound
from bot.messaging.outbox import record_status

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio"])
MAX_WEBHOOK_BYTES = 64 * 1024  # Twilio's form posts are a few KB (a WhatsApp body is at most 4,096 characters)
URL_ENCODED = "application/x-www-form-urlencoded"


async def signed_form(request: Request) -> dict[str, str]:
    """The POSTed form, only if X-Twilio-Signature proves Twilio sent it (else 403, nothing stored).

    The URL signed is the public one Twilio called (PUBLIC_BASE_URL + path), so this holds behind a proxy.
    """
    settings = get_settings()
    body = await read_body_capped(request, MAX_WEBHOOK_BYTES)  # 413 before anything is parsed or stored
    form = await form_of(request, body)
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return form


async def form_of(request: Request, body: bytes) -> dict[str, str]:
    """The fields, the last of a repeated name. Twilio posts url-encoded forms: read as Starlette reads them (bytes
    as Latin-1, then %-escapes and "+" undone, blank values kept), without its streaming parser, a tenth of a
    webhook's CPU; any other body goes through Starlette's."""
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() == URL_ENCODED:
        return dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    return {key: str(value) for key, value in (await request.form()).multi_items()}


TwilioForm = Annotated[dict[str, str], Depends(signed_form)]


def _inbound(channel: str, form: dict[str, str]) -> Inbound:
    media = [{"url": form.get(f"MediaUrl{index}", ""), "content_type": form.get(f"MediaContentType{index}", "")}
             for index in range(int(form.get("NumMedia", "0") or 0))]
    return Inbound(channel=channel, sender=form.get("From", ""), body=form.get("Body", ""),
                   external_id=form.get("MessageSid") or None, to=form.get("To") or None, media=media)


def twiml(replies: list[str]) -> Response:
    if not replies:
        return Response(content=_NOTHING_TO_SAY, media_type="application/xml")
    response = MessagingResponse()
    for reply in replies:
        response.message(reply)
    return Response(content=str(response), media_type="application/xml")


_NOTHING_TO_SAY = str(MessagingResponse())  # REST mode's every answer: built once


async def intake(request: Request) -> Intake:
    return cast(Intake, request.app.state.intake)


IntakeDep = Annotated[Intake, Depends(intake)]


async def _handle(channel: str, form: dict[str, str], gateway: Gateway, intake: Intake) -> Response:
    """REST mode (the default): store, hand the conversation over (api.intake), answer Twilio at once; the
    acknowledgement never waits for Rasa. TwiML mode: the replies go in the answer."""
    try:
        inbound = _inbound(channel, form)
        if get_settings().reply_mode == "rest":
            await intake.take(inbound)
            return twiml([])
        _, replies = await run_in_threadpool(gateway.receive, inbound, MessageStatus.SENT)
    except InvalidPhone:
        raise HTTPException(status_code=400, detail="From is not a phone number") from None
    return twiml(replies)


@router.post("/whatsapp")
async def whatsapp(form: TwilioForm, gateway: GatewayDep, intake: IntakeDep) -> Response:
    return await _handle("whatsapp", form, gateway, intake)


@router.post("/sms")
async def sms(form: TwilioForm, gateway: GatewayDep, intake: IntakeDep) -> Response:
    return await _handle("sms", form, gateway, intake)


@router.post("/status")
def status(form: TwilioForm, session: DbSession) -> Response:
    record_status(session, form.get("MessageSid", ""), form.get("MessageStatus", ""), form.get("ErrorCode") or None,
                  utcnow())
    return Response(status_code=204)
