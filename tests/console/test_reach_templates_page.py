"""The notice templates page as a person uses it: the notice form points here when there is
no template; a template registered and edited from the forms is what the API reads; a refusal
is said beside its field with what was typed kept and nothing written; customer service reads
the list but gets no form and a 403 on a crafted post."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.reach.models import ReachTemplate
from siyu.security.enums import Role
from tests.support.console import Console
from tests.support.names import MP_APPID, OA_APPID
from tests.support.security import audit_actions, make_staff

pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")
NEW = {
    "key": "checkin_reminder",
    "kind": "mp_subscribe",
    "appid": MP_APPID,
    "title": "打卡提醒",
    "template_id": "tmpl-checkin-1",
    "fields": "thing1=course\ntime2=starts_at",
    "page": "pages/checkin/index",
}


def templates(db: Database) -> list[tuple[str, str, dict[str, str]]]:
    with db.session_scope() as session:
        rows = session.scalars(select(ReachTemplate).order_by(ReachTemplate.id))
        return [(r.key, r.title, dict(r.fields)) for r in rows]


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{name}">([^<]+)</p>', html)
    assert found is not None, f"no error beside {name}"
    return found.group(1)


def test_the_notice_form_points_to_the_templates_page_when_there_is_none(
    console: Console,
) -> None:
    reach = console.client.get("/reach").text
    assert "还没有通知模板，群发通知需要先登记模板。" in reach
    assert 'href="/reach/templates"' in reach
    page = console.client.get("/reach/templates")
    assert page.status_code == 200
    assert "通知模板" in page.text
    assert "还没有模板" in page.text


def test_a_template_registered_and_edited_from_the_forms_is_the_one_sent(
    console: Console, api: TestClient, db: Database
) -> None:
    # when the operator registers the subscribe form of the check-in reminder
    added = console.client.post(
        "/reach/templates", data={**NEW, "csrf_token": console.csrf}, follow_redirects=False
    )
    assert added.status_code == 303
    assert templates(db) == [
        ("checkin_reminder", "打卡提醒", {"thing1": "course", "time2": "starts_at"})
    ]
    # then the API lists it, and the notice form offers it
    assert [t["key"] for t in api.get("/api/reach/templates").json()] == ["checkin_reminder"]
    assert '<option value="checkin_reminder">' in console.client.get("/reach").text
    # when the operator edits its title and fields
    with db.session_scope() as session:
        row_id = session.scalars(select(ReachTemplate.id)).one()
    form = console.client.get(f"/reach/templates/{row_id}").text
    assert "thing1=course" in form
    edited = console.client.post(
        f"/reach/templates/{row_id}",
        data={
            **NEW,
            "title": "今日打卡提醒",
            "fields": "thing1=course",
            "csrf_token": console.csrf,
        },
        follow_redirects=False,
    )
    assert edited.status_code == 303
    assert templates(db) == [("checkin_reminder", "今日打卡提醒", {"thing1": "course"})]
    assert audit_actions(db).count("reach.template_update") == 1


@pytest.mark.parametrize(
    ("change", "field", "said", "code"),
    [
        ({"key": "打卡"}, "key", "通知名只能用小写字母", "reach.invalid_template"),
        (
            {"fields": "thing1 course"},
            "fields",
            "每行写成 微信字段=数据名",
            "reach.invalid_template",
        ),
        (
            {"template_id": ""},
            "template_id",
            "模板需要填写 template_id 和字段",
            "reach.invalid_template",
        ),
        ({"appid": OA_APPID}, "appid", "订阅消息只能由小程序发送", "reach.wrong_app"),
        (
            {"kind": "customer_service", "template_id": "", "fields": "", "body": "{a b}"},
            "body",
            "占位符",
            "reach.invalid_template",
        ),
    ],
)
def test_a_refused_template_is_said_beside_its_field_and_nothing_is_written(
    console: Console, db: Database, change: dict[str, str], field: str, said: str, code: str
) -> None:
    refused = console.client.post(
        "/reach/templates", data={**NEW, **change, "csrf_token": console.csrf}
    )
    assert refused.status_code == 422
    assert said in field_error(refused.text, field)
    assert f'<code class="code">{code}</code>' in refused.text
    assert 'value="打卡提醒"' in refused.text  # what was typed is kept
    assert templates(db) == []


def test_a_second_form_of_the_same_kind_is_refused_at_the_key(
    console: Console, db: Database
) -> None:
    console.client.post("/reach/templates", data={**NEW, "csrf_token": console.csrf})
    again = console.client.post("/reach/templates", data={**NEW, "csrf_token": console.csrf})
    assert again.status_code == 409
    assert "已经有小程序订阅消息形式的模板了" in field_error(again.text, "key")
    assert len(templates(db)) == 1


def test_customer_service_reads_the_list_without_a_form_and_a_crafted_post_is_403(
    console: Console, app_client: TestClient, db: Database, workspace_id: int
) -> None:
    console.client.post("/reach/templates", data={**NEW, "csrf_token": console.csrf})
    with db.session_scope() as session:
        row_id = session.scalars(select(ReachTemplate.id)).one()
    service = make_staff(db, workspace_id, Role.customer_service)
    client = TestClient(app_client.app)
    page = client.get("/reach/templates", headers=service.headers)
    assert page.status_code == 200
    assert "checkin_reminder" in page.text
    assert 'action="/reach/templates"' not in page.text
    for path in ("/reach/templates", f"/reach/templates/{row_id}"):
        crafted = client.post(path, headers=service.headers, data={**NEW, "title": "改"})
        assert crafted.status_code == 403
        assert '<code class="code">security.forbidden</code>' in crafted.text
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ReachTemplate)) == 1
    assert templates(db)[0][1] == "打卡提醒"
