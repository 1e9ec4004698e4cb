"""`siyu apps link`, `siyu menus publish`, `siyu channels add|report`: exit 1 names the limit
or the rule; codes are written where the command says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.config import Settings, get_settings
from siyu.core.db import Database
from siyu.entries.models import Association, Channel, MenuVersion
from siyu.sandbox.world import SandboxWorld
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.entries import audited
from tests.support.names import MP_APPID, OA_APPID
from tests.support.settings import installed

MENU = {"button": [{"type": "view", "name": "官网", "url": "https://example.com/"}]}


@pytest.fixture
def settings(settings: Settings, sandbox_url: str) -> Iterator[Settings]:
    """WeChat at the sandbox, for the commands and for jobs (as for every entries test)."""
    with installed(settings, wechat_api_base=sandbox_url) as pointed:
        yield pointed


@pytest.fixture
def cli(
    settings: Settings,
    db: Database,
    owner: Principal,
    world: SandboxWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    env = {
        "SIYU_ENV": "test",
        "SIYU_DATABASE_URL": settings.database_url,
        "SIYU_SECRET_KEY": settings.secret_key.get_secret_value(),
        "SIYU_DATA_KEYS": settings.data_keys.get_secret_value(),
        "SIYU_LOOKUP_KEY": settings.lookup_key.get_secret_value(),
        "SIYU_QUEUE_PATH": str(settings.queue_path),
        "SIYU_WECHAT_API_BASE": settings.wechat_api_base,
        "SIYU_ENTRIES_OA_OTHER_ENTITY_MPS": "0",
        "SIYU_DATA_DIR": str(tmp_path / "var"),
    }
    get_settings.cache_clear()
    yield CliRunner(env=env)
    get_settings.cache_clear()


def test_apps_link_links_and_a_limit_exits_1_naming_it(
    cli: CliRunner, oa_app: AppRead, mp_app: AppRead, db: Database
) -> None:
    done = cli.invoke(app, ["apps", "link", OA_APPID, MP_APPID, "--notify"])
    assert done.exit_code == 0, done.output
    assert "pending" in done.output
    # an MP of another entity meets the configured limit of 0
    added = cli.invoke(
        app, ["apps", "add", "mp", "wx1111111111111111", "--name", "他人", "--entity", "他人公司"]
    )
    assert added.exit_code == 0, added.output
    refused = cli.invoke(app, ["apps", "link", OA_APPID, "wx1111111111111111"])
    assert refused.exit_code == 1
    assert "oa_other_entity_mps" in refused.output


def test_menus_publish_and_a_broken_rule_exits_1_naming_rule_and_button(
    cli: CliRunner, oa_app: AppRead, world: SandboxWorld, tmp_path: Path
) -> None:
    good = tmp_path / "menu.json"
    good.write_text(json.dumps(MENU, ensure_ascii=False), encoding="utf-8")
    published = cli.invoke(app, ["menus", "publish", OA_APPID, str(good)])
    assert published.exit_code == 0, published.output
    menu = world.account(OA_APPID).menu
    assert menu is not None
    assert menu[0]["url"] == "https://example.com/?from=menu&key=b1"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"button": [{"type": "click", "name": "名" * 6, "key": "k"}]}), encoding="utf-8"
    )
    refused = cli.invoke(app, ["menus", "publish", OA_APPID, str(bad)])
    assert refused.exit_code == 1
    assert "name_bytes" in refused.output
    assert "button[1]" in refused.output
    kept = world.account(OA_APPID).menu
    assert kept is not None
    assert kept[0]["name"] == "官网"  # nothing was published


def test_channels_add_prints_the_code_path_and_the_report_as_json(
    cli: CliRunner, oa_app: AppRead, tmp_path: Path
) -> None:
    added = cli.invoke(
        app,
        [
            "channels", "add", "地铁海报", "--app", OA_APPID, "--kind", "oa-qr-temp",
            "--tag", "地铁", "--tag", "线下", "--welcome", "欢迎！", "--slug", "metro",
            "--out", str(tmp_path / "codes"),
        ],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    path = Path(added.stdout.strip().splitlines()[-1])
    assert path.read_bytes().startswith(b"\x89PNG")
    report = cli.invoke(app, ["channels", "report", "--json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.stdout)["rows"]
    assert [(r["slug"], r["scans"]) for r in rows] == [("metro", 0)]
    assert (
        cli.invoke(app, ["channels", "add", "x", "--app", OA_APPID, "--kind", "nope"]).exit_code
        == 2
    )


def test_each_command_is_audited_as_the_operator_it_acts_as(
    cli: CliRunner, oa_app: AppRead, mp_app: AppRead, db: Database, tmp_path: Path
) -> None:
    who = ("operator:0", "owner")  # without --as, a command acts with the owner's role
    menu = tmp_path / "menu.json"
    menu.write_text(json.dumps(MENU), encoding="utf-8")
    # when the owner links the apps, publishes a menu file and makes a channel with its code
    for args in (
        ["apps", "link", OA_APPID, MP_APPID],
        ["menus", "publish", OA_APPID, str(menu)],
        ["channels", "add", "地铁", "--app", OA_APPID, "--kind", "oa-qr-temp", "--slug", "metro"],
    ):
        done = cli.invoke(app, args)
        assert done.exit_code == 0, done.output
    # then each command is audited once: publishing a file audits the publication (not the
    # version it saved), making a channel audits the channel (its first code is part of it)
    with db.session_scope() as session:
        link = session.scalar(select(Association.id))
        version = session.scalar(select(MenuVersion.id))
        channel = session.scalar(select(Channel.id))
    assert audited(db) == [
        ("entries.apps_linked", *who, "association", str(link), {"status": "pending"}),
        ("entries.menu_published", *who, "menu", str(version), {"version": 1}),
        ("entries.channel_created", *who, "channel", str(channel), {}),
    ]
