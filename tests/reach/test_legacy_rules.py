"""The pre-2020 Mini Program template-message rules over history: a form submit allowed one
message within 7 days, a payment three; each send spends the allowance that lapses first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from siyu.reach.policy import legacy_tally
from tests.support.names import MP_APPID, openid

T0 = datetime(2019, 6, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_a_form_submit_allows_one_message_and_a_payment_three_within_seven_days() -> None:
    # a form submit, then two messages: the second had no allowance
    once = legacy_tally([day(0)], [], [day(1), day(2)], day(30))
    assert (once.granted, once.used, once.unmet, once.expired, once.left) == (1, 1, 1, 0, 0)
    # a payment's three lapse after seven days: a message on day 8 was refused
    lapsed = legacy_tally([], [day(0)], [day(8)], day(30))
    assert (lapsed.granted, lapsed.used, lapsed.unmet, lapsed.expired) == (3, 0, 1, 3)
    # the form's allowance (lapsing first) is spent before the payment's; one is left at the end
    both = legacy_tally([day(0)], [day(3)], [day(6), day(7.5), day(8)], day(9))
    assert (both.granted, both.used, both.unmet, both.expired, both.left) == (4, 3, 0, 0, 1)


times = st.lists(st.floats(min_value=0, max_value=60), max_size=12)


@given(forms=times, payments=times, sends=times)
def test_every_allowance_is_used_lapsed_or_left_and_every_send_counted(
    forms: list[float], payments: list[float], sends: list[float]
) -> None:
    tally = legacy_tally(
        [day(f) for f in forms], [day(p) for p in payments], [day(s) for s in sends], day(61)
    )
    assert tally.granted == len(forms) + 3 * len(payments)
    assert tally.granted == tally.used + tally.expired + tally.left
    assert tally.used + tally.unmet == len(sends)


@pytest.mark.usefixtures("mp_app")
def test_the_report_replays_history_for_the_apps_the_policy_names(api: TestClient) -> None:
    # given imported history: member 1 submitted a form and got two template messages,
    # member 2 paid and got one
    def event(n: int, name: str, at: datetime, **props: str) -> dict[str, object]:
        body: dict[str, object] = {
            "event": name,
            "ts": at.isoformat(),
            "appid": MP_APPID,
            "openid": openid(n),
        }
        return {**body, "props": props} if props else body

    history = [
        event(1, "mp.form_submit", day(0)),
        event(1, "message.sent", day(1), channel="mp_template"),
        event(1, "message.sent", day(2), channel="mp_template"),
        event(2, "pay.paid", day(0)),
        event(2, "message.sent", day(5), channel="mp_template"),
        event(2, "message.sent", day(5), channel="oa_template"),  # another channel: not counted
    ]
    assert api.post("/api/events", json=history).status_code == 200
    params = {"appid": MP_APPID, "since": day(-1).isoformat(), "until": day(30).isoformat()}
    # when the policy does not read that app under the old rules, the report says how to
    off = api.get("/api/reach/legacy-report", params=params)
    assert (off.status_code, off.json()["code"]) == (409, "reach.legacy_rules_off")
    policy = api.get("/api/reach/policy").json()
    changed = api.put("/api/reach/policy", json={**policy, "legacy_template_apps": [MP_APPID]})
    assert changed.status_code == 200, changed.text
    # then the report counts what the rules allowed, used, refused and let lapse
    report = api.get("/api/reach/legacy-report", params=params).json()
    assert report["members"] == 2
    assert report["totals"] == {
        "form_submits": 1,
        "payments": 1,
        "granted": 4,
        "used": 2,
        "unmet": 1,
        "expired": 2,
        "left": 0,
    }
    # and a period that ends before it starts is refused
    backwards = api.get("/api/reach/legacy-report", params={**params, "until": day(-2).isoformat()})
    assert (backwards.status_code, backwards.json()["code"]) == (422, "reach.invalid_period")
