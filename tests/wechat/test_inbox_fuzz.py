"""Whatever arrives at the push endpoint, the answer is never a 500, and accepted pushes process."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from siyu.core.db import Database
from siyu.wechat.models import PushReceipt, PushStatus
from tests.support.wechat import WeChat

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELDS = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Event",
    "EventKey",
    "MsgId",
    "Content",
    "Ticket",
    "List",
    "ScanCodeInfo",
    "SendPicsInfo",
    "MsgID",
    "Status",
    "Location_X",
    "Scale",
    "Count",
    "TotalCount",
]
MSG_TYPES = ["text", "image", "location", "event", "miniprogrampage", "x" * 40, ""]
EVENTS = [
    "subscribe",
    "SCAN",
    "CLICK",
    "LOCATION",
    "subscribe_msg_popup_event",
    "MASSSENDJOBFINISH",
    "location_select",
    "pic_weixin",
    "x" * 70,
]
scalars = st.one_of(
    st.text(max_size=80), st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def pushes(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ToUserName": "gh_e136c6e50636",
        "FromUserName": draw(st.sampled_from(["oMgHVjngRipVsoxg6TuX3vz6glDg", "短", "o\x00x"])),
        "CreateTime": draw(st.one_of(st.integers(-5, 2**40), st.text(max_size=5))),
        "MsgType": draw(st.sampled_from(MSG_TYPES)),
        "Event": draw(st.sampled_from(EVENTS)),
    }
    fields.update(draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)))
    return fields


@FUZZ
@given(body=st.binary(max_size=3000))
def test_random_bytes_are_refused_cleanly(oa: WeChat, body: bytes) -> None:
    assert oa.plain(body).status_code in {200, 400}


@FUZZ
@given(push=pushes())
def test_push_shaped_json_is_accepted_or_refused_cleanly(
    mp: WeChat, db: Database, drain: Callable[[], int], push: dict[str, Any]
) -> None:
    # when a JSON push of arbitrary fields arrives, sealed correctly
    response = mp.secure(json.dumps(push), fmt="json")
    # then it is accepted or refused as malformed, never a 500
    assert response.status_code in {200, 400}, response.text
    assert response.status_code == 200 or response.json()["code"] == "wechat.malformed_push"
    # and whatever was accepted is processed by its job
    drain()
    with db.session_scope() as session:
        statuses = set(session.scalars(select(PushReceipt.status)))
    assert statuses <= {PushStatus.processed}
