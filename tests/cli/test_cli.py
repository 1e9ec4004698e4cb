"""The `siyu` command line against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.identity.models import Member, TimelineEvent
from siyu.workspaces.models import App
from tests.support.cli import count, run
from tests.support.names import MP_APPID, OA_APPID, openid


def test_help_explains_each_command(cli: CliRunner) -> None:
    code, output = run(cli, "--help")
    assert code == 0
    for command in ("serve", "worker", "migrate", "apps", "import", "members"):
        assert command in output


def test_migrate_bootstrap_and_apps(cli: CliRunner, db: Database) -> None:
    assert run(cli, "migrate")[0] == 0
    code, output = run(cli, "bootstrap")
    assert code == 0
    assert "one-time password" in output
    assert "nothing to do" in run(cli, "bootstrap")[1]
    code, output = run(
        cli,
        "apps",
        "add",
        "mp",
        MP_APPID,
        "--name",
        "打卡小程序",
        "--entity",
        "示例教育",
        "--secret",
        "sekret",
    )
    assert code == 0, output
    code, output = run(cli, "apps", "list")
    assert MP_APPID in output
    assert "sekret" not in output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["apps", "add", "miniapp", MP_APPID, "--name", "x"], 2),
        (["apps", "add", "mp", "wx-bad", "--name", "x"], 2),
        (["apps", "add", "mp", MP_APPID, "--name", "x", "--aes-key", "short"], 2),
    ],
)
def test_bad_app_arguments_exit_nonzero_and_write_nothing(
    cli: CliRunner, db: Database, args: list[str], code: int
) -> None:
    exit_code, output = run(cli, *args)
    assert exit_code == code, output
    assert count(db, App) == 0


def test_duplicate_app_exits_1(cli: CliRunner) -> None:
    assert run(cli, "apps", "add", "mp", MP_APPID, "--name", "x")[0] == 0
    code, output = run(cli, "apps", "add", "mp", MP_APPID, "--name", "x")
    assert code == 1
    assert "workspaces.app_exists" in output


def test_import_reports_rejected_lines_and_members_show(
    cli: CliRunner, db: Database, tmp_path: Path
) -> None:
    run(cli, "apps", "add", "mp", MP_APPID, "--name", "小程序")
    run(cli, "apps", "add", "oa-service", OA_APPID, "--name", "服务号")
    good = {
        "event": "mp.login",
        "ts": "2026-11-01T09:00:00+08:00",
        "appid": MP_APPID,
        "openid": openid(1),
        "unionid": openid(9, "u"),
        "phone": "13800138000",
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "event": "oa.subscribe", "appid": OA_APPID, "openid": openid(2)}),
        "{broken",
        "",
        json.dumps({**good, "ts": "2026-11-01T09:00:00"}),
        json.dumps({**good, "appid": "wxffffffffffffffff"}),
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "rejected.jsonl"
    code, output = run(cli, "import", "events", str(source), "--report", str(report))
    assert code == 0, output
    assert "imported 2" in output
    assert "3 rejected" in output
    rejected = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["line"], r["code"]) for r in rejected] == [
        (3, "events.invalid"),
        (5, "events.invalid"),
        (6, "workspaces.unknown_app"),
    ]
    assert (count(db, Member), count(db, TimelineEvent)) == (1, 2)
    code, output = run(cli, "members", "show", "10001")
    assert code == 0
    assert openid(2) in output
    assert "138****8000" in output
    assert "oa.subscribe" in output
    assert "13800138000" not in output


def test_members_show_unknown_number_exits_1(cli: CliRunner, db: Database) -> None:
    code, output = run(cli, "members", "show", "10001")
    assert code == 1
    assert "identity.member_not_found" in output


def test_keys_generate_prints_usable_settings(cli: CliRunner) -> None:
    code, output = run(cli, "keys", "generate")
    assert code == 0
    values = dict(line.split("=", 1) for line in output.strip().splitlines())
    settings = Settings(
        env="production",
        _env_file=None,
        **{  # type: ignore[arg-type]
            k.removeprefix("SIYU_").lower(): v for k, v in values.items()
        },
    )
    assert settings.env == "production"


def test_refuses_default_secrets_outside_development(cli: CliRunner) -> None:
    unset: dict[str, str | None] = dict.fromkeys(
        ("SIYU_SECRET_KEY", "SIYU_DATA_KEYS", "SIYU_LOOKUP_KEY")
    )
    result = cli.invoke(app, ["migrate"], env={"SIYU_ENV": "production", **unset})
    assert result.exit_code == 2
    assert "development defaults" in result.output


def test_pay_reconcile_needs_a_merchant_and_a_date(cli: CliRunner, db: Database) -> None:
    # without a merchant there is nothing to compare with
    code, output = run(cli, "pay", "reconcile", "--date", "2026-11-19")
    assert code == 1
    assert "no WeChat Pay merchant" in output
    # a date that is not one is refused before anything runs
    assert run(cli, "pay", "reconcile", "--date", "19/11/2026")[0] == 2


def test_bootstrap_demo_makes_a_merchant_whose_secrets_are_not_printed(
    cli: CliRunner, db: Database
) -> None:
    from siyu.wechat.pay.models import PayMerchant

    code, output = run(cli, "bootstrap", "--demo")
    assert code == 0, output
    assert "demo merchant" in output
    assert "PRIVATE KEY" not in output
    assert count(db, PayMerchant) == 1
