"""Jobs that call WeChat after a push: late replies through the customer-service API, and the
follower's UnionID through user/info."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.config import Settings, install_settings
from siyu.core.db import Database
from siyu.core.jobs import WECHAT_LANE, lanes, queue
from siyu.identity import service as identity
from siyu.identity.enums import IdentityKind, MemberStatus
from siyu.identity.models import Identity, Member, TimelineEvent
from siyu.identity.schemas import PersonRef
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.world import SandboxWorld, SimUser
from siyu.wechat import inbox
from siyu.wechat.models import PushReceipt, UnionidFetch
from siyu.wechat.schemas import (
    Article,
    NewsReply,
    Push,
    Reply,
    TextReply,
    TransferCustomerServiceReply,
)
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate, AppRead
from tests.support.names import MP_APPID, OA_APPID, openid
from tests.support.sandbox import follower
from tests.support.wechat import AES_KEY, TOKEN, WeChat, cdata_xml, text_push

ReplyWith = Callable[[Callable[[Push], Reply | None]], None]


@pytest.fixture(autouse=True)
def jobs_call_the_sandbox(
    settings: Settings, sandbox_server: tuple[object, str], client: object
) -> Iterator[None]:
    """Jobs reach WeChat at the sandbox's URL (the application installed its own settings)."""
    sandbox = {"wechat_api_base": sandbox_server[1], "fetch_follower_unionid": True}
    install_settings(settings.model_copy(update=sandbox))
    yield
    install_settings(settings)


def answer_late(db: Database, oa: WeChat, openid: str, msg_id: int) -> None:
    """Deliver a message and process it as the job does when the handler overran its budget."""
    oa.plain(text_push(openid, msg_id, "课程几点开始？"))
    with db.session_scope() as session:
        push_id = session.scalars(select(PushReceipt.id).order_by(PushReceipt.id.desc())).first()
        assert push_id is not None
        assert inbox.process(session, push_id, answer_late=True)


def timeline(db: Database) -> list[tuple[str, dict[str, object]]]:
    with db.session_scope() as session:
        rows = session.scalars(select(TimelineEvent).order_by(TimelineEvent.id)).all()
        return [(row.name, row.props) for row in rows]


def custom_inbox(user: SimUser) -> list[tuple[str, dict[str, object]]]:
    return [(item.msgtype, item.content) for item in user.inbox if item.via == "custom"]


def test_the_late_reply_is_sent_once_the_transaction_committed(
    oa: WeChat,
    oa_app: AppRead,
    db: Database,
    drain: Callable[[], int],
    world: SandboxWorld,
    reply_with: ReplyWith,
) -> None:
    # given a follower who just wrote (so the 48-hour window is open) and a handler's answer
    user, openid = follower(world)
    open_grant(world, user, OA_APPID, "message")
    reply_with(lambda push: TextReply("今晚 8 点开课"))
    # when the job processes the message after the budget ran out
    answer_late(db, oa, openid, 7001)
    assert custom_inbox(user) == []  # nothing leaves before the commit
    drain()
    # then the user receives it through the customer-service API, and the timeline says so
    assert custom_inbox(user) == [("text", {"content": "今晚 8 点开课"})]
    names = [name for name, _props in timeline(db)]
    assert names == ["oa.message", "message.sent"]
    assert timeline(db)[1][1]["channel"] == "customer_service"


def test_outside_the_window_the_refusal_is_recorded_and_not_retried(
    oa: WeChat, db: Database, drain: Callable[[], int], world: SandboxWorld, reply_with: ReplyWith
) -> None:
    # given a follower with no open customer-service window
    user, openid = follower(world)
    reply_with(lambda push: TextReply("稍后回复"))
    # when the late reply is sent
    answer_late(db, oa, openid, 7002)
    ran = drain()
    # then WeChat's 45015 is recorded as message.failed, the job is not retried, nothing arrived
    assert ran == 3  # the processing job (already done), user/info, and one send
    assert queue.scheduled_count() == 0  # no retry waiting
    assert custom_inbox(user) == []
    failed = [props for name, props in timeline(db) if name == "message.failed"]
    assert [props["errcode"] for props in failed] == [45015]


def test_news_becomes_a_customer_service_news_message() -> None:
    articles = tuple(Article(title=f"第{i}篇", url=f"https://example.com/{i}") for i in range(10))
    message = inbox.customer_service_message("o" + "x" * 27, NewsReply(articles))
    assert message is not None
    payload = message.payload()
    assert payload["msgtype"] == "news"
    assert len(payload["news"]["articles"]) == 8  # the API's limit for one news message
    assert payload["news"]["articles"][0] == {
        "title": "第0篇",
        "description": "",
        "url": "https://example.com/0",
        "picurl": "",
    }


def test_a_hand_off_to_staff_sends_nothing(
    oa: WeChat, db: Database, drain: Callable[[], int], world: SandboxWorld, reply_with: ReplyWith
) -> None:
    user, openid = follower(world)
    open_grant(world, user, OA_APPID, "message")
    reply_with(lambda push: TransferCustomerServiceReply())
    answer_late(db, oa, openid, 7003)
    drain()
    assert custom_inbox(user) == []
    assert [name for name, _props in timeline(db)] == ["oa.message"]


