"""The agent console's pages: server-rendered frames whose JavaScript (api/static/console.js) works only
through the agent API, with the session cookie and its CSRF token. Sign-in and sign-out are in api/auth.py."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import ConsolePrincipal, csrf_token
from api.deps import DbSession
from api.pages import render_page
from bot.agents.access import NotVisible, Principal, conversation_for

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
ROLE_LABELS = {"agent": "Agente", "supervisor": "Supervisión", "admin": "Administración"}


def _frame(request: Request, principal: Principal, page: str, title: str, **context: object) -> dict[str, object]:
    return {"csrf": csrf_token(request), "email": principal.email, "role_label": ROLE_LABELS[principal.role],
            "oversees": principal.oversees_others, "page": page, "title": title, **context}


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, principal: ConsolePrincipal) -> HTMLResponse:
    return render_page("console/queue.html", **_frame(request, principal, "queue", "Bandeja"))


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(conversation_id: int, request: Request, principal: ConsolePrincipal,
                      session: DbSession) -> HTMLResponse:
    """404 for a conversation out of the person's reach, the same as one that does not exist."""
    try:
        conversation_for(session, principal, conversation_id)
    except NotVisible:
        return render_page("console/not_found.html", 404, **_frame(request, principal, "missing", "No encontrada"))
    return render_page("console/conversation.html", **_frame(request, principal, "conversation", "Conversación",
                                                               conversation_id=conversation_id))


@router.get("/supervision", response_class=HTMLResponse)
def supervision_page(request: Request, principal: ConsolePrincipal) -> HTMLResponse:
    if not principal.oversees_others:
        return render_page("console/not_found.html", 404, **_frame(request, principal, "missing", "No encontrada"))
    return render_page("console/supervision.html", **_frame(request, principal, "supervision", "Supervisión"))


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, principal: ConsolePrincipal) -> HTMLResponse:
    """The bot's training: the NLU inbox, examples per intent, and the history of changes (admins edit;
    supervisors read). Everything on it goes through the admin API, which checks the role again."""
    if not principal.oversees_others:
        return render_page("console/not_found.html", 404, **_frame(request, principal, "missing", "No encontrada"))
    return render_page("console/admin.html", **_frame(request, principal, "admin", "Ajustes del bot",
                                                      can_edit=principal.role == "admin"))
