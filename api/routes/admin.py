"""The admin API: training examples and intents, replies, configuration files, the NLU inbox, and the history
of every change (the admin pages use only this).

Supervisors read, admins write (bot.agents.access). An invalid edit answers 422 with the field and what to fix
and changes nothing; an edit of something someone else changed meanwhile answers 409 with what is there now,
for the merge view (both answers are made in api/errors.py).
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal
from api.deps import DbSession
from bot.admin import config_files, inbox, replies, tuning
from bot.admin.training_data import Example, InvalidEdit
from bot.agents.access import require_admin_reader, require_admin_writer
from bot.ledger.models import AdminChange, InboxItem, utcnow

router = APIRouter(prefix="/api/admin", tags=["admin"])


class ExampleOut(BaseModel):
    id: str
    intent: str
    text: str
    file: str
    entities: list[tuple[str, str]]

    @classmethod
    def of(cls, example: Example) -> ExampleOut:
        return cls(id=example.id, intent=example.intent, text=example.text, file=example.file,
                   entities=example.entities)


class IntentOut(BaseModel):
    name: str
    examples: int


class ExampleIn(BaseModel):
    intent: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=1000)


class ExampleEdit(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    intent: str | None = Field(default=None, max_length=64)  # moves the example to another intent


class IntentIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class ChangeOut(BaseModel):
    id: int
    at: str
    user_id: int | None
    kind: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reverts_id: int | None

    @classmethod
    def of(cls, change: AdminChange) -> ChangeOut:
        return cls(id=change.id, at=change.at.isoformat(), user_id=change.user_id, kind=change.kind,
                   action=change.action, target=change.target, before=change.before, after=change.after,
                   reverts_id=change.reverts_id)


@router.get("/nlu/intents", response_model=list[IntentOut])
def intents(principal: CurrentPrincipal) -> list[IntentOut]:
    require_admin_reader(principal)
    return [IntentOut(name=name, examples=count) for name, count in sorted(tuning.training_data().intents().items())]


@router.get("/nlu/entities", response_model=list[str])
def entities(principal: CurrentPrincipal) -> list[str]:
    require_admin_reader(principal)
    return tuning.training_data().entities()


@router.post("/nlu/intents", response_model=ChangeOut, status_code=201)
def add_intent(body: IntentIn, principal: CurrentPrincipal, session: DbSession) -> ChangeOut:
    require_admin_writer(principal)
    return ChangeOut.of(tuning.add_intent(session, principal.user_id, body.name, utcnow()))


@router.get("/nlu/examples", response_model=list[ExampleOut])
def examples(principal: CurrentPrincipal, intent: str | None = None,
             q: str | None = Query(default=None, max_length=200)) -> list[ExampleOut]:
    require_admin_reader(principal)
    return [ExampleOut.of(example) for example in tuning.training_data().examples(intent, q)]


@router.post("/nlu/examples", response_model=ExampleOut, status_code=201)
def add_example(body: ExampleIn, principal: CurrentPrincipal, session: DbSession) -> ExampleOut:
    require_admin_writer(principal)
    change = tuning.add_example(session, principal.user_id, body.intent, body.text, utcnow())
    assert change.after is not None
    return ExampleOut.of(Example(change.after["intent"], change.after["text"], change.after["file"]))


@router.put("/nlu/examples/{example_id}", response_model=ExampleOut)
def edit_example(example_id: str, body: ExampleEdit, principal: CurrentPrincipal, session: DbSession,
                 intent_hint: str | None = Query(default=None, alias="intent")) -> ExampleOut:
    """`?intent=` (the intent the admin was looking at) fills the 409's merge view."""
    require_admin_writer(principal)
    change = tuning.edit_example(session, principal.user_id, example_id, body.text, body.intent, utcnow(),
                                 intent_hint=intent_hint)
    assert change.after is not None
    return ExampleOut.of(Example(change.after["intent"], change.after["text"], change.after["file"]))


