"""WeChat Pay's notifications: verified against its public key, opened with the APIv3 key,
applied once (a payment or a refund), or refused and kept for staff."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.errors import SiyuError
from siyu.wechat import paycrypto
from siyu.wechat.pay import errors, repository
from siyu.wechat.pay.models import PayNotificationLog
from siyu.wechat.pay.schemas import NotificationLogRead
from siyu.wechat.pay.service.common import PayRefused
from siyu.wechat.pay.service.orders import apply_transaction
from siyu.wechat.pay.service.refunds import apply_refund_state

NOTIFY_SKEW = timedelta(minutes=5)  # older (or future) signed notifications are replays
KEYS_TTL = 5.0  # seconds a merchant's notification keys are kept (a key change shows by then)


@dataclass(frozen=True)
class NotifyKeys:
    """What checks and opens a merchant's notifications: WeChat Pay's public key (parsed
    once) and its id, and the APIv3 key. `id` is the merchant's row id."""

    id: int
    mchid: str
    key_id: str
    public_key: rsa.RSAPublicKey
    apiv3_key: str


class _KeysCache:
    """A few seconds of each merchant's NotifyKeys: a notification then costs no merchant
    read, no decryption of its secrets and no PEM parsing, only the signature and AES-GCM."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], tuple[float, NotifyKeys]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, mchid: str, *, fresh: bool = False) -> NotifyKeys:
        now = time.monotonic()
        # By database too: a process (a test run) may hold two merchants of one mchid.
        key = (str(session.get_bind().engine.url), mchid)
        with self._lock:
            held = self._held.get(key)
        if held is not None and not fresh and now - held[0] < KEYS_TTL:
            return held[1]
        merchant = repository.get_merchant_by_mchid(session, mchid)
        if merchant is None:
            raise PayRefused(errors.UNKNOWN_MERCHANT, f"no merchant {mchid}")
        keys = NotifyKeys(
            merchant.id,
            merchant.mchid,
            merchant.platform_public_key_id,
            paycrypto.load_public_key(merchant.platform_public_key),
            merchant.apiv3_key,
        )
        with self._lock:
            self._held[key] = (now, keys)
        return keys


_keys = _KeysCache()


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name) or headers.get(name.lower()) or ""


def open_notification(
    merchant: NotifyKeys, headers: Mapping[str, str], body: bytes
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a notification against WeChat Pay's public key, then open its resource.

    Raises `PayRefused`: bad or missing signature, another key, a stale timestamp (a replay),
    a body that is not a notification, or a resource the APIv3 key does not open.
    """
    kind = _header(headers, "Wechatpay-Signature-Type")
    if kind and kind != paycrypto.SCHEMA:
        raise PayRefused(errors.BAD_SIGNATURE, f"unsupported signature type {kind}")
    serial = _header(headers, "Wechatpay-Serial")
    if serial != merchant.key_id:
        raise PayRefused(errors.UNKNOWN_SERIAL, f"not signed with the key {serial!r} we hold")
    stamp, nonce_str = _header(headers, "Wechatpay-Timestamp"), _header(headers, "Wechatpay-Nonce")
    signature = _header(headers, "Wechatpay-Signature")
    text = body.decode("utf-8", errors="replace")
    if not (stamp and nonce_str and signature) or not paycrypto.check_response(
        merchant.public_key, signature, stamp, nonce_str, text
    ):
        raise PayRefused(errors.BAD_SIGNATURE, "the signature does not match WeChat Pay's key")
    if not stamp.isdigit() or abs(clock.now().timestamp() - int(stamp)) > NOTIFY_SKEW.seconds:
        raise PayRefused(errors.STALE_NOTIFICATION, "the signed timestamp is not recent: a replay")
    try:
        envelope = json.loads(text)
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise PayRefused(errors.UNDECRYPTABLE, f"unknown algorithm {resource.get('algorithm')}")
        plain = paycrypto.open_sealed(
            merchant.apiv3_key,
            str(resource["ciphertext"]),
            str(resource.get("associated_data") or ""),
            str(resource["nonce"]),
        )
    except paycrypto.PayCryptoError as exc:
        raise PayRefused(errors.UNDECRYPTABLE, str(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PayRefused(errors.MALFORMED_NOTIFICATION, "not a WeChat Pay notification") from None
    try:
        data = json.loads(plain)
    except ValueError:
        raise PayRefused(errors.MALFORMED_NOTIFICATION, "the resource is not JSON") from None
    if not isinstance(data, dict) or not isinstance(envelope, dict):
        raise PayRefused(errors.MALFORMED_NOTIFICATION, "the resource is not an object")
    return envelope, data


def handle_notification(
    session: Session, mchid: str, headers: Mapping[str, str], body: bytes
) -> str:
    """Apply one notification; "processed", "duplicate" or "ignored". Raises `PayRefused`.

    The merchant's keys come from a few seconds' cache, so the signature and the resource are
    checked before the first statement (the session takes no connection until then); a
    serial the cache does not know is looked up once more (WeChat's key may have changed).
    """
    merchant = _keys.get(session, mchid)
    if _header(headers, "Wechatpay-Serial") != merchant.key_id:
        merchant = _keys.get(session, mchid, fresh=True)
    envelope, data = open_notification(merchant, headers, body)
    if data.get("mchid") != mchid:
        raise PayRefused(errors.MERCHANT_MISMATCH, "the notification names another merchant")
    event = str(envelope.get("event_type", ""))
    if event == "TRANSACTION.SUCCESS":
        return apply_transaction(session, merchant, data, source="notification")
    if event.startswith("REFUND."):
        data = {**data, "status": data.get("refund_status")}
        return apply_refund_state(session, merchant, data, source="notification")
    return "ignored"


def log_refusal(
    session: Session,
    mchid: str,
    refusal: SiyuError,
    body: bytes,
) -> None:
    """Keep a refused notification for staff: what came, and why it was refused."""
    merchant_id = repository.merchant_id_by_mchid(session, mchid)
    envelope: dict[str, Any] = {}
    try:
        parsed = json.loads(body)
        envelope = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    session.add(
        PayNotificationLog(
            merchant_id=merchant_id,
            mchid=mchid[:32],
            notification_id=str(envelope.get("id"))[:64] if envelope.get("id") else None,
            event_type=str(envelope.get("event_type"))[:64] if envelope.get("event_type") else None,
            code=refusal.code,
            message=refusal.message[:255],
            out_trade_no=getattr(refusal, "out_trade_no", None),
            status=refusal.status,
            received_at=clock.now(),
        )
    )
    session.flush()


def list_refused(
    session: Session, workspace_id: int, limit: int = 100
) -> list[NotificationLogRead]:
    """Refused notifications of this workspace's merchants (and of unknown merchants)."""
    return [
        NotificationLogRead.model_validate(r)
        for r in repository.list_refused(session, workspace_id, limit)
    ]
