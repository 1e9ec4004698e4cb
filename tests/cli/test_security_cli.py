"""`siyu keys rotate`, `siyu operators …`, `siyu members erase|export`, with `--as` checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from siyu.core.config import Settings
from siyu.core.crypto import FieldCipher, configure_crypto
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.identity.models import Member
from siyu.security import service as security
from siyu.security.enums import Role
from siyu.security.models import Operator
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.cli import run
from tests.support.names import OWNER_EMAIL, OWNER_PASSWORD
from tests.support.people import make_person


def test_keys_rotate_adds_a_key_and_reencrypts_everything(
    cli: CliRunner, db: Database, settings: Settings, mp_app: AppRead, tmp_path: Path
) -> None:
    # given an .env holding the current keys
    env_file = tmp_path / ".env"
    env_file.write_text(f"SIYU_DATA_KEYS={settings.data_keys.get_secret_value()}\n")
    # when the owner rotates
    code, output = run(cli, "keys", "rotate", "--env-file", str(env_file), "--batch", "2")
    # then a new key leads the list, the old one stays, and every value is under the new key
    assert code == 0, output
    written = env_file.read_text().strip().removeprefix("SIYU_DATA_KEYS=")
    new_kid = written.split(":")[0]
    assert written.endswith(settings.data_keys.get_secret_value())
    assert new_kid != "t1"
    with db.engine.connect() as conn:
        stored = [v for (v,) in conn.exec_driver_sql("SELECT secret FROM apps") if v]
    assert stored
    assert {FieldCipher.key_id_of(v) for v in stored} == {new_kid}
    configure_crypto(settings.model_copy(update={"data_keys": SecretStr(written)}))
    try:
        code, output = run(cli, "keys", "status")
    finally:
        configure_crypto(settings)
    assert code == 0, output


def test_keys_rotate_without_an_env_file_changes_nothing(
    cli: CliRunner, db: Database, mp_app: AppRead, tmp_path: Path
) -> None:
    code, output = run(cli, "keys", "rotate", "--env-file", str(tmp_path / "missing.env"))
    assert code == 2
    assert "SIYU_DATA_KEYS" in output
    with db.engine.connect() as conn:
        stored = [v for (v,) in conn.exec_driver_sql("SELECT secret FROM apps") if v]
    assert {FieldCipher.key_id_of(v) for v in stored} == {"t1"}


def test_operators_and_the_as_option(cli: CliRunner, db: Database, owner: Principal) -> None:
    code, output = run(cli, "operators", "add", "cs@example.com", "--role", "customer_service")
    assert code == 0, output
    assert "one-time password" in output
    # a customer service operator may not manage operators or rotate keys
    code, output = run(cli, "operators", "list", "--as", "cs@example.com")
    assert code == 1
    assert "security.forbidden" in output
    code, output = run(cli, "keys", "rotate", "--as", "cs@example.com")
    assert code == 1
    code, output = run(cli, "operators", "disable", "cs@example.com")
    assert code == 0, output
    with db.session_scope() as session:
        row = session.scalars(select(Operator).where(Operator.email == "cs@example.com")).one()
    assert row.disabled_at is not None
    assert row.role == Role.customer_service


def test_members_export_and_erase(
    cli: CliRunner,
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    oa_app: AppRead,
    owner: Principal,
) -> None:
    person = make_person(db, workspace_id, mp_app, oa_app, owner)
    with db.session_scope() as session:
        number = session.get(Member, person.member_id).number  # type: ignore[union-attr]
    code, output = run(cli, "members", "export", str(number))
    assert code == 0, output
    assert json.loads(output)["member_id"] == person.member_id
    code, output = run(cli, "members", "erase", str(number))
    assert code == 2  # --yes is required
    code, output = run(cli, "members", "erase", str(number), "--yes")
    assert code == 0, output
    assert json.loads(output)["member_ids"] == [person.member_id, person.merged_id]
    with db.session_scope() as session:
        assert session.get(Member, person.member_id).erased_at is not None  # type: ignore[union-attr]


def test_reset_password_gives_a_locked_out_owner_a_one_time_password(
    cli: CliRunner, db: Database, owner: Principal
) -> None:
    # given an owner who forgot their password; when the server's admin resets it
    code, output = run(cli, "operators", "reset-password", OWNER_EMAIL)
    assert code == 0, output
    found = re.search(r"one-time password: (\S+)", output)
    assert found is not None
    # then the printed password signs in (asking for their own) and the old one does not
    with db.session_scope() as session:
        signed_in = security.authenticate(session, OWNER_EMAIL, found.group(1))
    assert signed_in.password_change_required
    with pytest.raises(SiyuError), db.session_scope() as session:
        security.authenticate(session, OWNER_EMAIL, OWNER_PASSWORD)
    # an unknown email is refused and changes nothing
    code, output = run(cli, "operators", "reset-password", "nobody@example.com")
    assert code == 1
    assert "no operator" in output
