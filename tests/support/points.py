"""Points in tests: members made in the test workspace, what their accounts, lots and
ledger hold, and rules set straight through the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.members import service as members
from siyu.members.enums import EarnTrigger
from siyu.members.models import PointsAccount, PointsEntry, PointsLot, Signin
from siyu.members.schemas import LevelIn, PolicyIn, RuleIn
from siyu.security.schemas import Principal
from siyu.workspaces.schemas import AppRead


def beijing(day: str, hour: int = 10, minute: int = 0) -> datetime:
    """A Beijing wall-clock time, in UTC."""
    d = datetime.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@dataclass
class Loyalty:
    db: Database
    app: AppRead
    owner: Principal

    @property
    def workspace_id(self) -> int:
        return self.app.workspace_id

    def member(self, openid: str = "o-points-1") -> int:
        with self.db.session_scope() as session:
            return identity.resolve_member(
                session, self.app, PersonRef(appid=self.app.appid, openid=openid)
            ).id

    def number(self, member_id: int) -> int:
        with self.db.session_scope() as session:
            return identity.get_member(session, self.workspace_id, member_id).number

    def rule(self, trigger: EarnTrigger, points: int, **fields: Any) -> None:
        with self.db.session_scope() as session:
            members.create_rule(
                session, self.owner, RuleIn(trigger=trigger, points=points, **fields)
            )

    def policy(self, **fields: Any) -> None:
        with self.db.session_scope() as session:
            fields.setdefault("expiry_mode", "rolling")
            members.set_policy(session, self.owner, PolicyIn(**fields))

    def level(self, rank: int, name: str, threshold: int, **fields: Any) -> None:
        with self.db.session_scope() as session:
            members.create_level(
                session, self.owner, LevelIn(rank=rank, name=name, threshold=threshold, **fields)
            )

    def earn(self, member_id: int, trigger: EarnTrigger, key: str, **fields: Any) -> members.Earned:
        with self.db.session_scope() as session:
            return members.earn(
                session, self.workspace_id, members.Earn(member_id, trigger, key, **fields)
            )

    def grant(self, member_id: int, amount: int, key: str) -> None:
        with self.db.session_scope() as session:
            members.adjust(session, self.owner, member_id, amount, "测试发放", key=key)

    def balance(self, member_id: int) -> int:
        with self.db.session_scope() as session:
            account = session.scalar(
                select(PointsAccount).where(PointsAccount.member_id == member_id)
            )
            return 0 if account is None else account.balance

    def account(self, member_id: int) -> PointsAccount:
        with self.db.session_scope() as session:
            account = session.scalar(
                select(PointsAccount).where(PointsAccount.member_id == member_id)
            )
            assert account is not None
            session.expunge(account)
            return account

    def lots(self, member_id: int) -> list[tuple[int, int]]:
        """(amount, remaining) of the member's lots, oldest first."""
        with self.db.session_scope() as session:
            rows = session.execute(
                select(PointsLot.amount, PointsLot.remaining)
                .where(PointsLot.member_id == member_id)
                .order_by(PointsLot.id)
            )
            return [(a, r) for a, r in rows]

    def lots_sum(self, member_id: int) -> int:
        with self.db.session_scope() as session:
            return int(
                session.scalar(
                    select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                        PointsLot.member_id == member_id
                    )
                )
                or 0
            )

    def entries(self, member_id: int) -> list[tuple[str, int, int]]:
        """(kind, amount, shortfall) of the member's ledger, oldest first."""
        with self.db.session_scope() as session:
            rows = session.execute(
                select(PointsEntry.kind, PointsEntry.amount, PointsEntry.shortfall)
                .where(PointsEntry.member_id == member_id)
                .order_by(PointsEntry.id)
            )
            return [(str(k), a, s) for k, a, s in rows]

    def signins(self, member_id: int) -> int:
        with self.db.session_scope() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Signin).where(Signin.member_id == member_id)
                )
                or 0
            )


SESSION_KEY = "MTIzNDU2Nzg5MGFiY2RlZg=="


def mp_login(db: Database, app: AppRead, openid: str) -> tuple[int, dict[str, str]]:
    """A Mini Program session for `openid`: the member id and the headers that carry it."""
    from pydantic import SecretStr

    from siyu.wechat import mp
    from siyu.wechat.schemas import Code2Session

    with db.session_scope() as session:
        issued = mp.open_session(
            session, app, Code2Session(openid=openid, session_key=SecretStr(SESSION_KEY)), 24
        )
        member_id = mp.authenticate(session, app.appid, f"Bearer {issued.token}").member_id
    return member_id, {"Authorization": f"Bearer {issued.token}"}
