"""Pure rules: subscribe field values (the same verdicts as the sandbox's WeChat) and the slots
of a customer-service text."""

from __future__ import annotations

import pytest

from siyu.reach.rules import check_subscribe_value, fill, slots
from siyu.sandbox.errors import WeChatError
from siyu.sandbox.rules import check_subscribe_data

VALUES = [
    ("thing1", "晨读打卡"),
    ("thing1", "超" * 20),
    ("thing1", "超" * 21),
    ("number2", "12.5"),
    ("number2", "12a"),
    ("letter3", "abc"),
    ("letter3", "ab1"),
    ("symbol4", "!!"),
    ("symbol4", "!!!!!!"),
    ("character_string5", "A-1024"),
    ("character_string5", "中文"),
    ("time6", "2026-11-20 09:30"),
    ("time6", "明天上午"),
    ("date7", "2026年11月20日"),
    ("date7", "11/20"),
    ("amount8", "¥99.00"),
    ("amount8", "99.999元"),
    ("phone_number9", "+86 138-0000-0000"),
    ("phone_number9", "call me"),
    ("name10", "王子涵"),
    ("name10", "超" * 11),
    ("phrase11", "已完成"),
    ("phrase11", "done"),
]


@pytest.mark.parametrize(("key", "value"), VALUES)
def test_field_rules_agree_with_wechat(key: str, value: str) -> None:
    # given WeChat's verdict on the value (the sandbox answers 47003 for a broken rule)
    errcode = 0
    try:
        check_subscribe_data({key: {"value": value}}, [key])
    except WeChatError as exc:
        errcode = exc.errcode
    assert errcode in (0, 47003)
    wechat_accepts = errcode == 0
    # then siyu refuses exactly the values WeChat would refuse, before sending
    assert (check_subscribe_value(key, value) is None) == wechat_accepts


def test_customer_service_slots_are_plain_names() -> None:
    assert slots("今天的{course}在{place}") == ["course", "place"]
    assert fill("今天的{course}", {"course": "晨读"}) == "今天的晨读"
    with pytest.raises(ValueError, match="plain name"):
        slots("{course.__class__}")
