"""Push inbox (dedupe), cached access tokens, Mini Program sessions and UnionID fetches due."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK
from siyu.core.privacy import Erasure


class PushStatus(enum.StrEnum):
    received = "received"
    processed = "processed"
    failed = "failed"


class PushReceipt(Base):
    """One accepted push. The unique key makes WeChat's retries land on the same row."""

    __tablename__ = "wechat_pushes"
    __erasure__ = Erasure.delete(member=("member_id",), wechat_ids=("openid",))
    __table_args__ = (
        UniqueConstraint("app_id", "dedupe_key"),
        Index("ix_wechat_pushes_app_received", "app_id", "received_at"),
        # The sweep for pushes whose job was lost looks only at those still waiting: a small
        # partial index, where the full table grows by every push ever received.
        Index(
            "ix_wechat_pushes_waiting",
            "received_at",
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
        # A signed (timestamp, nonce) is used once per app: a replay of a leaked plaintext
        # signature with another body conflicts here (its timestamp is also checked to be
        # recent, so the key only ever has to hold within that window).
        Index("ix_wechat_pushes_signed_nonce", "app_id", "signed_at", "nonce", unique=True),
    )

    id: Mapped[IdPK]
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    # MsgId for messages; FromUserName + CreateTime + Event for events (fact sheet §1.4).
    dedupe_key: Mapped[str] = mapped_column(String(200))
    msg_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64))
    openid: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[datetime]
    # Users write anything (phone numbers, addresses) into messages: the payload is encrypted.
    payload: Mapped[str] = mapped_column(EncryptedText("wechat_pushes.payload"))
    # The exact answer given, so that a retry gets the same answer.
    reply: Mapped[str | None] = mapped_column(EncryptedText("wechat_pushes.reply"))
    member_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    status: Mapped[PushStatus] = mapped_column(
        Enum(PushStatus, native_enum=False, length=32, validate_strings=True),
        default=PushStatus.received,
    )
    received_at: Mapped[datetime]
    # The query's timestamp and nonce, as signed by WeChat (NULL on rows from before 0013).
    signed_at: Mapped[int | None] = mapped_column(BigInteger)
    nonce: Mapped[str | None] = mapped_column(String(64))
    processed_at: Mapped[datetime | None]
    # Why a push was set aside (status failed): the last attempt's exception, for operators.
    error: Mapped[str | None] = mapped_column(String(1000))
    failed_at: Mapped[datetime | None]


class AccessToken(Base):
    """The current stable_token of an app, shared by every process."""

    __tablename__ = "wechat_access_tokens"
    __erasure__ = Erasure.none("the apps' WeChat access tokens")

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(EncryptedText("wechat_access_tokens.token"))
    expires_at: Mapped[datetime]
    refreshed_at: Mapped[datetime]


class MpSession(Base):
    """A Mini Program login: the token the MP sends back, and the session_key WeChat gave us."""

    __tablename__ = "mp_sessions"
    __erasure__ = Erasure.delete(
        member=("member_id",), wechat_ids=("openid",), private=("session_key", "token_hash")
    )

    id: Mapped[IdPK]
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    session_key: Mapped[str] = mapped_column(EncryptedText("mp_sessions.session_key"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class UnionidFetch(Base):
    """A follower whose UnionID user/info could not give yet (WeChat busy, unreachable): asked
    again by `wechat.retry_unionid_fetches` from `next_attempt_at`, with a growing delay. No
    row while a fetch has not failed; the row goes once the answer came (with or without a
    UnionID). `next_attempt_at` None: given up after its attempts, listed for operators."""

    __tablename__ = "wechat_unionid_fetches"
    __erasure__ = Erasure.delete(wechat_ids=("openid",))
    __table_args__ = (
        UniqueConstraint("app_id", "openid"),
        Index("ix_wechat_unionid_fetches_due", "next_attempt_at"),
    )

    id: Mapped[IdPK]
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    openid: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int]
    last_error: Mapped[str] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime | None]
    failed_at: Mapped[datetime]
