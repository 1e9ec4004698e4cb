"""Analytics's tables in the primary database: the members whose events the store must copy
again (merged, split or erased since the last sync). The store itself is not here (store.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, IdPK
from siyu.core.privacy import Erasure


class StoreRefresh(Base):
    """A member whose events in the store are stale: written in the transaction that merged,
    split or erased them (bus subscribers), taken by the next sync."""

    __tablename__ = "analytics_refreshes"
    __erasure__ = Erasure.keep(
        member=("member_id",), reason="an id to refresh in the store; erasure adds one itself"
    )
    __table_args__ = (Index("ix_analytics_refreshes_workspace", "workspace_id", "id"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    # An erasure: the store file is rewritten, so that no erased value survives in it.
    erase: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
