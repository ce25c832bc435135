"""The admin API for training examples and intents, on a copy of the project's data/nlu and domain.yml.

Every action with each role (agent 403, supervisor reads, admin writes), bad input (each a clear error and
no file changed), concurrent edits (409 with the merge view), the history and its revert, and byte-for-byte
files when nothing changed.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.admin import tuning
from bot.common.settings import PROJECT_ROOT
from tests.api.admin.conftest import auth, fingerprint

EXAMPLE = "oigan y si les pago la mitad en diciembre y la otra mitad en [enero](date) se puede"


def test_agents_may_not_look_supervisors_may_not_touch(api: TestClient, tokens: dict[str, str], project: Path) -> None:
    before = fingerprint(project)
    for path in ("/api/admin/nlu/intents", "/api/admin/nlu/examples?intent=greet", "/api/admin/history"):
        assert api.get(path, headers=auth(tokens, "agent")).status_code == 403
        assert api.get(path, headers=auth(tokens, "supervisor")).status_code == 200
        assert api.get(path).status_code == 401
    writes = [("post", "/api/admin/nlu/examples", {"intent": "greet", "text": "quiubo pues"}),
              ("post", "/api/admin/nlu/intents", {"name": "ask_branch"}),
              ("put", "/api/admin/nlu/examples/0123456789abcdef", {"text": "hola"}),
              ("delete", "/api/admin/nlu/examples/0123456789abcdef", None),
              ("post", "/api/admin/history/1/revert", None)]
    for who in ("agent", "supervisor"):
        for method, path, body in writes:
            response = api.request(method, path, json=body, headers=auth(tokens, who))
            assert response.status_code == 403, (who, method, path)
    assert fingerprint(project) == before


def test_an_admin_adds_edits_and_deletes_an_example_in_the_files_rasa_reads(
        api: TestClient, tokens: dict[str, str], project: Path) -> None:
    admin = auth(tokens, "admin")
    added = api.post("/api/admin/nlu/examples", json={"intent": "request_payment_plan", "text": f"  {EXAMPLE} "},
                     headers=admin)
    assert added.status_code == 201, added.text
    example = added.json()
    assert (example["text"], example["entities"]) == (EXAMPLE, [["date", "enero"]])
    assert f"    - {EXAMPLE}\n" in (project / "nlu" / example["file"]).read_text(encoding="utf-8")
    listed = api.get("/api/admin/nlu/examples", params={"intent": "request_payment_plan", "q": "OTRA MITAD EN ENERO"},
                     headers=admin).json()
    assert [item["id"] for item in listed] == [example["id"]]

    annotated = EXAMPLE.replace("diciembre", "[diciembre](date)")
    edited = api.put(f"/api/admin/nlu/examples/{example['id']}", json={"text": annotated}, headers=admin)
    assert edited.status_code == 200, edited.text
    text = (project / "nlu" / example["file"]).read_text(encoding="utf-8")
    assert EXAMPLE not in text and "[diciembre](date)" in text

    deleted = api.delete(f"/api/admin/nlu/examples/{edited.json()['id']}", headers=admin)
    assert deleted.status_code == 200
    assert "la otra mitad en" not in (project / "nlu" / example["file"]).read_text(encoding="utf-8")
    actions = [change["action"] for change in api.get("/api/admin/history", headers=admin).json()]
    assert actions == ["delete", "edit", "add"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"intent": "ask_unicorns", "text": "quiero un unicornio"}, "intent", "No existe el intent"),
    ({"intent": "greet", "text": "hola, debo [500](dinero)"}, "text", "No existe la entidad «dinero»"),
    ({"intent": "greet", "text": "hola [quiero pagar(amount)"}, "text", "mal marcada"),
    ({"intent": "greet", "text": "   "}, "text", "vacío"),
    ({"intent": "greet", "text": "x" * 600}, "text", "500 caracteres"),
])
def test_a_bad_example_gets_a_clear_error_and_changes_nothing(
        api: TestClient, tokens: dict[str, str], project: Path, body: dict[str, str], field: str, words: str) -> None:
    before = fingerprint(project)
    response = api.post("/api/admin/nlu/examples", json=body, headers=auth(tokens, "admin"))
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == field and words in response.json()["detail"]["message"]
    assert fingerprint(project) == before


def test_a_sentence_teaches_one_intent_only(api: TestClient, tokens: dict[str, str], project: Path) -> None:
    [existing] = tuning.training_data().examples("greet")[:1]
    before = fingerprint(project)
    shouted = existing.text.upper()  # case, accents and spacing do not make another sentence
    response = api.post("/api/admin/nlu/examples", json={"intent": "goodbye", "text": shouted},
                        headers=auth(tokens, "admin"))
    assert response.status_code == 422 and "«greet»" in response.json()["detail"]["message"]
    assert fingerprint(project) == before


def test_held_out_sentences_are_never_trained_on(api: TestClient, tokens: dict[str, str], project: Path) -> None:
    heldout = (PROJECT_ROOT / "tests" / "nlu" / "heldout.yml").read_text(encoding="utf-8")
    sentence = next(line.strip()[2:] for line in heldout.splitlines() if line.startswith("    - "))
    response = api.post("/api/admin/nlu/examples", json={"intent": "greet", "text": sentence},
                        headers=auth(tokens, "admin"))
    assert response.status_code == 422 and "evaluación" in response.json()["detail"]["message"]


def test_two_admins_editing_the_same_example_never_overwrite_each_other(
        api: TestClient, tokens: dict[str, str], project: Path) -> None:
    admin = auth(tokens, "admin")
    example = api.post("/api/admin/nlu/examples", json={"intent": "request_payment_plan", "text": EXAMPLE},
                       headers=admin).json()
    first = api.put(f"/api/admin/nlu/examples/{example['id']}", json={"text": EXAMPLE + " porfa"}, headers=admin)
    assert first.status_code == 200
    after_first = fingerprint(project)
    second = api.put(f"/api/admin/nlu/examples/{example['id']}?intent=request_payment_plan",
                     json={"text": EXAMPLE + " gracias"}, headers=admin)  # still holding the old version
    assert second.status_code == 409
    merge_view = second.json()["detail"]["current"]
    assert EXAMPLE + " porfa" in [item["text"] for item in merge_view]
    assert fingerprint(project) == after_first


def test_a_change_is_reverted_from_the_history(api: TestClient, tokens: dict[str, str], project: Path) -> None:
    admin = auth(tokens, "admin")
    before = fingerprint(project)
    example = api.post("/api/admin/nlu/examples", json={"intent": "request_payment_plan", "text": EXAMPLE},
                       headers=admin).json()
    api.put(f"/api/admin/nlu/examples/{example['id']}", json={"text": EXAMPLE + " porfa"}, headers=admin)
    history = api.get("/api/admin/history", headers=admin).json()
    edit, add = history[0], history[1]
    assert (edit["before"]["text"], edit["after"]["text"]) == (EXAMPLE, EXAMPLE + " porfa")
    assert api.post(f"/api/admin/history/{edit['id']}/revert", headers=admin).status_code == 200
    assert api.post(f"/api/admin/history/{add['id']}/revert", headers=admin).status_code == 200
    assert fingerprint(project) == before  # byte for byte where it started
    assert api.post(f"/api/admin/history/{add['id']}/revert", headers=admin).status_code == 409  # already undone


def test_a_new_intent_goes_to_the_domain_and_its_examples_to_the_admin_file(
        api: TestClient, tokens: dict[str, str], project: Path) -> None:
    admin = auth(tokens, "admin")
    assert api.post("/api/admin/nlu/intents", json={"name": "ask_branch"}, headers=admin).status_code == 201
    assert api.post("/api/admin/nlu/intents", json={"name": "ask_branch"}, headers=admin).status_code == 422
    assert api.post("/api/admin/nlu/intents", json={"name": "Ask Branch!"}, headers=admin).status_code == 422
    assert "  - ask_branch\n" in (project / "domain.yml").read_text(encoding="utf-8")
    added = api.post("/api/admin/nlu/examples", headers=admin,
                     json={"intent": "ask_branch", "text": "donde queda la sucursal mas cerca"})
    assert added.status_code == 201 and added.json()["file"] == "admin.yml"
    intents = {item["name"]: item["examples"] for item in api.get("/api/admin/nlu/intents", headers=admin).json()}
    assert intents["ask_branch"] == 1
    deleted = api.delete(f"/api/admin/nlu/examples/{added.json()['id']}", headers=admin)
    assert deleted.status_code == 200
    assert "ask_branch" not in (project / "nlu" / "admin.yml").read_text(encoding="utf-8")  # no empty block left
