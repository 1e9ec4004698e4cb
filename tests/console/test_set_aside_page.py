"""The overview shows the backlog (and warns when pushes wait too long); the set-aside page
lists poisoned pushes with their error and queues them again once, however often asked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.security.models import AuditEntry
from siyu.wechat import inbox
from siyu.wechat.models import PushReceipt, PushStatus
from tests.support.console import Console, tables_outside_the_wrap
from tests.support.names import openid
from tests.support.wechat import WeChat, text_push

WARNING = "推送积压：最早的一条已等待"


def push_statuses(db: Database) -> list[PushStatus]:
    with db.session_scope() as session:
        return list(session.scalars(select(PushReceipt.status).order_by(PushReceipt.id)))


def test_the_overview_warns_when_the_oldest_push_waited_over_five_minutes(
    console: Console, oa: WeChat, frozen_clock: FrozenClock
) -> None:
    # given a push stored, its job not run yet
    oa.plain(text_push(openid(1), 9900))
    # when the overview is opened at once, then after six minutes
    fresh = console.client.get("/").text
    frozen_clock.advance(timedelta(minutes=6))
    late = console.client.get("/").text
    # then both show it waiting, and only the late one warns (in Chinese, with the minutes)
    assert 'data-figure="push-waiting">1<' in fresh
    assert WARNING not in fresh
    assert f"{WARNING} 6 分钟" in late
    assert 'data-figure="push-oldest">360 秒<' in late


def test_a_set_aside_push_is_listed_with_its_error_and_queued_again_once(
    console: Console, oa: WeChat, db: Database
) -> None:
    # given a push set aside after its tries
    oa.plain(text_push(openid(1), 9901))
    with db.session_scope() as session:
        [push_id] = session.scalars(select(PushReceipt.id))
        inbox.set_aside(session, {push_id: "RuntimeError: 处理器出错"})
    # when the operator opens the page
    page = console.client.get("/set-aside")
    # then it lists the push with its error
    assert page.status_code == 200
    assert f'id="push-{push_id}"' in page.text
    assert "RuntimeError: 处理器出错" in page.text
    # in a table that scrolls inside its panel
    assert tables_outside_the_wrap(page.text) == (1, 0)
    # when they press "queue again" twice
    for _ in range(2):
        answer = console.client.post(
            "/set-aside/pushes/retry",
            data={"push_id": str(push_id), "csrf_token": console.csrf},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    # then the push waits again, and the retry was audited once
    assert push_statuses(db) == [PushStatus.received]
    with db.session_scope() as session:
        query = select(func.count()).where(AuditEntry.action == "wechat.pushes_retried")
        assert session.scalar(query) == 1
    assert f'id="push-{push_id}"' not in console.client.get("/set-aside").text


def test_a_retry_without_a_push_is_refused_and_changes_nothing(
    console: Console, oa: WeChat, db: Database
) -> None:
    oa.plain(text_push(openid(1), 9902))
    with db.session_scope() as session:
        [push_id] = session.scalars(select(PushReceipt.id))
        inbox.set_aside(session, {push_id: "boom"})
    answer = console.client.post(
        "/set-aside/pushes/retry", data={"csrf_token": console.csrf}, follow_redirects=False
    )
    assert answer.status_code == 422
    assert push_statuses(db) == [PushStatus.failed]
