"""The configuration files admins own (limits, canned replies, hand-off keywords, cadences), edited through the
admin API on a copy of config/: each bad edit a clear 422 and no file changed, a stale edit a 409 with the
current text, a good one read at once by the product, kept in the history and undone from it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.common import config
from bot.common.settings import PROJECT_ROOT, get_settings
from bot.negotiation.policy import PolicyEngine
from tests.api.admin.conftest import auth, fingerprint


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    monkeypatch.setenv("CONFIG_DIR", str(tmp_path / "config"))
    get_settings.cache_clear()
    return tmp_path / "config"


def current(api: TestClient, tokens: dict[str, str], name: str) -> dict[str, str]:
    response = api.get(f"/api/admin/config/{name}", headers=auth(tokens, "admin"))
    assert response.status_code == 200
    return response.json()


def test_roles_on_the_config_files(api: TestClient, tokens: dict[str, str], config_copy: Path) -> None:
    assert api.get("/api/admin/config/policy", headers=auth(tokens, "agent")).status_code == 403
    read = api.get("/api/admin/config/policy", headers=auth(tokens, "supervisor"))
    assert read.status_code == 200 and read.json()["text"] == (config_copy / "policy.yml").read_text(encoding="utf-8")
    body = {"text": read.json()["text"], "version": read.json()["version"]}
    assert api.put("/api/admin/config/policy", json=body, headers=auth(tokens, "supervisor")).status_code == 403
    assert api.get("/api/admin/config/countries", headers=auth(tokens, "admin")).status_code == 404  # not editable


@pytest.mark.parametrize(("name", "old", "new", "words"), [
    ("policy", "    max_installments: 6\n", "    max_installments: 40\n", "un rol no puede ofrecer más"),
    ("policy", "    min_down_payment_pct: 10\n", "    min_down_payment_pct: 1\n", "no puede pedir menos"),
    ("policy", "    max_installments: 6\n", "    max_installments: -2\n", "max_installments"),
    ("policy", "    settlement_valid_days: 3\n", "    settlement_valid_days: 3\n    cuotas_gratis: 2\n", "unknown key"),
    ("canned_replies", "{nombre}, tu saldo", "{apodo}, tu saldo", "{apodo} no existe"),
    ("canned_replies", "¿En qué te puedo ayudar?", "¿En qué te puedo ayudar? " + "Gracias " * 12, "dos SMS"),
    ("handoff", "  - abogado\n", "  - 42\n", "keywords"),
    ("campaigns", "message: reminder_upcoming}", "message: reminder_inexistente}", "reminder_inexistente"),
    ("campaigns", "offset_days: -3,", "offset_days: tres,", "offset_days"),
    ("policy", "roles:\n", "roles: [\n", "YAML"),
])
def test_a_bad_edit_is_refused_with_the_reason_and_changes_nothing(
        api: TestClient, tokens: dict[str, str], config_copy: Path, name: str, old: str, new: str, words: str) -> None:
    before = fingerprint(config_copy)
    file = current(api, tokens, name)
    assert old in file["text"], old
    response = api.put(f"/api/admin/config/{name}", headers=auth(tokens, "admin"),
                       json={"text": file["text"].replace(old, new, 1), "version": file["version"]})
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]["message"]
    assert fingerprint(config_copy) == before


def test_a_good_edit_applies_at_once_and_is_undone_from_the_history(
        api: TestClient, tokens: dict[str, str], config_copy: Path) -> None:
    admin = auth(tokens, "admin")
    original = (config_copy / "handoff.yml").read_bytes()
    file = current(api, tokens, "handoff")
    edited = api.put("/api/admin/config/handoff", headers=admin,
                     json={"text": file["text"].replace("  - abogado\n", "  - abogado\n  - notario\n"),
                           "version": file["version"]})
    assert edited.status_code == 200
    assert "notario" in config.handoff_keywords()  # the product reads the new list without a restart
    [change] = [c for c in api.get("/api/admin/history", headers=admin).json() if c["kind"] == "config:handoff"]
    assert api.post(f"/api/admin/history/{change['id']}/revert", headers=admin).status_code == 200
    assert (config_copy / "handoff.yml").read_bytes() == original
    assert "notario" not in config.handoff_keywords()


def test_a_stale_edit_gets_the_current_text_not_an_overwrite(
        api: TestClient, tokens: dict[str, str], config_copy: Path) -> None:
    admin = auth(tokens, "admin")
    read_by_both = current(api, tokens, "policy")
    first = read_by_both["text"].replace("    max_promise_days: 15\n", "    max_promise_days: 10\n", 1)
    assert api.put("/api/admin/config/policy", json={"text": first, "version": read_by_both["version"]},
                   headers=admin).status_code == 200
    second = read_by_both["text"].replace("    settlement_valid_days: 3\n", "    settlement_valid_days: 2\n", 1)
    stale = api.put("/api/admin/config/policy", json={"text": second, "version": read_by_both["version"]},
                    headers=admin)
    assert stale.status_code == 409 and stale.json()["detail"]["text"] == first
    assert (config_copy / "policy.yml").read_text(encoding="utf-8") == first
    limits = PolicyEngine(config_copy / "policy.yml")._raw()["roles"]["bot"]
    assert (limits["max_promise_days"], limits["settlement_valid_days"]) == (10, 3)
