"""``ecorec keys create`` prints a key once and stores only its hash."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ecorec.cli.app import app
from ecorec.service.auth import KeyStore, Role


def test_keys_create_prints_a_working_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ecorec.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "create", "--role", "admin", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    key = json.loads(result.stdout)["key"]
    store = KeyStore(url)
    principal = store.verify(key)
    store.close()
    assert principal is not None and principal.role is Role.ADMIN


def test_keys_create_refuses_a_user_token_without_a_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ecorec.db'}"
    result = CliRunner().invoke(app, ["keys", "create", "--role", "user", "--db", url])
    assert result.exit_code == 1
    assert "user_id" in result.output
