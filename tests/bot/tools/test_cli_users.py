"""`acuerdo create-user / list-users / disable-user`: what an operator types and sees."""
from __future__ import annotations

import io

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlalchemy import select

from bot.agents import users
from bot.ledger.db import session_scope
from bot.ledger.models import Creditor, User
from bot.tools.cli import main

PASSWORD = "correct horse battery"


@pytest.fixture
def creditors(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher.from_parameters(CHEAPEST))
    with session_scope() as session:
        session.add_all([Creditor(code="banco-aurora", name="Banco Aurora"),
                         Creditor(code="finanzas-norte", name="Finanzas del Norte")])


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_create_list_and_disable(creditors: None, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert main(["create-user", "Ana@Acuerdo.example", "--role", "agent", "--creditor", "banco-aurora",
                 "--creditor", "finanzas-norte", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "created agent ana@acuerdo.example (banco-aurora, finanzas-norte)\n"
    stdin(monkeypatch, PASSWORD + "\r\n")
    assert main(["create-user", "sofia@acuerdo.example", "--role", "supervisor", "--all-creditors",
                 "--password-stdin"]) == 0
    stdin(monkeypatch, PASSWORD)
    assert main(["create-user", "root@acuerdo.example", "--role", "admin", "--password-stdin"]) == 0
    capsys.readouterr()
    with session_scope() as session:
        user = session.scalars(select(User).where(User.email == "sofia@acuerdo.example")).one()
        assert users.verify_password(user.password_hash, PASSWORD)  # the line ending is not part of it

    assert main(["disable-user", "SOFIA@acuerdo.example"]) == 0
    assert capsys.readouterr().out.startswith("disabled sofia@acuerdo.example (since ")
    assert main(["list-users"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ana@acuerdo.example    agent       active    banco-aurora,finanzas-norte",
        "root@acuerdo.example   admin       active    all",
        "sofia@acuerdo.example  supervisor  disabled  all",
    ]


def test_without_stdin_the_password_is_typed_twice(creditors: None, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    typed = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert main(["create-user", "ana@acuerdo.example", "--role", "agent", "--creditor", "banco-aurora"]) == 2
    assert capsys.readouterr().err == "error: the passwords do not match\n"
    typed = iter([PASSWORD, PASSWORD])
    assert main(["create-user", "ana@acuerdo.example", "--role", "agent", "--creditor", "banco-aurora"]) == 0


@pytest.mark.parametrize(("argv", "password", "error"), [
    (["ana", "--role", "agent", "--creditor", "banco-aurora"], PASSWORD, "not an e-mail address: 'ana'"),
    (["ana@acuerdo.example", "--role", "agent", "--creditor", "banco-aurora"], "too short",
     "the password must have at least 12 characters"),
    (["ana@acuerdo.example", "--role", "agent", "--creditor", "nope"], PASSWORD, "unknown creditor: nope"),
    (["ana@acuerdo.example", "--role", "agent"], PASSWORD, "an agent needs at least one creditor (or all creditors)"),
    (["ana@acuerdo.example", "--role", "agent", "--creditor", "banco-aurora"], "",
     "the password must have at least 12 characters"),
])
def test_create_user_errors_are_one_line_and_exit_2(creditors: None, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], argv: list[str],
                                                    password: str, error: str) -> None:
    stdin(monkeypatch, password + "\n" if password else "")
    assert main(["create-user", *argv, "--password-stdin"]) == 2
    assert capsys.readouterr() == ("", f"error: {error}\n")
    with session_scope() as session:
        assert session.scalars(select(User)).first() is None


def test_duplicates_and_unknown_users_exit_2(creditors: None, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        stdin(monkeypatch, PASSWORD + "\n")
        main(["create-user", "ana@acuerdo.example", "--role", "admin", "--password-stdin"])
    assert capsys.readouterr().err == "error: a user ana@acuerdo.example already exists\n"
    assert main(["disable-user", "nobody@acuerdo.example"]) == 2
    assert capsys.readouterr().err == "error: no user nobody@acuerdo.example\n"
    with pytest.raises(SystemExit) as exited:  # argparse's own check
        main(["create-user", "ana@acuerdo.example", "--role", "boss"])
    assert exited.value.code == 2


def test_list_users_with_nobody_says_so(creditors: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-users"]) == 0
    assert capsys.readouterr() == ("", "no users\n")
