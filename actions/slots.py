"""Slot names, and the values the categorical ones take, spelled once (domain.yml declares the slots)."""
from __future__ import annotations

from typing import Final

VERIFIED: Final = "verified"
VOSEO: Final = "voseo"  # answer with "vos" (Argentina): domain responses carry a variation for it
DEBTOR_FIRST_NAME: Final = "debtor_first_name"
PENDING_OFFER: Final = "pending_offer"  # what a bare "sí" or "no" answers
PLAN_OFFER: Final = "plan_offer"  # the plan(s) on the table, as JSON
HANDOFF_REASON: Final = "handoff_reason"  # why a person is on offer; the hand-off keeps it
AWAITING: Final = "awaiting"  # what a bare answer ("el viernes") answers
IDENTITY_ANSWER: Final = "identity_answer"
IDENTITY_FEEDBACK: Final = "identity_feedback"  # said by validate_identity_form, the one prompt
PLAN_REQUEST: Final = "plan_request"  # what the debtor said about the plan (JSON, actions.plan.PlanState)

# Values of PENDING_OFFER
OFFER_OF_A_PERSON: Final = "human"
OFFER_OF_A_PLAN: Final = "plan"
OFFER_TO_STOP: Final = "opt_out"  # "sí" confirms a request to stop contact
OFFER_OF_A_SETTLEMENT: Final = "settlement"  # "sí" sends the link for the one-payment amount on the table

# Values of AWAITING
AWAITING_PROMISE_DATE: Final = "promise_date"
AWAITING_PLAN_DETAILS: Final = "plan_details"  # a plan is being put together: "6", "2000", "el viernes" fill it
