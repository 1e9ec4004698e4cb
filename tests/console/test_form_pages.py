"""Console forms as operators meet them: a value the form refuses is named by its field in the
operator's language, with the code a form of that page always had, and nothing is written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.autoreply.models import AutoReplyRule
from siyu.core.db import Database
from siyu.entries.models import Channel
from siyu.reach.models import ReachBroadcast
from siyu.security.models import AuditEntry, Operator
from siyu.security.schemas import Principal
from tests.support.console import Console
from tests.support.console import session_csrf as _session_csrf
from tests.support.console import sign_in as _sign_in

OA = "wxaaaaaaaaaaaaaaaa"


@pytest.fixture
def ui(app_client: TestClient, owner: Principal) -> Console:
    assert _sign_in(app_client).status_code == 303
    return Console(app_client, _session_csrf(app_client.get("/").text))


def count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- operators -----------------------------------------------------------------------------


def test_an_operator_is_added_from_the_form_and_audited(ui: Console, db: Database) -> None:
    # when the owner adds an operator
    added = ui.client.post(
        "/operators",
        headers=ui.htmx(),
        data={
            "email": "new@example.com",
            "name": "新同事",
            "password": "a long enough password",
            "role": "operator",
        },
    )
    # then the section lists them, and the addition is audited
    assert added.status_code == 200, added.text
    assert "已新增操作员 new@example.com" in added.text
    with db.session_scope() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "operator.created" in actions


@pytest.mark.parametrize(
    ("fields", "code", "shown"),
    [
        ({"role": "king"}, "security.invalid_role", "请选择有效的角色。"),
        ({"role": ""}, "security.invalid_role", "请选择有效的角色。"),
        ({"name": "名" * 101}, "console.form_invalid", "没有保存：「姓名」最多 100 个字符"),
    ],
)
def test_a_refused_operator_form_names_the_problem_and_adds_nobody(
    ui: Console, db: Database, fields: dict[str, str], code: str, shown: str
) -> None:
    before = count(db, Operator)
    sent = {"email": "new@example.com", "password": "a long enough password", "role": "operator"}
    # when the form is sent with a bad value
    refused = ui.client.post("/operators", headers=ui.htmx(), data={**sent, **fields})
    # then its message box says what is wrong, with the code, and nobody was added
    assert refused.status_code == 422
    assert refused.headers["HX-Retarget"] == "#operator-form-msg"
    assert shown in refused.text
    assert f'<code class="code">{code}</code>' in refused.text
    assert count(db, Operator) == before


# --- reach and auto-replies ----------------------------------------------------------------


def test_a_broadcast_form_names_the_field_in_its_refusal(ui: Console, db: Database) -> None:
    refused = ui.client.post(
        "/reach/broadcasts",
        headers=ui.htmx(),
        data={"name": "开营", "template_key": "checkin", "tag": "晨读营", "per_minute": "0"},
    )
    assert refused.status_code == 422
    assert "群发没有创建：「每分钟」不能小于 1" in refused.text
    assert "reach.invalid_broadcast" in refused.text
    assert count(db, ReachBroadcast) == 0


def test_a_rule_form_names_the_field_in_its_refusal(ui: Console, db: Database) -> None:
    refused = ui.client.post(
        "/autoreplies",
        headers=ui.htmx(),
        data={"appid": OA, "keywords": "课表", "reply_text": "见菜单", "priority": "first"},
    )
    assert refused.status_code == 422
    assert refused.headers["HX-Retarget"] == "#rule-msg"
    assert "规则没有保存：「优先级（小者优先）」请填写整数" in refused.text
    assert "autoreply.invalid_rule" in refused.text
    assert count(db, AutoReplyRule) == 0


def test_a_reply_too_long_for_its_card_is_the_reply_texts_problem(ui: Console) -> None:
    refused = ui.client.post(
        "/autoreplies",
        headers=ui.htmx(),
        data={"appid": OA, "keywords": "课表", "reply_text": "长" * 2001},
    )
    assert refused.status_code == 422
    assert "「回复文字」最多 2000 个字符" in refused.text


# --- entries -------------------------------------------------------------------------------


def test_a_channel_form_says_in_chinese_which_field_is_wrong(ui: Console, db: Database) -> None:
    # when a channel is made with a scene WeChat would not take
    refused = ui.client.post(
        "/channels",
        data={"csrf_token": ui.csrf, "name": "地铁海报", "slug": "含中文"},
        follow_redirects=False,
    )
    # then the page says so, in Chinese, naming the field; nothing is made
    assert refused.status_code == 422
    assert "「场景值（留空自动生成）」场景值为 1–32 位字母、数字、_ 或 -。" in refused.text
    assert "console.form_invalid" in refused.text
    assert count(db, Channel) == 0


# --- in English ----------------------------------------------------------------------------


def test_a_form_shown_again_speaks_english_after_the_switch(ui: Console, db: Database) -> None:
    ui.client.get("/lang/en")
    refused = ui.client.post(
        "/apps",
        headers=ui.htmx(),
        data={"kind": "mp", "appid": "wx12", "name": "x" * 101},
    )
    assert refused.status_code == 422
    assert "Please correct the highlighted fields." in refused.text
    assert 'id="err-appid"' in refused.text
    assert "AppID is not valid" in refused.text
    assert "表单" not in refused.text
