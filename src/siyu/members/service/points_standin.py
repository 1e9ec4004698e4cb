"""STAND-IN (integrator: delete this module) for the points branch's
`siyu.members.service.points.spend_points`, with the same signature and refusal, so that the
points mall can be built and tested before the ledger lands. It keeps balances in this
process's memory, not in the database: `mall.exchange` calls it last, after every other check
and write of the exchange, so that a refusal leaves nothing behind. Once the ledger is merged,
`mall.py` imports `spend_points` from `siyu.members.service.points` and the mall's tests grant
points through that domain instead of `grant_standin_points`.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from siyu.members import errors

_balances: dict[int, int] = {}
_spent: dict[str, int] = {}
_lock = threading.Lock()


def grant_standin_points(member_id: int, amount: int) -> None:
    with _lock:
        _balances[member_id] = _balances.get(member_id, 0) + amount


def standin_balance(member_id: int) -> int:
    with _lock:
        return _balances.get(member_id, 0)


def forget_standin_points() -> None:
    with _lock:
        _balances.clear()
        _spent.clear()


def spend_points(
    session: Session,
    member_id: int,
    amount: int,
    source_key: str,
    *,
    reason: str | None = None,
    actor: str = "system",
) -> int:
    """The member's balance after spending `amount`, once per `source_key`."""
    with _lock:
        if source_key in _spent:
            return _balances.get(member_id, 0)
        balance = _balances.get(member_id, 0)
        if balance < amount:
            raise errors.INSUFFICIENT_POINTS(
                f"member {member_id} has {balance} points, {amount} needed",
                balance=balance,
                amount=amount,
            )
        _balances[member_id] = balance - amount
        _spent[source_key] = amount
        return balance - amount
