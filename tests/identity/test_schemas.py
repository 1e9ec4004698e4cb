"""What an incoming event must be: the rules pydantic checks, and the one about time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from siyu.identity.schemas import EventIn
from tests.support.names import openid

# Offsets WeChat's users and servers might write, strictly within a day either way.
zones = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 3), max_value=datetime(2099, 12, 28), timezones=st.just(UTC)
)


def _event(ts: datetime) -> bytes:
    return (
        f'{{"event":"mp.login","ts":"{ts.isoformat()}","appid":"wx0123456789abcdef",'
        f'"openid":"{openid(1)}"}}'
    ).encode()


# Event times around the limit, where a shortcut by dates could go wrong.
nearby = st.timedeltas(min_value=timedelta(days=-4), max_value=timedelta(days=4))


@given(latest=instants, offset=nearby, ts_zone=zones, latest_zone=zones)
# The edge of the date shortcut: dates two apart, the zones as far apart as they go.
@example(
    latest=datetime(2026, 5, 31, 0, 1, tzinfo=UTC),
    offset=timedelta(hours=23, minutes=57),
    ts_zone=timezone(-timedelta(hours=23, minutes=59)),
    latest_zone=timezone(timedelta(hours=23, minutes=59)),
)
def test_the_future_rule_is_the_exact_comparison_in_any_zones(
    latest: datetime, offset: timedelta, ts_zone: timezone, latest_zone: timezone
) -> None:
    # Given an event time near a latest allowed time, each written in any zone
    ts = latest + offset
    written, limit = ts.astimezone(ts_zone), latest.astimezone(latest_zone)
    # When the event is validated against that limit (its date shortcut included)
    try:
        EventIn.model_validate_json(_event(written), context={"latest": limit})
        accepted = True
    except ValidationError:
        accepted = False
    # Then it is accepted exactly when it is not later than the limit
    assert accepted == (ts <= latest)


def test_without_a_context_the_clock_sets_the_limit() -> None:
    soon = datetime.now(UTC) + timedelta(hours=20)
    later = datetime.now(UTC) + timedelta(hours=30)
    assert EventIn.model_validate_json(_event(soon)).ts == soon
    with pytest.raises(ValidationError, match="more than a day in the future"):
        EventIn.model_validate_json(_event(later))