@router.delete("/nlu/examples/{example_id}", response_model=ChangeOut)
def delete_example(example_id: str, principal: CurrentPrincipal, session: DbSession,
                   intent_hint: str | None = Query(default=None, alias="intent")) -> ChangeOut:
    require_admin_writer(principal)
    return ChangeOut.of(tuning.delete_example(session, principal.user_id, example_id, utcnow(),
                                              intent_hint=intent_hint))


class InboxItemOut(BaseModel):
    id: int
    text: str
    predicted_intent: str
    confidence: float
    reason: str
    status: str
    created_at: str

    @classmethod
    def of(cls, item: InboxItem) -> InboxItemOut:
        return cls(id=item.id, text=item.text, predicted_intent=item.predicted_intent,
                   confidence=round(item.confidence, 3), reason=item.reason, status=item.status,
                   created_at=item.created_at.isoformat())


class InboxOut(BaseModel):
    items: list[InboxItemOut]
    waiting_by_intent: dict[str, int]


class InboxAccept(BaseModel):
    intent: str | None = Field(default=None, max_length=64)  # another intent: a relabel
    text: str | None = Field(default=None, max_length=1000)  # with entity annotations


@router.get("/nlu/inbox", response_model=InboxOut)
def inbox_items(principal: CurrentPrincipal, session: DbSession, intent: str | None = None) -> InboxOut:
    require_admin_reader(principal)
    return InboxOut(items=[InboxItemOut.of(item) for item in inbox.waiting(session, intent)],
                    waiting_by_intent=inbox.waiting_counts(session))


@router.post("/nlu/inbox/{item_id}/accept", response_model=InboxItemOut)
def inbox_accept(item_id: int, body: InboxAccept, principal: CurrentPrincipal, session: DbSession) -> InboxItemOut:
    require_admin_writer(principal)
    try:
        return InboxItemOut.of(inbox.accept(session, principal.user_id, item_id, utcnow(), intent=body.intent,
                                            text=body.text).item)
    except LookupError as exc:
        raise HTTPException(404, detail="not found") from exc


@router.post("/nlu/inbox/{item_id}/dismiss", response_model=InboxItemOut)
def inbox_dismiss(item_id: int, principal: CurrentPrincipal, session: DbSession) -> InboxItemOut:
    require_admin_writer(principal)
    try:
        return InboxItemOut.of(inbox.dismiss(session, principal.user_id, item_id, utcnow()).item)
    except LookupError as exc:
        raise HTTPException(404, detail="not found") from exc


class ConfigFileOut(BaseModel):
    name: str
    file: str
    text: str
    version: str


class ConfigFileIn(BaseModel):
    text: str = Field(min_length=1, max_length=200_000)
    version: str = Field(min_length=1, max_length=64)  # what the admin read: a stale edit is a 409


def _config_out(name: str) -> ConfigFileOut:
    text, version = config_files.read(name)
    return ConfigFileOut(name=name, file=config_files.FILES[name].file, text=text, version=version)


@router.get("/config", response_model=list[str])
def config_names(principal: CurrentPrincipal) -> list[str]:
    require_admin_reader(principal)
    return sorted(config_files.FILES)


@router.get("/config/{name}", response_model=ConfigFileOut)
def config_file(name: str, principal: CurrentPrincipal) -> ConfigFileOut:
    require_admin_reader(principal)
    if name not in config_files.FILES:
        raise HTTPException(404, detail="not found")
    return _config_out(name)


@router.put("/config/{name}", response_model=ConfigFileOut)
def edit_config_file(name: str, body: ConfigFileIn, principal: CurrentPrincipal, session: DbSession) -> ConfigFileOut:
    """The whole file; 422 names the problem and changes nothing; 409 carries the current text and version."""
    require_admin_writer(principal)
    if name not in config_files.FILES:
        raise HTTPException(404, detail="not found")
    config_files.write(session, principal.user_id, name, body.text, body.version, utcnow())
    return _config_out(name)


class ConditionIO(BaseModel):
    type: str = Field(max_length=32)
    name: str = Field(max_length=64)
    value: bool | int | str | None


class VariationIO(BaseModel):
    text: str = Field(max_length=2000)
    condition: list[ConditionIO] = Field(default_factory=list, max_length=5)


