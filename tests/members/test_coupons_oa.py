"""Coupons in the Official Account's chat: a template's keyword claims it (once per message,
the outcome sent through customer service), and "优惠券" answers with the member's own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from siyu.core.db import Database
from siyu.sandbox.messaging import open_grant
from tests.support.coupons import create_template, written
from tests.support.names import OA_APPID
from tests.support.reach import Person
from tests.support.wechat import WeChat, message_push

NewPerson = Callable[[], Person]
pytestmark = pytest.mark.usefixtures("oa_app", "mp_app")


def _custom_texts(p: Person) -> list[str]:
    return [str(i.content.get("content", "")) for i in p.user.inbox if i.via == "custom"]


def test_a_keyword_claims_the_coupon_once_and_tells_the_outcome(
    api: TestClient, db: Database, person: NewPerson, oa: WeChat, drain: Callable[[], int]
) -> None:
    # given a template claimed by the keyword "领券"
    create_template(api, oa_keyword="领券", mp_claimable=False)
    p = person()
    # when the follower writes it (WeChat delivering the message twice)
    open_grant(p.world, p.user, OA_APPID, "message")  # the message opens the 48-hour window
    push = message_push(p.oa_openid, "领券", msg_id=88001)
    first = oa.plain(push)
    oa.plain(push)
    drain()
    # then the passive reply acknowledges it, one coupon is issued, and the outcome arrives
    assert "正在为你领取「满100减20」" in first.text
    state = written(db)
    assert (state.coupons, state.issued) == (1, 1)
    [told] = _custom_texts(p)
    assert "已为你领取「满100减20」" in told
    # and a second message is told the limit, issuing nothing
    oa.plain(message_push(p.oa_openid, "领券", msg_id=88002))
    drain()
    assert "你已经领过了" in _custom_texts(p)[-1]
    assert written(db).coupons == 1
    # and "优惠券" lists the coupon with its code
    answer = oa.plain(message_push(p.oa_openid, "优惠券", msg_id=88003)).text
    code = told.split("券码 ")[1].split("，")[0]
    assert "你有 1 张可用优惠券" in answer
    assert code in answer


def test_coupons_keyword_from_a_stranger_says_there_are_none(oa: WeChat) -> None:
    answer = oa.plain(message_push("o-stranger-000000000000000001", "优惠券")).text
    assert "你还没有可用的优惠券" in answer
