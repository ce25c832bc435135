"""Rasa checks every action server answer against its JSON schema with `jsonschema.validate`, which first checks
the schema itself against the metaschema: the same constant schema, every call. And each event of the answer is
checked against all 23 event schemas of a `oneOf` (exactly one must match), where its `event` name already says
which one it can be (README, "Performance"). This checks the schema once, when the server starts, and each event
of an answer against the one schema its name picks, with validators built then. An answer that passes is one
Rasa's check passes too (the branch its name picks matches, and no other branch can: each pins a different
name); an answer that does not goes through Rasa's own check, so the verdict and its error are Rasa's."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

_RASAS_CHECK: Callable[[RemoteAction, dict[str, Any]], bool] = RemoteAction._validate_action_result
AnswerCheck = Callable[[Any], bool]


def _one_validator(schema: dict[str, Any]) -> AnswerCheck:
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema).is_valid


def _by_event_name(schema: dict[str, Any]) -> AnswerCheck | None:
    """None if the schema is not the shape this relies on (a Rasa upgrade): then one validator checks it all."""
    events = schema.get("properties", {}).get("events", {})
    event = events.get("items", {})
    branches = event.get("oneOf", [])
    names = [branch.get("properties", {}).get("event", {}).get("const") for branch in branches]
    if set(events) != {"type", "items"} or events["type"] != "array" or "$schema" in schema or not branches \
            or not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        return None
    common = {key: value for key, value in event.items() if key != "oneOf"}
    per_name = {name: _one_validator({"allOf": [common, branch]}) for name, branch in zip(names, branches, strict=True)}
    rest = _one_validator({**schema, "properties": {key: value for key, value in schema["properties"].items()
                                                    if key != "events"}})

    def by_event_name(answer: Any) -> bool:
        if not rest(answer):
            return False
        answered_events = answer.get("events", [])
        if not isinstance(answered_events, list):
            return False
        for answered in answered_events:
            name = answered.get("event") if isinstance(answered, dict) else None
            is_valid = per_name.get(name) if isinstance(name, str) else None
            if is_valid is None or not is_valid(answered):
                return False
        return True

    return by_event_name


def check_action_answers_by_event_name() -> None:
    """Replace RemoteAction's check of an action server's answer by the per-event-name one, validators built once
    (one validator for the whole schema if it is not of the shape that relies on)."""
    schema = RemoteAction.action_response_format_spec()
    is_valid = _by_event_name(schema) or _one_validator(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        if is_valid(result):
            return True
        return _RASAS_CHECK(self, result)  # raises Rasa's ValidationError, with its message

    validate_action_result.answers_checked_by = is_valid.__name__  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate_action_result
