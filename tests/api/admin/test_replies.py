"""The bot's replies (domain.yml responses) edited through the admin API on a copy of the training files: roles,
a live preview per country with its SMS size, each bad edit a clear 422 naming the variation and no file
changed, a stale edit a 409 with the current variations, a good one written as the lines of that one response
(the rest of domain.yml byte for byte) and undone from the history."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.api.admin.conftest import auth, fingerprint

RETRY = "utter_identity_retry"


def reply(api: TestClient, tokens: dict[str, str], name: str = RETRY) -> dict[str, Any]:
    response = api.get(f"/api/admin/replies/{name}", headers=auth(tokens, "admin"))
    assert response.status_code == 200, response.text
    return response.json()


def with_text(current: dict[str, Any], index: int, text: str) -> list[dict[str, Any]]:
    variations = [dict(variation) for variation in current["variations"]]
    variations[index]["text"] = text
    return variations


def test_roles_on_the_replies(api: TestClient, tokens: dict[str, str], project: Path) -> None:
    assert api.get("/api/admin/replies", headers=auth(tokens, "agent")).status_code == 403
    listed = api.get("/api/admin/replies", params={"q": "no coincide"}, headers=auth(tokens, "supervisor"))
    assert listed.status_code == 200 and RETRY in [r["name"] for r in listed.json()]
    current = reply(api, tokens)
    body = {"variations": current["variations"], "version": current["version"]}
    before = fingerprint(project)
    assert api.put(f"/api/admin/replies/{RETRY}", json=body, headers=auth(tokens, "supervisor")).status_code == 403
    assert api.put(f"/api/admin/replies/{RETRY}", json=body, headers=auth(tokens, "agent")).status_code == 403
    assert api.get("/api/admin/replies/utter_nonexistent", headers=auth(tokens, "admin")).status_code == 404
    assert fingerprint(project) == before


def test_the_preview_fills_a_sample_debtor_of_each_country_and_counts_sms_segments(
        api: TestClient, tokens: dict[str, str], project: Path) -> None:
    current = reply(api, tokens, "utter_payment_link")
    by_country = {p["country"]: p for p in current["previews"]}
    assert set(by_country) == {"AR", "CL", "CO", "MX", "PE"}
    assert "$1,830.55" in by_country["MX"]["text"] and "$1.830,55" in by_country["AR"]["text"]
    assert "{" not in "".join(p["text"] for p in current["previews"])

    preview = api.post(f"/api/admin/replies/{RETRY}/preview", headers=auth(tokens, "supervisor"), json={
        "variations": [{"text": "Te quedan {attempts_left} intentos, ¿me lo escribís?",
                        "condition": [{"type": "slot", "name": "voseo", "value": True}]},
                       {"text": "Te quedan {attempts_left} intentos"}]})
    assert preview.status_code == 200 and preview.json()["problem"] is None
    shown = {p["country"]: p for p in preview.json()["previews"]}
    assert shown["AR"]["text"] == "Te quedan 2 intentos, ¿me lo escribís?" and shown["AR"]["variation"] == 0
    assert shown["AR"]["encoding"] == "UCS-2"  # the í
    assert shown["MX"] == {"country": "MX", "locale": "es_MX", "variation": 1, "text": "Te quedan 2 intentos",
                           "encoding": "GSM-7", "units": 20, "segments": 1}
    long = api.post(f"/api/admin/replies/{RETRY}/preview", headers=auth(tokens, "admin"),
                    json={"variations": [{"text": "Quedan {attempts_left} intentos, ¿sí? " * 6}]}).json()
    assert long["previews"][0]["segments"] == 3
    assert long["problem"]["field"] == "variations.0" and "3 SMS" in long["problem"]["message"]


@pytest.mark.parametrize(("variations", "field", "words"), [
    ([{"text": "Te quedan {intentos} intentos."}], "variations.0", "{intentos} no existe"),
    ([{"text": "Te quedan {attempts_left intentos."}], "variations.0", "llave"),
    ([{"text": "   "}], "variations.0", "vacío"),
    ([{"text": "Otra vez, por favor."}, {"text": "Ese dato no coincide. " * 14}], "variations.1", "SMS"),
    ([{"text": "Otra vez.", "condition": [{"type": "slot", "name": "voseo", "value": True}]}], "variations",
     "sin condición"),
    ([{"text": "Otra vez."}, {"text": "Otra vez.", "condition": [{"type": "slot", "name": "zodiaco", "value": 1}]}],
     "variations.1", "zodiaco"),
    ([{"text": "Otra vez."}, {"text": "Otra  vez."}], "variations.1", "repite"),
])
def test_a_bad_reply_is_refused_next_to_its_variation_and_changes_nothing(
        api: TestClient, tokens: dict[str, str], project: Path, variations: list[dict[str, Any]], field: str,
        words: str) -> None:
    before = fingerprint(project)
    current = reply(api, tokens)
    response = api.put(f"/api/admin/replies/{RETRY}", headers=auth(tokens, "admin"),
                       json={"variations": variations, "version": current["version"]})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == field and words in response.json()["detail"]["message"]
    assert fingerprint(project) == before


def test_an_edit_rewrites_that_reply_only_and_is_undone_from_the_history(
        api: TestClient, tokens: dict[str, str], project: Path) -> None:
    domain = project / "domain.yml"
    original = domain.read_text(encoding="utf-8")
    current = reply(api, tokens)
    new_text = "Ese dato no coincide con lo que tenemos. Te quedan {attempts_left} intentos: ¿me lo escribes otra vez?"
    variations = with_text(current, 1, new_text) + [{"text": "Mmm, no coincide. Quedan {attempts_left} intentos."}]
    saved = api.put(f"/api/admin/replies/{RETRY}", headers=auth(tokens, "admin"),
                    json={"variations": variations, "version": current["version"]})
    assert saved.status_code == 200, saved.text
    assert [v["text"] for v in saved.json()["variations"]][1:] == [new_text, variations[2]["text"]]

    written = domain.read_text(encoding="utf-8")
    assert yaml.safe_load(written)["responses"][RETRY][1] == {"text": new_text}
    old_lines, new_lines = original.splitlines(), written.splitlines()
    changed = [line for line in new_lines if line not in old_lines]
    assert changed == [f'    - text: "{new_text}"', f'    - text: "{variations[2]["text"]}"']
    assert len(new_lines) == len(old_lines) + 1  # one line edited, one added: nothing else moved

    stale = api.put(f"/api/admin/replies/{RETRY}", headers=auth(tokens, "admin"),
                    json={"variations": current["variations"], "version": current["version"]})
    assert stale.status_code == 409
    assert stale.json()["detail"]["reply"]["variations"][1]["text"] == new_text

    change = api.get("/api/admin/history", params={"kind": "reply"}, headers=auth(tokens, "admin")).json()[0]
    assert change["target"] == RETRY and change["after"]["variations"][1]["text"] == new_text
    assert [{"condition": [], **v} for v in change["before"]["variations"]] == current["variations"]
    undone = api.post(f"/api/admin/history/{change['id']}/revert", headers=auth(tokens, "admin"))
    assert undone.status_code == 200, undone.text
    assert domain.read_text(encoding="utf-8") == original  # byte for byte


def test_every_variable_the_domain_uses_has_a_sample_and_every_reply_reads_back_as_written(
        api: TestClient, tokens: dict[str, str], project: Path) -> None:
    """The preview never shows a raw {variable}, and re-saving any reply unchanged leaves domain.yml identical."""
    original = (project / "domain.yml").read_text(encoding="utf-8")
    everything = api.get("/api/admin/replies", headers=auth(tokens, "admin")).json()
    assert len(everything) == len(yaml.safe_load(original)["responses"])
    for listed in everything:
        detail = reply(api, tokens, listed["name"])
        assert "{" not in "".join(p["text"] for p in detail["previews"]), listed["name"]
    for name in ("utter_identity_retry", "utter_plan_proposal", "utter_account_balance_overdue"):
        current = reply(api, tokens, name)
        same = api.put(f"/api/admin/replies/{name}", headers=auth(tokens, "admin"),
                       json={"variations": current["variations"], "version": current["version"]})
        assert same.status_code == 200, same.text
    assert (project / "domain.yml").read_text(encoding="utf-8") == original