# --- the follower's UnionID ----------------------------------------------------------------


def subscribe_push(openid: str, create_time: int) -> str:
    return cdata_xml(
        {
            "ToUserName": "gh_e136c6e50636",
            "FromUserName": openid,
            "CreateTime": create_time,
            "MsgType": "event",
            "Event": "subscribe",
        }
    )


def active_members(db: Database) -> list[int]:
    with db.session_scope() as session:
        query = select(Member.id).where(Member.status == MemberStatus.active)
        return list(session.scalars(query))


def owner_of(db: Database, kind: IdentityKind, value: str) -> int | None:
    with db.session_scope() as session:
        query = select(Identity.member_id).where(Identity.kind == kind, Identity.value == value)
        return session.scalars(query).first()


def test_a_new_follower_joins_the_member_the_mini_program_knows(
    oa: WeChat,
    mp_app: AppRead,
    db: Database,
    drain: Callable[[], int],
    world: SandboxWorld,
) -> None:
    # given a member who logged in to the Mini Program (openid + UnionID)
    user, oa_openid = follower(world)
    mp_person = PersonRef(appid=MP_APPID, openid=world.openid(user, MP_APPID), unionid=user.unionid)
    with db.session_scope() as session:
        member_id = identity.resolve_member(session, mp_app, mp_person).id
    # when they follow the OA: the push names only the OA openid
    oa.plain(subscribe_push(oa_openid, 1714112445))
    drain()
    # then user/info gave the UnionID, and the follower is that same member
    assert owner_of(db, IdentityKind.openid, oa_openid) == member_id
    assert active_members(db) == [member_id]


def test_a_second_delivery_of_the_follow_asks_nothing_more(
    oa: WeChat,
    db: Database,
    drain: Callable[[], int],
    world: SandboxWorld,
) -> None:
    # given a follower already joined through their UnionID
    user, oa_openid = follower(world)
    oa.plain(subscribe_push(oa_openid, 1714112445))
    assert drain() == 2  # processing, then the user/info job
    before = active_members(db)
    # when WeChat retries the same push
    oa.plain(subscribe_push(oa_openid, 1714112445))
    # then it is a duplicate: no job, no change
    assert drain() == 0
    assert active_members(db) == before
    assert owner_of(db, IdentityKind.unionid, user.unionid) == before[0]


def test_a_user_who_is_no_follower_keeps_their_openid_member(
    oa: WeChat, db: Database, drain: Callable[[], int], world: SandboxWorld
) -> None:
    # given a user who wrote but does not follow (user/info answers subscribe=0, no UnionID)
    stranger = world.create_users(1, seed=7)[0]
    openid = world.openid(stranger, OA_APPID)
    oa.plain(text_push(openid, 7100))
    drain()
    # then the member has the openid and no UnionID
    assert owner_of(db, IdentityKind.unionid, stranger.unionid) is None
    assert owner_of(db, IdentityKind.openid, openid) is not None


def test_an_app_without_an_appsecret_asks_wechat_nothing(
    client: TestClient, db: Database, workspace_id: int, drain: Callable[[], int]
) -> None:
    # given an OA that takes pushes (Token, EncodingAESKey) but has no AppSecret here
    with db.session_scope() as session:
        app = workspaces.add_app(
            session,
            workspace_id,
            AppCreate(
                kind=AppKind.oa_service,
                appid="wx5ec7e7a1c0ffee00",
                name="只收消息的服务号",
                token=TOKEN,
                aes_key=AES_KEY,
            ),
        )
    # when a new follower's subscribe arrives
    WeChat(client, app.appid).secure(subscribe_push(openid(1), 1714112445))
    # then only the processing job runs: no user/info job, which could only give up
    assert drain() == 1
    assert owner_of(db, IdentityKind.openid, openid(1)) is not None


def test_an_unreachable_wechat_leaves_the_fetch_to_retry_later_without_a_traceback(
    settings: Settings,
    db: Database,
    oa_app: AppRead,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given WeChat cannot be reached
    install_settings(settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9"}))
    from siyu.wechat import tasks

    lane = lanes[WECHAT_LANE]
    lane.enqueue(tasks.fetch_follower_unionid.s(oa_app.id, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"))
    # when the job runs
    job = lane.dequeue()
    assert job is not None
    lane.execute(job)
    # then no retry waits in the queue (it would be lost with the queue): the database
    # remembers the fetch, when to ask again and why, and nothing raised
    assert lane.dequeue() is None
    assert lane.scheduled_count() == 0
    with db.session_scope() as session:
        row = session.scalars(select(UnionidFetch)).one()
        assert (row.openid, row.attempts) == ("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", 1)
        assert row.next_attempt_at is not None
        assert row.last_error.startswith("-1 unreachable")
    assert "Unhandled exception" not in caplog.text
