"""Who may see and do what: the one place where role and creditor scope are decided.

A person sees a conversation when its debtor has an account with one of their creditors (all creditors for
an unscoped person; a conversation with no known debtor only then). An agent acts only on conversations
that are not held by another agent; supervisors and admins act on any they see. Every route of the agent
API asks here, through `conversation_for` and `require_role`, and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from bot.ledger.models import Account, Conversation, ConversationMode, Role, User


class AccessDenied(PermissionError):
    """The person is known but may not do this (HTTP 403)."""


class NotVisible(LookupError):
    """Not found, or not theirs to see: the same answer, so scope leaks nothing (HTTP 404)."""


class Conflict(RuntimeError):
    """The conversation is not in a state that allows this (HTTP 409); `details` says why."""

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class Principal:
    """A signed-in person as every check sees them."""

    user_id: int
    email: str
    role: Role
    creditor_ids: frozenset[int] | None  # None: every creditor
    address: str | None = None  # the client's address, for the audit log

    @classmethod
    def of(cls, user: User, address: str | None = None) -> Principal:
        scope = None if user.all_creditors or user.role is Role.ADMIN else frozenset(c.id for c in user.creditors)
        return cls(user.id, user.email, user.role, scope, address)

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"

    @property
    def oversees_others(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise AccessDenied(f"needs role {' or '.join(roles)}")


def require_admin_reader(principal: Principal) -> None:
    """The admin pages' data (training examples, replies, policies, history): supervisors read it too."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)


def require_admin_writer(principal: Principal) -> None:
    """Changing what the bot knows or says, or how it negotiates: admins only."""
    require_role(principal, Role.ADMIN)


def creditors_to_report(principal: Principal, requested: int | None) -> frozenset[int] | None:
    """The creditors whose numbers the reader sees: supervisors and admins, within their creditors; asking for
    another creditor is answered as if it did not exist."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    if requested is None:
        return principal.creditor_ids
    if principal.creditor_ids is not None and requested not in principal.creditor_ids:
        raise NotVisible("creditor")
    return frozenset({requested})


def in_scope(principal: Principal) -> ColumnElement[bool]:
    """SQL: the conversation's debtor has an account with one of the principal's creditors."""
    if principal.creditor_ids is None:
        return true()
    if not principal.creditor_ids:
        return false()
    return exists(select(Account.id).where(Account.debtor_id == Conversation.debtor_id,
                                           Account.creditor_id.in_(principal.creditor_ids)))


def account_in_scope(principal: Principal) -> ColumnElement[bool]:
    """SQL: an account of one of the principal's creditors (a debtor may owe several; each sees their own)."""
    if principal.creditor_ids is None:
        return true()
    return Account.creditor_id.in_(principal.creditor_ids) if principal.creditor_ids else false()


def visible(principal: Principal) -> ColumnElement[bool]:
    """SQL: conversations this person may see (an agent not those another agent holds)."""
    if principal.oversees_others:
        return in_scope(principal)
    return and_(in_scope(principal), or_(Conversation.mode != ConversationMode.AGENT,
                                         Conversation.assigned_user_id == principal.user_id,
                                         Conversation.assigned_user_id.is_(None)))


def conversation_for(session: Session, principal: Principal, conversation_id: int, *,
                     lock: bool = False) -> Conversation:
    """The conversation if this person may see it, else NotVisible (the same for missing and out of scope)."""
    query = select(Conversation).where(Conversation.id == conversation_id, visible(principal))
    conversation = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if conversation is None:
        raise NotVisible("conversation not found")
    return conversation


def conversation_in_scope(session: Session, principal: Principal, conversation_id: int) -> Conversation:
    """The conversation if it is of the principal's creditors, whoever holds it (to tell a claimer who won)."""
    conversation = session.scalars(select(Conversation).where(Conversation.id == conversation_id,
                                                              in_scope(principal))).one_or_none()
    if conversation is None:
        raise NotVisible("conversation not found")
    return conversation


def require_holder(principal: Principal, conversation: Conversation) -> None:
    """Acting on a conversation another person holds is for supervisors and admins only."""
    held_by_other = (conversation.mode is ConversationMode.AGENT and conversation.assigned_user_id is not None
                     and conversation.assigned_user_id != principal.user_id)
    if held_by_other and not principal.oversees_others:
        raise Conflict("held_by_another_agent", assigned_user_id=conversation.assigned_user_id)


