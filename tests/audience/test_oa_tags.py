"""OA tag sync through the sandbox WeChat: the OA tag made, the diff tagged and untagged in
batches of ≤ 50, non-followers and users at 20 tags reported, resumable and idempotent; the
mapping's refusals; the OA's tags imported as siyu tags."""

from __future__ import annotations

import pytest

from siyu.audience import service
from siyu.audience.enums import OaTagSource, OaTagSyncStatus, SegmentKind, SkipReason
from siyu.audience.schemas import OaTagSyncCreate, SegmentCreate
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.identity import service as identity
from siyu.sandbox.world import Follow, Outage, SandboxWorld
from siyu.security.schemas import Principal
from siyu.wechat.service import Gateway, SystemBusy
from siyu.workspaces.schemas import AppRead
from tests.support.names import MP_APPID, OA_APPID
from tests.support.oa_tags import fans, on_tag, sync_count, synced_members, tag


def mapping(db: Database, owner: Principal, source: str = "早起营") -> int:
    with db.session_scope() as session:
        data = OaTagSyncCreate(appid=OA_APPID, source=source)
        return service.create_oa_tag_sync(session, owner.workspace_id, data, owner).id


def watch_tagging(world: SandboxWorld) -> Outage:
    """Counts WeChat's tagging calls (batchtagging and batchuntagging), letting them through."""
    return world.fail(Outage(prefix="/cgi-bin/tags/members/batch", proceed=True))


def test_a_sync_tags_followers_of_the_tag_and_reports_the_others(
    db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld, sandbox_gateway: Gateway
) -> None:
    # given 120 followers tagged 早起营 in siyu, 3 tagged ones who left the OA, and others
    tagged = fans(db, world, oa_app, 120)
    gone = fans(db, world, oa_app, 3, following=False)
    fans(db, world, oa_app, 5)
    tag(db, owner.workspace_id, tagged + gone, "早起营")
    sync_id = mapping(db, owner)
    # when it is synced
    report = service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    # then the OA tag exists and carries exactly the 120 followers, in 3 calls of ≤ 50
    assert on_tag(world, OA_APPID, "早起营") == {f.openid for f in tagged}
    assert report.tagged == 120
    assert report.skipped == {SkipReason.not_following: 3}
    assert {e.member_id for e in report.examples} == {f.member_id for f in gone}
    assert synced_members(db) == {f.member_id for f in tagged}
    with db.session_scope() as session:
        read = service.get_oa_tag_sync(session, owner.workspace_id, sync_id)
    assert read.status == OaTagSyncStatus.done
    assert read.members == 120
    assert read.oa_tag_id in world.account(OA_APPID).tags


def test_running_twice_tags_nothing_new_and_a_change_is_a_diff(
    db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld, sandbox_gateway: Gateway
) -> None:
    people = fans(db, world, oa_app, 60)
    tag(db, owner.workspace_id, people[:55], "早起营")
    sync_id = mapping(db, owner)
    calls = watch_tagging(world)
    service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    assert calls.calls == 2
    # when it runs again with nothing changed, then WeChat is not asked to tag anyone
    again = service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    assert (again.tagged, again.untagged, calls.calls) == (0, 0, 2)
    # when two leave the siyu tag and three join it
    with db.session_scope() as session:
        identity.untag_members(
            session, owner.workspace_id, [p.member_id for p in people[:2]], "早起营"
        )
    tag(db, owner.workspace_id, people[55:58], "早起营")
    diff = service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    # then only the difference is sent, and WeChat's tag equals siyu's again
    assert (diff.tagged, diff.untagged) == (3, 2)
    assert calls.calls == 4
    assert on_tag(world, OA_APPID, "早起营") == {p.openid for p in people[2:58]}


def test_a_user_at_20_tags_is_reported_not_forced(
    db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld, sandbox_gateway: Gateway
) -> None:
    # given a follower already carrying 20 OA tags among 10 tagged followers
    people = fans(db, world, oa_app, 10)
    full = people[3]
    for n in range(20):
        tag_id = sandbox_gateway.create_tag(OA_APPID, f"旧{n}").id
        sandbox_gateway.tag_users_once(OA_APPID, tag_id, [full.openid], add=True)
    tag(db, owner.workspace_id, people, "早起营")
    # when synced
    report = service.sync_oa_tag(db, mapping(db, owner), gateway=sandbox_gateway)
    # then the 9 others are tagged; the full one is reported and keeps their 20
    assert report.tagged == 9
    assert report.skipped == {SkipReason.user_tag_limit: 1}
    assert [e.member_id for e in report.examples] == [full.member_id]
    assert on_tag(world, OA_APPID, "早起营") == {p.openid for p in people if p is not full}
    assert len(full.user.tags[OA_APPID]) == 20


