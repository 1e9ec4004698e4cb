"""Entries in tests: a push as an arrival (a follow or scan of a channel's code), a channel
made through the API, a hand-off rule, and the entries operations audited so far."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database
from siyu.security.models import AuditEntry
from tests.support.names import MP_APPID, OA_APPID
from tests.support.wechat import GH_ID, cdata_xml

T0 = 1763600000  # a push's CreateTime

Row = tuple[str, str, str | None, str | None, str | None, dict[str, Any]]


def event_push(user: str, event: str, key: str = "", at: int = T0, **extra: Any) -> str:
    """An event push at a fixed time, with its EventKey (a code's scene) when given."""
    fields: dict[str, Any] = {
        "ToUserName": GH_ID,
        "FromUserName": user,
        "CreateTime": at,
        "MsgType": "event",
        "Event": event,
    }
    if key:
        fields["EventKey"] = key
    return cdata_xml({**fields, **extra})


def channel(api: TestClient, slug: str, **extra: Any) -> dict[str, Any]:
    answer = api.post(
        "/api/entries/channels",
        json={
            "name": f"渠道 {slug}",
            "slug": slug,
            "tags": [f"来自{slug}"],
            "welcome": f"欢迎，{slug}！",
            "code": {"appid": OA_APPID, "kind": "oa_qr_temp"},
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def handoff_rule(api: TestClient, channel_id: int, appid: str = MP_APPID) -> Any:
    return api.post(
        "/api/autoreply/rules",
        json={
            "appid": appid,
            "keywords": ["公众号"],
            "reply": {"type": "handoff", "channel_id": channel_id, "title": "关注我们的公众号"},
        },
    )


def audited(db: Database) -> list[Row]:
    """The entries operations audited so far, oldest first."""
    with db.session_scope() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("entries.%")).order_by(AuditEntry.id)
        ).all()
        return [
            (r.action, r.actor, r.actor_role, r.target_type, r.target_id, r.detail) for r in rows
        ]
