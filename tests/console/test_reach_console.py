"""Console pages of reach: the send log with reasons, a notice to a segment, the policy, the
CSV export, auto-reply rules and the tester."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core import clock
from siyu.core.clock import BEIJING, FrozenClock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.entries import service as entries
from siyu.entries.enums import CodeKind
from siyu.entries.models import ChannelCode
from siyu.entries.schemas import ChannelCreate
from siyu.identity import service as identity
from siyu.identity.models import Member
from siyu.reach import service
from siyu.reach.models import ReachBroadcast, ReachSend
from siyu.reach.schemas import TemplateCreate
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead
from tests.support.console import Console
from tests.support.console import event as _event
from tests.support.console import ingest as _ingest
from tests.support.console import session_csrf as _session_csrf
from tests.support.console import sign_in as _sign_in
from tests.support.names import openid

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")


@pytest.fixture
def ui(app_client: TestClient, owner: Principal) -> Console:
    assert _sign_in(app_client).status_code == 303
    return Console(app_client, _session_csrf(app_client.get("/").text))


@pytest.fixture
def members(db: Database, workspace_id: int, oa_app: AppRead) -> list[int]:
    """Two known members (no follow, no window: nothing can reach them yet), one tagged."""
    _ingest(db, workspace_id, _event(1), _event(2))
    with db.session_scope() as session:
        found = [
            identity.search_members(session, workspace_id, openid=openid(n))[0].id for n in (1, 2)
        ]
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
        identity.tag_members(session, workspace_id, found[:1], "晨读营", actor="test")
    return found


def count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_notice_to_a_segment_shows_why_it_was_held(
    daytime_clock: FrozenClock, ui: Console, db: Database, members: list[int]
) -> None:
    # given a time outside the default quiet hours (else the notice is held for those)
    # when the operator sends a notice to the tag
    response = ui.client.post(
        "/reach/broadcasts",
        data={
            "csrf_token": ui.csrf,
            "name": "开营",
            "template_key": "checkin",
            "tag": "晨读营",
            "data": "course=晨读营",
            "category": "activity",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session_scope() as session:
        bid = session.scalars(select(ReachBroadcast.id)).one()
        service.advance_broadcast(session, bid)
    # then the page shows, per member, that it is held and why
    page = ui.client.get("/reach")
    assert page.status_code == 200
    assert "开营" in page.text
    assert "暂无可用渠道" in page.text  # held: no follow, no window, no credit
    assert "data-chart" in page.text
    # and the send log exports as CSV, reason included
    export = ui.client.get("/reach/sends.csv")
    assert export.status_code == 200
    lines = export.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,created_beijing,member_number")
    assert len(lines) == 2
    assert "no_channel" in lines[1]
    # and names the member by 学号, at Beijing time
    with db.session_scope() as session:
        send = session.scalars(select(ReachSend)).one()
        number = session.get(Member, send.member_id).number  # type: ignore[union-attr]
    row = next(csv.reader(io.StringIO(lines[1])))
    assert row[2] == str(number)
    assert row[1] == send.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    # and the page's send log links the member by 学号 too
    assert f'<a href="/members/{send.member_id}">{number}</a>' in page.text


def test_a_notice_to_an_empty_segment_is_refused(ui: Console, db: Database) -> None:
    response = ui.client.post(
        "/reach/broadcasts",
        headers=ui.htmx(),
        data={"name": "空", "template_key": "checkin", "tag": "无人", "data": "course=x"},
    )
    assert response.status_code in (404, 422)
    assert count(db, ReachBroadcast) == 0


def test_rules_are_added_and_tested_in_the_console(ui: Console, db: Database) -> None:
    added = ui.client.post(
        "/autoreplies",
        data={
            "csrf_token": ui.csrf,
            "appid": "wxaaaaaaaaaaaaaaaa",
            "match": "contains",
            "keywords": "课程\n课表",
            "reply_text": "课程表见菜单",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    tested = ui.client.post(
        "/autoreplies/test",
        headers=ui.htmx(),
        data={"appid": "wxaaaaaaaaaaaaaaaa", "message": "明天的课表"},
    )
    assert "命中规则" in tested.text
    page = ui.client.get("/autoreplies")
    assert page.status_code == 200
    assert "课程表见菜单" in page.text
    refused = ui.client.post(
        "/autoreplies",
        headers=ui.htmx(),
        data={
            "appid": "wxaaaaaaaaaaaaaaaa",
            "match": "regex",
            "keywords": "(a+)+$",
            "reply_text": "x",
        },
    )
    assert refused.status_code == 422
    assert "灾难性回溯" in refused.text
    assert count(db, AutoReplyRule) == 1


def test_the_policy_is_edited_as_json(ui: Console) -> None:
    bad = ui.client.post(
        "/reach/policy", headers=ui.htmx(), data={"policy": '{"order": {"urgent": []}}'}
    )
    assert bad.status_code == 422
    page = ui.client.get("/reach")
    assert "quiet_hours" in page.text


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """WeChat users open hand-off pages at siyu's public URL."""
    return settings.model_copy(update={"public_url": "https://siyu.example.com"})