def test_an_interrupted_sync_resumes_where_it_stopped(
    db: Database,
    owner: Principal,
    oa_app: AppRead,
    world: SandboxWorld,
    sandbox_gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given 1 200 tagged followers and WeChat failing after the first 1 000 are confirmed
    people = fans(db, world, oa_app, 1200)
    tag(db, owner.workspace_id, people, "早起营")
    sync_id = mapping(db, owner)
    tag_once = sandbox_gateway.tag_users_once
    answered = 0

    def failing_after_20(appid: str, tag_id: int, openids: list[str], *, add: bool) -> None:
        nonlocal answered
        answered += 1
        if answered > 20:
            raise SystemBusy(-1, "system error", path="/cgi-bin/tags/members/batchtagging")
        tag_once(appid, tag_id, openids, add=add)

    monkeypatch.setattr(sandbox_gateway, "tag_users_once", failing_after_20)
    with pytest.raises(SiyuError) as refused:
        service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    assert refused.value.code == "wechat.refused"
    with db.session_scope() as session:
        stopped = service.get_oa_tag_sync(session, owner.workspace_id, sync_id)
    assert stopped.status == OaTagSyncStatus.failed
    assert stopped.members == 1000
    assert stopped.report.error is not None
    # when WeChat is back and the sync runs again
    monkeypatch.setattr(sandbox_gateway, "tag_users_once", tag_once)
    report = service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    # then only the 200 left are sent, and all 1 200 carry the tag
    assert report.tagged == 200
    assert on_tag(world, OA_APPID, "早起营") == {p.openid for p in people}
    assert synced_members(db) == {p.member_id for p in people}


@pytest.mark.parametrize(
    ("appid", "source", "name", "code"),
    [
        (MP_APPID, "早起营", None, "audience.not_an_official_account"),
        (OA_APPID, "早起营", "长" * 11, "audience.oa_tag_name_invalid"),
        (OA_APPID, "星标组", None, "audience.oa_tag_name_invalid"),
        (OA_APPID, "晨读", "已同步", "audience.oa_tag_already_mapped"),
        (OA_APPID, "早起营", "别名", "audience.source_already_mapped"),
    ],
)
def test_mapping_refusals_write_nothing(
    db: Database,
    owner: Principal,
    oa_app: AppRead,
    mp_app: AppRead,
    appid: str,
    source: str,
    name: str | None,
    code: str,
) -> None:
    with db.session_scope() as session:
        data = OaTagSyncCreate(appid=OA_APPID, source="早起营", oa_tag_name="已同步")
        service.create_oa_tag_sync(session, owner.workspace_id, data, owner)
    data = OaTagSyncCreate(appid=appid, source=source, oa_tag_name=name)
    with db.session_scope() as session, pytest.raises(SiyuError) as refused:
        service.create_oa_tag_sync(session, owner.workspace_id, data, owner)
    assert refused.value.code == code
    assert sync_count(db) == 1


def test_an_oa_at_100_tags_is_refused_before_wechat(
    db: Database, owner: Principal, oa_app: AppRead, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("siyu.audience.service.oa_tags.MAX_OA_TAGS", 2)
    mapping(db, owner, "一")
    mapping(db, owner, "二")
    with pytest.raises(SiyuError) as refused:
        mapping(db, owner, "三")
    assert refused.value.code == "audience.too_many_oa_tags"
    assert sync_count(db) == 2


def test_wechat_refusing_the_tag_is_told_in_its_words(
    db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld, sandbox_gateway: Gateway
) -> None:
    # given the OA at WeChat's 100 tags already
    for n in range(100):
        sandbox_gateway.create_tag(OA_APPID, f"t{n}")
    tag(db, owner.workspace_id, fans(db, world, oa_app, 1), "早起营")
    sync_id = mapping(db, owner)
    with pytest.raises(SiyuError) as refused:
        service.sync_oa_tag(db, sync_id, gateway=sandbox_gateway)
    assert refused.value.code == "wechat.oa_tag_limit"
    assert synced_members(db) == set()


def test_importing_the_oas_tags(
    db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld, sandbox_gateway: Gateway
) -> None:
    # given an OA tag on WeChat with 3 followers siyu knows and one it does not
    people = fans(db, world, oa_app, 3)
    stranger = world.create_users(1, seed=99)[0]
    tag_id = sandbox_gateway.create_tag(OA_APPID, "老客户").id
    stranger.follows[OA_APPID] = Follow(True, world.now(), "ADD_SCENE_SEARCH")
    openids = [p.openid for p in people] + [world.openid(stranger, OA_APPID)]
    sandbox_gateway.tag_users_once(OA_APPID, tag_id, openids, add=True)
    # when imported
    report = service.import_oa_tags(
        db, owner.workspace_id, OA_APPID, owner, gateway=sandbox_gateway
    )
    # then the members carry the siyu tag, and a sync of it has nothing to do
    assert report.tags == ["老客户"]
    assert (report.members_tagged, report.unknown_openids) == (3, 1)
    with db.session_scope() as session:
        assert set(identity.members_with_tag(session, owner.workspace_id, "老客户")) == {
            p.member_id for p in people
        }
        (synced,) = service.list_oa_tag_syncs(session, owner.workspace_id, OA_APPID)
    again = service.sync_oa_tag(db, synced.id, gateway=sandbox_gateway)
    assert (again.tagged, again.untagged) == (0, 0)


def test_a_segment_syncs_its_members_who_follow(
    db: Database, owner: Principal, oa_app: AppRead, world: SandboxWorld, sandbox_gateway: Gateway
) -> None:
    # given a static segment of 30 tagged followers (and 10 other followers)
    people = fans(db, world, oa_app, 40)
    tag(db, owner.workspace_id, people[:30], "高意向")
    with db.session_scope() as session:
        segment = service.create_segment(
            session,
            owner,
            SegmentCreate(
                name="高意向人群",
                kind=SegmentKind.static,
                definition={"op": "and", "conditions": [{"kind": "tags", "tags": ["高意向"]}]},
            ),
        )
        created = service.create_oa_tag_sync(
            session,
            owner.workspace_id,
            OaTagSyncCreate(appid=OA_APPID, source_kind=OaTagSource.segment, source=segment.name),
            owner,
        )
    # when the segment's mapping is synced
    report = service.sync_oa_tag(db, created.id, gateway=sandbox_gateway)
    # then the OA tag named after the segment carries exactly its 30 members
    assert report.tagged == 30
    assert on_tag(world, OA_APPID, "高意向人群") == {f.openid for f in people[:30]}
