"""An analyst's export holds figures only: no identifier, phone, number or tag name."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from siyu.core.db import Database
from siyu.identity import service
from siyu.identity.schemas import PersonRef
from siyu.security.enums import Role
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, openid
from tests.support.security import Staff, audit_actions


def test_the_analyst_gets_figures_without_identifiers(
    app_client: TestClient, staff: dict[Role, Staff], db: Database, mp_app: AppRead
) -> None:
    # given two members, one with a phone, a tag and events
    with db.session_scope() as session:
        person = PersonRef(
            appid=MP_APPID, openid=openid(1), unionid=openid(1, "u"), phone="13800138000"
        )
        first = service.resolve_member(session, mp_app, person).id
        service.resolve_member(session, mp_app, PersonRef(appid=MP_APPID, openid=openid(2)))
        service.tag_members(session, mp_app.workspace_id, [first], "黑名单", actor="test")
    service_events = [
        {
            "event": "mp.login",
            "ts": "2026-11-01T08:00:00+08:00",
            "appid": MP_APPID,
            "openid": openid(1),
        },
        {
            "event": "mp.page_view",
            "ts": "2026-11-03T08:00:00+08:00",
            "appid": MP_APPID,
            "openid": openid(1),
        },
    ]
    with db.session_scope() as session:
        service.ingest_events(session, mp_app.workspace_id, service_events)
    # when the analyst exports
    response = app_client.get(
        "/api/exports/members-deidentified.csv", headers=staff[Role.analyst].headers
    )
    # then one row per member, counts and days only
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(service.DEIDENTIFIED_COLUMNS)
    by_events = sorted(rows[1:], key=lambda r: r[2])
    assert [r[2:] for r in by_events] == [
        ["0", "", "", "0", "0"],
        ["2", "2026-11-01", "2026-11-03", "1", "1"],
    ]
    for forbidden in (openid(1), openid(1, "u"), "13800138000", "黑名单"):
        assert forbidden not in response.text
    assert not any(cell in {"10001", "10002"} for row in rows for cell in row)  # no numbers
    assert len({r[0] for r in rows[1:]}) == 2  # distinct pseudonyms
    assert "export.deidentified_members" in audit_actions(db)


def test_sales_may_not_export(app_client: TestClient, staff: dict[Role, Staff]) -> None:
    response = app_client.get(
        "/api/exports/members-deidentified.csv", headers=staff[Role.sales].headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "security.forbidden"