def test_a_hand_off_rule_is_added_in_the_console_for_a_channel_with_an_oa_code(
    ui: Console, db: Database, workspace_id: int, oa_app: AppRead, mp_app: AppRead
) -> None:
    # given a channel whose OA QR code WeChat issued
    with db.session_scope() as session:
        made = entries.create_channel(
            session, workspace_id, ChannelCreate(name="转公众号", slug="handoff"), actor="test"
        )
        session.add(
            ChannelCode(
                workspace_id=workspace_id,
                channel_id=made.id,
                app_id=oa_app.id,
                kind=CodeKind.oa_qr_permanent,
                scene="handoff",
                ticket="t-1",
                url="http://weixin.qq.com/q/handoff",
                created_at=clock.now(),
            )
        )
    # the form offers it
    assert f'<option value="{made.id}">转公众号</option>' in ui.client.get("/autoreplies").text
    # when the operator hands "公众号" in the Mini Program off to it
    added = ui.client.post(
        "/autoreplies",
        data={
            "csrf_token": ui.csrf,
            "appid": mp_app.appid,
            "keywords": "公众号",
            "reply_text": "关注我们的公众号",
            "handoff_channel": str(made.id),
        },
        follow_redirects=False,
    )
    # then the rule answers with the hand-off card, titled with the reply text
    assert added.status_code == 303, added.text
    with db.session_scope() as session:
        [rule] = session.scalars(select(AutoReplyRule)).all()
        assert rule.reply == {"type": "handoff", "channel_id": made.id, "title": "关注我们的公众号"}


def test_an_oa_mass_broadcast_is_offered_and_an_empty_one_refused(
    ui: Console, db: Database, members: list[int], oa_app: AppRead
) -> None:
    # the reach page offers the OA mass broadcast for the service account
    page = ui.client.get("/reach").text
    assert 'action="/reach/mass"' in page
    assert f'<option value="{oa_app.appid}">' in page
    # when the operator broadcasts while nobody follows it, it is refused and nothing written
    refused = ui.client.post(
        "/reach/mass",
        headers=ui.htmx(),
        data={"name": "早报", "mass_appid": oa_app.appid, "mass_text": "今日单词"},
    )
    assert refused.status_code == 422
    assert "reach.empty_audience" in refused.text
    assert count(db, ReachBroadcast) == 0


def audit_rows(db: Database, action: str) -> list[tuple[str, int | None, str | None, str | None]]:
    with db.session_scope() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        return [(r.actor, r.workspace_id, r.target_type, r.target_id) for r in rows]


def test_the_send_log_export_is_audited_once_for_the_operator(
    ui: Console, db: Database, owner: Principal
) -> None:
    # when the operator exports the send log (it streams in batches)
    export = ui.client.get("/reach/sends.csv")
    # then one audit row names them, with no target
    assert export.status_code == 200
    assert audit_rows(db, "reach.sends_exported") == [(owner.actor, owner.workspace_id, None, None)]


def test_a_keyword_rule_without_keywords_is_refused_in_chinese(ui: Console, db: Database) -> None:
    # when the operator adds a keyword rule with no keyword
    refused = ui.client.post(
        "/autoreplies",
        headers=ui.htmx(),
        data={"appid": "wxaaaaaaaaaaaaaaaa", "keywords": "  \n", "reply_text": "x"},
    )
    # then the console says why in Chinese, with the code, and nothing is written
    assert refused.status_code == 422
    assert "关键词规则至少需要一个关键词。" in refused.text
    assert "autoreply.invalid_rule" in refused.text
    assert count(db, AutoReplyRule) == 0
    assert audit_rows(db, "autoreply.rule_add") == []
