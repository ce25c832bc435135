"""HTML pages from Jinja templates (api/templates/), escaped by default; their words from config/messages.yml."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.common.copy import app_message

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"  # the console's script and styles


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                       auto_reload=False)


def render_page(template: str, status_code: int = 200, /, **context: object) -> HTMLResponse:
    return HTMLResponse(_environment().get_template(template).render(**context), status_code=status_code)


def notice_page(name: str, status_code: int = 200) -> HTMLResponse:
    """A one-paragraph page whose words are config/messages.yml's `page_<name>_title` and `page_<name>_text`."""
    return render_page("notice.html", status_code, title=app_message(f"page_{name}_title"),
                       text=app_message(f"page_{name}_text"))
