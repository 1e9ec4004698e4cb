"""`siyu autoreply add|test` and `siyu notify`."""

from __future__ import annotations

from typer.testing import CliRunner

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.reach import service
from siyu.reach.schemas import TemplateCreate
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.cli import run
from tests.support.names import OA_APPID, openid
from tests.support.people import make_person


def test_autoreply_add_and_test(cli: CliRunner, oa_app: AppRead, owner: Principal) -> None:
    code, output = run(
        cli, "autoreply", "add", OA_APPID, "--match", "contains", "--keyword", "课程",
        "--reply-text", "课程表见菜单", "--priority", "5",
    )  # fmt: skip
    assert code == 0, output
    code, output = run(cli, "autoreply", "test", OA_APPID, "明天的课程")
    assert code == 0, output
    assert "课程表见菜单" in output
    code, output = run(cli, "autoreply", "test", OA_APPID, "你好")
    assert (code, "no rule matches" in output) == (3, True)
    code, output = run(
        cli, "autoreply", "add", OA_APPID, "--match", "regex", "--keyword", "(a+)+$",
        "--reply-text", "x",
    )  # fmt: skip
    assert code == 1
    assert "autoreply.invalid_regex" in output


def test_notify_prints_the_channel_or_why_it_was_held(
    daytime_clock: FrozenClock,
    cli: CliRunner,
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    oa_app: AppRead,
    owner: Principal,
) -> None:
    # given a member nothing can reach yet, a notice with an OA form, and a time outside the
    # default quiet hours (which would hold the notice for themselves)
    with db.session_scope() as session:
        service.add_template(
            session,
            workspace_id,
            TemplateCreate(
                key="checkin",
                kind="oa_template",
                appid=oa_app.appid,
                template_id="tpl-checkin",
                title="打卡提醒",
                fields={"thing1": "course"},
            ),
            "test",
        )
    make_person(db, workspace_id, mp_app, oa_app, owner)
    with db.session_scope() as session:
        number = identity.search_members(session, workspace_id, openid=openid(101))[0].number
    code, output = run(cli, "notify", str(number), "checkin", "--data", '{"course": "晨读"}')
    assert code == 0, output
    assert "held (no_channel)" in output
    code, output = run(cli, "notify", str(number), "nope", "--data", "{}")
    assert (code, "reach.unknown_template" in output) == (1, True)
    code, output = run(
        cli, "notify", str(number), "checkin", "--data", '{"course": "' + "长" * 201 + '"}'
    )
    assert (code, "reach.invalid_field" in output) == (1, True)
