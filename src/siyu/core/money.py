"""Money is integer fen; people read and type yuan. One rule for both directions."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def parse_yuan(text: str, *, allow_zero: bool = True, blank: int | None = None) -> int:
    """Yuan as people type them ("9", "9.9", "9.90") → integer fen.

    Raises `ValueError` for anything else: a third decimal, a sign, letters, NaN or infinity
    (Decimal accepts those), zero when `allow_zero` is false. A blank field is `blank` when
    given, else an error.
    """
    text = text.strip()
    if not text and blank is not None:
        return blank
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount in yuan: {text!r}") from None
    if not value.is_finite() or value.is_signed() or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"not an amount in yuan: {text!r}")
    if value == 0 and not allow_zero:
        raise ValueError("the amount must be above zero")
    return int(value * 100)


def format_yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals ("227.70"); exact, no float on the way."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def parse_bill_amount(text: str) -> int:
    """An amount of a WeChat Pay bill (`` `227.70 ``: a backtick keeps Excel from reformatting
    it) → fen. Bills are WeChat's own output, so this is lenient about what WeChat omits."""
    whole, _, frac = text.strip().lstrip("`").partition(".")
    return int(whole or "0") * 100 + int((frac + "00")[:2])


__all__ = ["format_yuan", "parse_bill_amount", "parse_yuan"]
