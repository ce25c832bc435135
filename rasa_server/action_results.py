"""Rasa checks every action server answer against its JSON schema with `jsonschema.validate`, which first checks
the schema itself against the metaschema: the same constant schema, every call, more than half of the check's
time (README, "Performance"). This checks the schema once, when the server starts, and each answer against a
validator built then; an answer that fails goes through Rasa's own check, so its error reads as Rasa's."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

_RASAS_CHECK: Callable[[RemoteAction, dict[str, Any]], bool] = RemoteAction._validate_action_result


def check_action_results_with_one_validator() -> None:
    """Replace RemoteAction's check of an action server's answer by one that builds its validator once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        if validator.is_valid(result):
            return True
        return _RASAS_CHECK(self, result)  # raises Rasa's ValidationError, with its message

    RemoteAction._validate_action_result = validate_action_result
