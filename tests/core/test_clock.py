"""The injectable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.core import clock
from siyu.core.clock import FrozenClock


def test_frozen_clock_is_used_and_restored() -> None:
    frozen = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    with clock.use_clock(frozen):
        assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
        frozen.advance(timedelta(hours=2))
        assert clock.now() == datetime(2026, 1, 1, 2, tzinfo=UTC)
    assert clock.now() != datetime(2026, 1, 1, 2, tzinfo=UTC)
    assert clock.now().tzinfo is not None


def test_naive_frozen_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 1, 1))
