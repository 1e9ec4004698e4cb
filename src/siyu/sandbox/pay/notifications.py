"""Notifications: sealed and signed as v3 sends them, delivered outside the lock, retried on
WeChat's schedule until acknowledged or given up (`PayWorld.tick` sends the due ones)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx

from siyu.sandbox.pay.records import Merchant, Notification
from siyu.sandbox.pay.rules import RETRY_SCHEDULE, rfc3339
from siyu.sandbox.pay.state import PayState
from siyu.wechat import paycrypto


class PayNotifications(PayState):
    """Queue, deliver and retry notifications."""

    def _queue(
        self,
        merchant: Merchant,
        url: str,
        event: tuple[str, str, str],
        resource: dict[str, Any],
    ) -> Notification:
        event_type, summary, original_type = event
        now = self.now()
        nonce_str = paycrypto.nonce(12)
        plain = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        notification = Notification(
            id=str(uuid.uuid4()),
            mchid=merchant.mchid,
            url=url,
            event_type=event_type,
            summary=summary,
            original_type=original_type,
            resource=resource,
            created_at=now,
            due_at=now,
        )
        notification.body = json.dumps(
            {
                "id": notification.id,
                "create_time": rfc3339(now),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": paycrypto.seal(
                        merchant.spec.apiv3_key, plain, original_type, nonce_str
                    ),
                    "associated_data": original_type,
                    "nonce": nonce_str,
                },
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self.outbox[notification.id] = notification
        return notification

    def deliver(self, notification: Notification, *, duplicate: bool = False) -> bool:
        """POST one notification (outside the lock); schedules the next try on failure.

        `duplicate` sends it again whatever happened before, as WeChat sometimes does.
        """
        with self.lock:
            if not duplicate and notification.due_at is None:
                return notification.acknowledged
            merchant = self.merchants[notification.mchid]
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Mozilla/4.0",
                **self.signed_headers(merchant, notification.body),
            }
            headers.pop("Request-ID")
        status: int | None = None
        error = ""
        try:
            response = self.http.post(
                notification.url,
                content=notification.body.encode(),
                headers=headers,
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        ok = status in (200, 204)
        with self.lock:
            now = self.now()
            notification.history.append(
                {"at": now.isoformat(), "status": status, "error": error, "duplicate": duplicate}
            )
            if duplicate:
                return ok
            notification.attempts += 1
            if ok:
                notification.acknowledged, notification.due_at = True, None
            elif notification.attempts > len(RETRY_SCHEDULE):
                notification.due_at = None  # 24 h 4 min of tries: WeChat gives up
            else:
                delay = RETRY_SCHEDULE[notification.attempts - 1] * self.retry_scale
                notification.due_at = now + timedelta(seconds=delay)
        return ok

    def due(self) -> list[Notification]:
        with self.lock:
            now = self.now()
            return [n for n in self.outbox.values() if n.due_at is not None and n.due_at <= now]
