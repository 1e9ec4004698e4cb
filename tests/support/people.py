"""A member with personal data in every table that can hold some, for erasure and export."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from siyu.core.clock import now
from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.enums import ConsentPurpose
from siyu.identity.models import Member
from siyu.identity.schemas import MemberProfileIn
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat.models import MpSession, PushReceipt, PushStatus
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID, openid

PHONE = "13912345678"
ADDRESS = "北京市朝阳区幸福路 8 号"
NAME = "张小红"
MP_TOKEN = "mp-session-token-of-the-member"
REMARK = "老学员，周末上课，家住望京"
OTHER_NAME = "周同学"


@dataclass(frozen=True)
class Person:
    member_id: int
    merged_id: int
    other_id: int  # someone else, who must keep everything
    secrets: tuple[str, ...]  # strings that must appear nowhere after erasure
    other_secrets: tuple[str, ...]


def _ts(minutes: int) -> str:
    return (datetime(2026, 11, 1, 1, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


def make_person(
    db: Database, workspace_id: int, mp_app: AppRead, oa_app: AppRead, owner: Principal
) -> Person:
    me_mp, me_oa, me_union = openid(101), openid(102), openid(103, "u")
    other = openid(201)
    events: list[dict[str, Any]] = [
        {
            "event": "mp.login",
            "ts": _ts(1),
            "appid": MP_APPID,
            "openid": me_mp,
            "unionid": me_union,
        },
        {
            "event": "pay.paid",
            "ts": _ts(2),
            "appid": MP_APPID,
            "openid": me_mp,
            "phone": PHONE,
            "props": {"amount_fen": 9900, "address": ADDRESS, "receiver": NAME},
        },
        {"event": "oa.subscribe", "ts": _ts(3), "appid": OA_APPID, "openid": me_oa},
        {"event": "mp.login", "ts": _ts(4), "appid": MP_APPID, "openid": other},
        {
            "event": "pay.paid",
            "ts": _ts(5),
            "appid": MP_APPID,
            "openid": other,
            "props": {"amount_fen": 500, "receiver": "李四"},
        },
    ]
    with db.session_scope() as session:
        identity.ingest_events(session, workspace_id, events)
        [me] = identity.search_members(session, workspace_id, openid=me_mp)
        [oa_only] = identity.search_members(session, workspace_id, openid=me_oa)
        [someone] = identity.search_members(session, workspace_id, openid=other)
        member = session.get(Member, me.id)
        assert member is not None
        member.attributes = {"name": NAME, "city": "北京"}
        # the OA follower turns out to be the same person: merged into the MP member
        identity.merge_members(session, owner, me.id, oa_only.id)
        identity.grant_consent(
            session, workspace_id, me.id, ConsentPurpose.marketing, entry="console", actor="test"
        )
        identity.grant_consent(
            session, workspace_id, someone.id, ConsentPurpose.marketing, entry="console", actor="t"
        )
        identity.assign_member(session, owner, me.id, owner.operator_id)
        # what the team calls them: the name and remark staff wrote (encrypted, indexed)
        identity.set_member_profile(
            session, owner, me.id, MemberProfileIn(display_name=NAME, remark=REMARK)
        )
        identity.set_member_profile(
            session, owner, someone.id, MemberProfileIn(display_name=OTHER_NAME)
        )
        security.record_audit(
            session, owner, "member.viewed", target_type="member", target_id=me.id
        )
        session.add(
            MpSession(
                app_id=mp_app.id,
                member_id=me.id,
                openid=me_mp,
                session_key="c2Vzc2lvbi1rZXktc2VjcmV0",
                token_hash=hashlib.sha256(MP_TOKEN.encode()).hexdigest(),
                created_at=now(),
                expires_at=now() + timedelta(days=1),
            )
        )
        for n, (who, text) in enumerate(((me_oa, f"我的电话 {PHONE}"), (other, "你好"))):
            session.add(
                PushReceipt(
                    app_id=oa_app.id,
                    dedupe_key=f"msg-{n}",
                    msg_type="text",
                    openid=who,
                    create_time=now(),
                    payload=f"<xml><Content>{text}</Content></xml>",
                    member_id=None,  # not yet processed: found by openid
                    status=PushStatus.received,
                    received_at=now(),
                )
            )
        merged = session.scalars(select(Member.id).where(Member.merged_into_id == me.id)).one()
    return Person(
        member_id=me.id,
        merged_id=merged,
        other_id=someone.id,
        secrets=(
            *(me_mp, me_oa, me_union, PHONE, ADDRESS, NAME, REMARK),
            "c2Vzc2lvbi1rZXktc2VjcmV0",
        ),
        other_secrets=(other, "李四", "你好", OTHER_NAME),
    )