class PreviewOut(BaseModel):
    country: str
    locale: str
    variation: int
    text: str
    encoding: str
    units: int
    segments: int


class ReplyOut(BaseModel):
    name: str
    version: str
    variables: list[str]
    variations: list[VariationIO]
    previews: list[PreviewOut] = []

    @classmethod
    def of(cls, reply: replies.Reply, with_previews: bool = False) -> ReplyOut:
        shown = reply.as_dict()
        return cls(**shown, previews=_previews(reply.variations) if with_previews else [])


class ReplyIn(BaseModel):
    variations: list[VariationIO] = Field(min_length=1, max_length=replies.MAX_VARIATIONS)
    version: str = Field(min_length=1, max_length=64)  # what the admin read: a stale edit is a 409


class PreviewIn(BaseModel):
    variations: list[VariationIO] = Field(min_length=1, max_length=replies.MAX_VARIATIONS)


class PreviewResult(BaseModel):
    previews: list[PreviewOut]
    problem: dict[str, str] | None  # what saving would answer with 422 ({field, message}), shown as one types


def _previews(variations: tuple[replies.Variation, ...]) -> list[PreviewOut]:
    return [PreviewOut(country=p.country, locale=p.locale, variation=p.variation, text=p.text,
                       encoding=p.size.encoding, units=p.size.units, segments=p.size.segments)
            for p in replies.previews(variations)]


def _variations(body: list[VariationIO]) -> tuple[replies.Variation, ...]:
    return tuple(replies.variation_of(variation.model_dump()) for variation in body)


def _reply(name: str) -> replies.Reply:
    try:
        return tuning.replies().get(name)
    except LookupError as exc:
        raise HTTPException(404, detail=f"No hay ninguna respuesta {name} en domain.yml.") from exc


@router.get("/replies", response_model=list[ReplyOut])
def reply_list(principal: CurrentPrincipal, q: str | None = Query(default=None, max_length=200)) -> list[ReplyOut]:
    require_admin_reader(principal)
    return [ReplyOut.of(reply) for reply in tuning.replies().all(q)]


@router.get("/replies/{name}", response_model=ReplyOut)
def reply_detail(name: str, principal: CurrentPrincipal) -> ReplyOut:
    require_admin_reader(principal)
    return ReplyOut.of(_reply(name), with_previews=True)


@router.post("/replies/{name}/preview", response_model=PreviewResult)
def reply_preview(name: str, body: PreviewIn, principal: CurrentPrincipal) -> PreviewResult:
    """The variations filled in for a sample debtor of each country, and what saving them would say: nothing
    is written."""
    require_admin_reader(principal)
    current, variations = _reply(name), _variations(body.variations)
    try:
        tuning.replies().check(current, variations)
        problem = None
    except InvalidEdit as exc:
        problem = {"field": exc.field, "message": str(exc)}
    return PreviewResult(previews=_previews(variations), problem=problem)


@router.put("/replies/{name}", response_model=ReplyOut)
def edit_reply(name: str, body: ReplyIn, principal: CurrentPrincipal, session: DbSession) -> ReplyOut:
    """All the variations at once; 422 names the variation and the problem, 409 carries the current ones."""
    require_admin_writer(principal)
    _reply(name)
    tuning.edit_reply(session, principal.user_id, name, _variations(body.variations), body.version, utcnow())
    return ReplyOut.of(_reply(name), with_previews=True)


@router.get("/history", response_model=list[ChangeOut])
def history(principal: CurrentPrincipal, session: DbSession, kind: str | None = None,
            limit: int = Query(default=100, ge=1, le=500)) -> list[ChangeOut]:
    require_admin_reader(principal)
    return [ChangeOut.of(change) for change in tuning.history(session, kind, limit)]


@router.post("/history/{change_id}/revert", response_model=ChangeOut)
def revert(change_id: int, principal: CurrentPrincipal, session: DbSession) -> ChangeOut:
    require_admin_writer(principal)
    try:
        return ChangeOut.of(tuning.revert(session, principal.user_id, change_id, utcnow()).change)
    except LookupError as exc:
        raise HTTPException(404, detail="not found") from exc
