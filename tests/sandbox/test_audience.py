"""User info and tags: fields WeChat still returns, list sizes, tag caps and refusals (§2.7)."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.sandbox import audience
from tests.support.sandbox import MP, OA, SUB, Sandbox


def test_user_info_of_a_follower_through_a_qr_code(sandbox: Sandbox) -> None:
    # given a user who followed through a permanent string scene
    ticket = sandbox.post(
        "/cgi-bin/qrcode/create",
        OA,
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "poster"}}},
    )["ticket"]
    user = sandbox.user()
    sandbox.act("follow", user, OA, ticket=ticket)
    openid = sandbox.openid(user, OA)
    # then user/info tells how, with the UnionID of the bound Open Platform account
    info = sandbox.get("/cgi-bin/user/info", OA, openid=openid, lang="zh_CN")
    assert info["subscribe"] == 1
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE"
    assert (info["qr_scene"], info["qr_scene_str"]) == (0, "poster")
    assert info["unionid"] == user.unionid
    assert info["subscribe_time"] == int(sandbox.world.now().timestamp())
    assert "nickname" not in info
    assert "headimgurl" not in info


def test_user_info_of_someone_who_left(sandbox: Sandbox) -> None:
    user = sandbox.user()
    sandbox.act("follow", user, SUB)
    sandbox.act("unfollow", user, SUB)
    info = sandbox.get("/cgi-bin/user/info", SUB, openid=sandbox.openid(user, SUB))
    assert info == {"subscribe": 0, "openid": sandbox.openid(user, SUB)}  # SUB has no UnionID


def test_user_info_refusals(sandbox: Sandbox) -> None:
    user = sandbox.user()
    assert sandbox.get("/cgi-bin/user/info", OA, openid="o" + "z" * 27)["errcode"] == 40003
    assert (
        sandbox.get("/cgi-bin/user/info", OA, openid=sandbox.openid(user, SUB))["errcode"] == 49003
    )
    assert (
        sandbox.get("/cgi-bin/user/info", MP, openid=sandbox.openid(user, MP))["errcode"] == 48001
    )


def test_batch_user_info_takes_at_most_100(sandbox: Sandbox) -> None:
    users = [sandbox.user(n) for n in range(1, 102)]
    wanted = [{"openid": sandbox.openid(u, OA), "lang": "zh_CN"} for u in users]
    assert (
        len(
            sandbox.post("/cgi-bin/user/info/batchget", OA, {"user_list": wanted[:100]})[
                "user_info_list"
            ]
        )
        == 100
    )
    assert (
        sandbox.post("/cgi-bin/user/info/batchget", OA, {"user_list": wanted})["errcode"] == 40032
    )
    assert sandbox.post("/cgi-bin/user/info/batchget", OA, {"user_list": []})["errcode"] == 40032


def create_tag(sb: Sandbox, name: str) -> dict[str, Any]:
    return sb.post("/cgi-bin/tags/create", OA, {"tag": {"name": name}})  # type: ignore[no-any-return]


def test_tags_are_created_unique_short_and_at_most_100(sandbox: Sandbox) -> None:
    first = create_tag(sandbox, "广东")["tag"]
    assert first == {"id": 100, "name": "广东"}
    assert create_tag(sandbox, "广东")["errcode"] == 45157
    assert create_tag(sandbox, "星标组")["errcode"] == 45157
    assert create_tag(sandbox, "长" * 10)["tag"]["name"] == "长" * 10  # 30 bytes
    assert create_tag(sandbox, "长" * 10 + "x")["errcode"] == 45158
    for n in range(98):
        assert "tag" in create_tag(sandbox, f"t{n}")
    assert create_tag(sandbox, "one too many")["errcode"] == 45056
    listed = sandbox.get("/cgi-bin/tags/get", OA)["tags"]
    assert listed[0] == {"id": 2, "name": "星标组", "count": 0}
    assert len(listed) == 101


def test_tagging_members(sandbox: Sandbox) -> None:
    # given a tag and a follower
    tag_id = create_tag(sandbox, "早起营")["tag"]["id"]
    user = sandbox.user()
    sandbox.act("follow", user, OA)
    openid = sandbox.openid(user, OA)
    # when they are tagged, then user info and tag counts show it
    body = {"openid_list": [openid], "tagid": tag_id}
    assert sandbox.post("/cgi-bin/tags/members/batchtagging", OA, body)["errcode"] == 0
    assert sandbox.post("/cgi-bin/tags/getidlist", OA, {"openid": openid})["tagid_list"] == [tag_id]
    counts = {t["id"]: t["count"] for t in sandbox.get("/cgi-bin/tags/get", OA)["tags"]}
    assert counts[tag_id] == 1
    # and untagging removes it
    assert sandbox.post("/cgi-bin/tags/members/batchuntagging", OA, body)["errcode"] == 0
    assert sandbox.get("/cgi-bin/user/info", OA, openid=openid)["tagid_list"] == []


def test_tagging_refusals(sandbox: Sandbox) -> None:
    tag_id = create_tag(sandbox, "早起营")["tag"]["id"]
    users = [sandbox.user(n) for n in range(1, 52)]
    openids = [sandbox.openid(u, OA) for u in users]
    tagging = "/cgi-bin/tags/members/batchtagging"
    assert sandbox.post(tagging, OA, {"openid_list": openids, "tagid": tag_id})["errcode"] == 40032
    assert sandbox.post(tagging, OA, {"openid_list": openids[:50], "tagid": tag_id})["errcode"] == 0
    assert (
        sandbox.post(tagging, OA, {"openid_list": [openids[0]], "tagid": 999})["errcode"] == 45159
    )
    assert (
        sandbox.post(tagging, OA, {"openid_list": ["o" + "q" * 27], "tagid": tag_id})["errcode"]
        == 40003
    )
    other = sandbox.openid(users[0], SUB)
    assert sandbox.post(tagging, OA, {"openid_list": [other], "tagid": tag_id})["errcode"] == 49003


def test_a_user_carries_at_most_20_tags(sandbox: Sandbox) -> None:
    user = sandbox.user()
    openid = sandbox.openid(user, OA)
    tags = [create_tag(sandbox, f"t{n}")["tag"]["id"] for n in range(21)]
    tagging = "/cgi-bin/tags/members/batchtagging"
    for tag_id in tags[:20]:
        assert sandbox.post(tagging, OA, {"openid_list": [openid], "tagid": tag_id})["errcode"] == 0
    assert (
        sandbox.post(tagging, OA, {"openid_list": [openid], "tagid": tags[20]})["errcode"] == 45059
    )
    assert (
        sandbox.post(tagging, OA, {"openid_list": [openid], "tagid": tags[0]})["errcode"] == 0
    )  # has it


def test_reserved_tags_cannot_be_changed(sandbox: Sandbox) -> None:
    tag_id = create_tag(sandbox, "旧名")["tag"]["id"]
    assert sandbox.post("/cgi-bin/tags/delete", OA, {"tag": {"id": 2}})["errcode"] == 45058
    assert (
        sandbox.post("/cgi-bin/tags/update", OA, {"tag": {"id": 1, "name": "x"}})["errcode"]
        == 45058
    )
    assert (
        sandbox.post("/cgi-bin/tags/update", OA, {"tag": {"id": tag_id, "name": "新名"}})["errcode"]
        == 0
    )
    assert sandbox.post("/cgi-bin/tags/delete", OA, {"tag": {"id": tag_id}})["errcode"] == 0
    assert sandbox.post("/cgi-bin/tags/delete", OA, {"tag": {"id": tag_id}})["errcode"] == 45159


def test_renaming_a_tag_keeps_the_name_rules(sandbox: Sandbox) -> None:
    first = create_tag(sandbox, "一")["tag"]["id"]
    create_tag(sandbox, "二")
    update = "/cgi-bin/tags/update"
    assert sandbox.post(update, OA, {"tag": {"id": first, "name": "二"}})["errcode"] == 45157
    assert sandbox.post(update, OA, {"tag": {"id": first, "name": "长" * 11}})["errcode"] == 45158
    assert sandbox.post(update, OA, {"tag": {"id": 999, "name": "三"}})["errcode"] == 45159
    assert sandbox.post(update, OA, {"tag": {"id": first, "name": "一"}})["errcode"] == 0


def test_a_tag_with_too_many_fans_cannot_be_deleted(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tag over the limit of fans (100 000 in WeChat; 1 here)
    monkeypatch.setattr(audience, "MAX_FANS_TO_DELETE", 1)
    tag_id = create_tag(sandbox, "大标签")["tag"]["id"]
    openids = [sandbox.openid(sandbox.user(n), OA) for n in (1, 2)]
    body = {"openid_list": openids, "tagid": tag_id}
    assert sandbox.post("/cgi-bin/tags/members/batchtagging", OA, body)["errcode"] == 0
    # then WeChat refuses to delete it until it has fewer
    assert sandbox.post("/cgi-bin/tags/delete", OA, {"tag": {"id": tag_id}})["errcode"] == 45057
    body = {"openid_list": openids[:1], "tagid": tag_id}
    assert sandbox.post("/cgi-bin/tags/members/batchuntagging", OA, body)["errcode"] == 0
    assert sandbox.post("/cgi-bin/tags/delete", OA, {"tag": {"id": tag_id}})["errcode"] == 0


def test_a_tags_followers_page_by_page(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # given 5 tagged followers and one who left, in pages of 2
    monkeypatch.setattr(audience, "MAX_TAG_FANS_PAGE", 2)
    tag_id = create_tag(sandbox, "早起营")["tag"]["id"]
    users = [sandbox.user(n) for n in range(1, 7)]
    for user in users:
        sandbox.act("follow", user, OA)
    openids = [sandbox.openid(u, OA) for u in users]
    body = {"openid_list": openids, "tagid": tag_id}
    assert sandbox.post("/cgi-bin/tags/members/batchtagging", OA, body)["errcode"] == 0
    sandbox.act("unfollow", users[5], OA)
    # when user/tag/get is followed to its end
    seen: list[str] = []
    after = ""
    for _ in range(4):
        page = sandbox.post("/cgi-bin/user/tag/get", OA, {"tagid": tag_id, "next_openid": after})
        seen += page["data"]["openid"]
        assert page["count"] == len(page["data"]["openid"])
        after = page["next_openid"]
        if not after:
            break
    # then every follower came once, the one who left did not
    assert sorted(seen) == sorted(openids[:5])
    assert sandbox.post("/cgi-bin/user/tag/get", OA, {"tagid": 999})["errcode"] == 45159


def test_sendall_to_a_tag_reaches_its_followers_only(sandbox: Sandbox) -> None:
    tag_id = sandbox.post("/cgi-bin/tags/create", SUB, {"tag": {"name": "早起营"}})["tag"]["id"]
    inside, outside = sandbox.user(1), sandbox.user(2)
    for user in (inside, outside):
        sandbox.act("follow", user, SUB)
    body = {"openid_list": [sandbox.openid(inside, SUB)], "tagid": tag_id}
    assert sandbox.post("/cgi-bin/tags/members/batchtagging", SUB, body)["errcode"] == 0
    mass = {"filter": {"is_to_all": False, "tag_id": tag_id}, "msgtype": "text"}
    sent = sandbox.post("/cgi-bin/message/mass/sendall", SUB, {**mass, "text": {"content": "早"}})
    assert sent["errcode"] == 0
    assert [i.via for i in inside.inbox] == ["mass"]
    assert [i.via for i in outside.inbox] == []
    # a subscription account broadcasts once a day, to all or to one tag
    again = sandbox.post("/cgi-bin/message/mass/sendall", SUB, {**mass, "text": {"content": "x"}})
    assert again["errcode"] == 45028
