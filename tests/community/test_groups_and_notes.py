"""Groups (share tickets and staff), posts, states; service records on a member."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from siyu.community.models import ServiceRecord
from siyu.security.enums import Role
from siyu.security.models import AuditEntry
from tests.support.community import SESSION_KEY, Campaign
from tests.support.names import MP_APPID
from tests.support.security import make_staff

IV = base64.b64encode(b"0123456789abcdef").decode()


def sealed(payload: dict[str, object]) -> str:
    """What wx.getShareInfo hands the Mini Program: sealed with the session_key."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(json.dumps(payload).encode()) + padder.finalize()
    key, iv = base64.b64decode(SESSION_KEY), base64.b64decode(IV)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def test_a_share_ticket_puts_the_member_in_the_group_once(campaign: Campaign) -> None:
    activity = campaign.activity()
    made = campaign.staff.post(
        "/api/community/groups",
        json={"name": "VOC1 群", "activity_id": activity["id"], "open_gid": "tGabcdef123"},
    )
    assert made.status_code == 201
    member = campaign.member()
    body = {
        "encrypted_data": sealed({"openGId": "tGabcdef123", "watermark": {"appid": MP_APPID}}),
        "iv": IV,
    }
    for _ in range(2):  # the card opened twice
        answer = campaign.env.client.post(
            f"/api/mp/{MP_APPID}/groups/share-ticket", json=body, headers=member.headers
        )
        assert answer.status_code == 200, answer.text
    assert answer.json()["members"] == 1
    [joined] = campaign.env.events("group.join")
    assert joined.props["code"] == "VOC1"
    # data sealed for another app is refused, and nothing changes
    other = {
        **body,
        "encrypted_data": sealed({"openGId": "tGabcdef123", "watermark": {"appid": "wxother"}}),
    }
    refused = campaign.env.client.post(
        f"/api/mp/{MP_APPID}/groups/share-ticket", json=other, headers=member.headers
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "wechat.bad_encrypted_data")
    assert len(campaign.env.events("group.join")) == 1


def test_staff_manage_group_states_and_posts(campaign: Campaign) -> None:
    series = campaign.theme_series()
    group = campaign.staff.post(
        "/api/community/groups", json={"name": "系列群", "series_id": series}
    ).json()
    gid = group["id"]
    post = campaign.staff.post(
        f"/api/community/groups/{gid}/posts", json={"content": "今天的打卡题目"}
    )
    assert post.status_code == 201
    assert (
        campaign.staff.post(
            f"/api/community/groups/{gid}/state", json={"state": "dissolved"}
        ).status_code
        == 200
    )
    refused = campaign.staff.post(f"/api/community/groups/{gid}/state", json={"state": "active"})
    assert (refused.status_code, refused.json()["code"]) == (409, "community.group_state")
    late = campaign.staff.post(f"/api/community/groups/{gid}/posts", json={"content": "x"})
    assert late.json()["code"] == "community.group_closed"
    assert len(campaign.staff.get(f"/api/community/groups/{gid}/posts").json()) == 1
    # and the post and the state, not the refusals, are in the audit log (as the console's are)
    assert audited(campaign, "community.group_post") == [(str(gid), {"post_id": post.json()["id"]})]
    assert audited(campaign, "community.group_state") == [(str(gid), {"state": "dissolved"})]


def audited(campaign: Campaign, action: str) -> list[tuple[str | None, dict[str, Any]]]:
    with campaign.env.db.session_scope() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return [(entry.target_id, dict(entry.detail)) for entry in entries]


def test_service_records_are_kept_on_the_member(campaign: Campaign) -> None:
    member = campaign.member()
    url = f"/api/members/{member.member_id}/service-records"
    made = campaign.staff.post(url, json={"kind": "call", "text": "家长来电询问退款时间"})
    assert made.status_code == 201
    empty = campaign.staff.post(url, json={"text": "   "})
    assert empty.status_code == 422
    [record] = campaign.staff.get(url).json()
    assert (record["kind"], record["text"]) == ("call", "家长来电询问退款时间")
    assert record["operator_id"] is not None


def test_a_note_on_a_member_the_operator_may_not_see_is_refused_and_audited(
    campaign: Campaign,
) -> None:
    # given a sales rep to whom the member is not assigned
    member = campaign.member()
    rep = make_staff(campaign.env.db, campaign.env.workspace_id, Role.sales, "rep@example.com")
    # when the rep writes a service record on the member
    refused = campaign.env.client.post(
        f"/api/members/{member.member_id}/service-records",
        json={"kind": "note", "text": "不该看到的会员"},
        headers=rep.headers,
    )
    # then it is refused as a member that does not exist, nothing is written, and it is audited
    assert (refused.status_code, refused.json()["code"]) == (404, "identity.member_not_found")
    with campaign.env.db.session_scope() as session:
        assert session.scalars(select(ServiceRecord)).all() == []
    assert audited(campaign, "members.note_added") == []
    assert audited(campaign, "security.denied") == [
        (str(member.member_id), {"reason": "not_assigned"})
    ]
