"""Phone rules: E.164 or an 11-digit mainland mobile, normalized to E.164; masked for display."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.identity.schemas import mask_phone, normalize_phone

mainland = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
e164 = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)


@given(mainland)
def test_mainland_numbers_gain_the_country_code(number: str) -> None:
    assert normalize_phone(number) == "+86" + number
    assert normalize_phone(f"{number[:3]} {number[3:7]}-{number[7:]}") == "+86" + number


@given(e164)
def test_e164_is_kept(number: str) -> None:
    assert normalize_phone(number) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1380000000",
        "138000000000",
        "23800000000",
        "12800000000",
        "+0861380000000",
        "+86",
        "+1234567890123456",
        "86 138 0000 0000x",
        "１３８００００００００",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        normalize_phone(text)


@given(mainland)
def test_mask_keeps_three_and_four_digits(number: str) -> None:
    masked = mask_phone("+86" + number)
    assert masked == f"{number[:3]}****{number[-4:]}"
