"""siyu's Pay against the sandbox's WeChat Pay: the merchant, siyu's client, the sandbox's Pay
behind it and one Mini Program member, with what a test reads of both sides."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import FrozenClock
from siyu.core.db import Database
from siyu.identity.models import TimelineEvent
from siyu.sandbox.pay import Fault, Merchant, Notification, PayWorld
from siyu.sandbox.world import SandboxWorld, SimUser
from siyu.wechat import paycrypto
from siyu.wechat.pay import service
from siyu.wechat.pay.models import PayNotificationLog, PayOrder, PayRefund
from siyu.wechat.pay.schemas import OrderRead, PaymentParams
from siyu.workspaces.schemas import AppRead
from tests.support.jobs import drain_lanes

MCHID = "1900000109"
SIYU = "http://testserver"


@dataclass
class PayEnv:
    """siyu (a test client), the sandbox's Pay behind it, and one Mini Program member."""

    db: Database
    client: TestClient
    pay: PayWorld
    world: SandboxWorld
    workspace_id: int
    app: AppRead
    user: SimUser
    openid: str
    member_id: int
    merchant_id: int
    apiv3_key: str
    clock: FrozenClock
    sandbox_url: str

    def order(
        self, amount: int = 990, reference: str = "activity:1", minutes: int = 120
    ) -> OrderRead:
        with self.db.session_scope() as session:
            return service.open_order(
                session,
                self.workspace_id,
                appid=self.app.appid,
                member_id=self.member_id,
                amount=amount,
                description="21 天打卡押金",
                reference=reference,
                order_minutes=minutes,
            )

    def params(self, order: OrderRead) -> PaymentParams:
        return service.payment_params(self.db, service.clients(), self.workspace_id, order.id)

    def pay_order(self, order: OrderRead, *, deliver: bool = True) -> Notification:
        """The member pays in WeChat; the sandbox notifies siyu once (unless told not to)."""
        params = self.params(order).model_dump(by_alias=True, exclude={"out_trade_no"})
        notification = self.pay.pay(self.openid, params)
        if deliver:
            assert self.pay.deliver(notification)
        return notification

    def drain(self) -> int:
        return drain_lanes()

    def ledger(self) -> dict[str, Any]:
        with self.pay.lock:
            return self.pay.merchant(MCHID).ledger(self.pay.now())

    def counts(self) -> dict[str, int]:
        with self.db.session_scope() as session:
            return {
                "orders": _count(session, PayOrder),
                "paid": session.scalar(
                    select(func.count()).select_from(PayOrder).where(PayOrder.status == "paid")
                )
                or 0,
                "refunds": _count(session, PayRefund),
                "refused": _count(session, PayNotificationLog),
                "events": _count(session, TimelineEvent),
            }

    def events(self, name: str) -> list[TimelineEvent]:
        with self.db.session_scope() as session:
            return list(
                session.scalars(select(TimelineEvent).where(TimelineEvent.name == name)).all()
            )

    def post_notification(self, body: str, headers: dict[str, str]) -> httpx2.Response:
        return self.client.post(
            f"/wechat/pay/notify/{MCHID}", content=body.encode(), headers=headers
        )

    def signed(self, body: str) -> dict[str, str]:
        """Headers as WeChat Pay signs a notification now, with the sandbox's platform key."""
        merchant = self.pay.merchant(MCHID)
        return {"Content-Type": "application/json", **self.pay.signed_headers(merchant, body)}

    def notification_body(
        self,
        resource: dict[str, Any],
        *,
        event: str = "TRANSACTION.SUCCESS",
        key: str | None = None,
    ) -> str:
        original = "transaction" if event.startswith("TRANSACTION") else "refund"
        nonce = paycrypto.nonce(12)
        sealed = paycrypto.seal(key or self.apiv3_key, json.dumps(resource), original, nonce)
        return json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": "2026-11-20T10:00:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event,
                "summary": "支付成功",
                "resource": {
                    "original_type": original,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": sealed,
                    "associated_data": original,
                    "nonce": nonce,
                },
            }
        )


def _count(session: Any, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def spy_refund_calls(pay: PayWorld, plan: Mapping[str, Fault | None] | None = None) -> Counter[str]:
    """Count the refund calls the sandbox's WeChat Pay receives, by out_refund_no; with a
    `plan`, answer each number's first call with its planned fault, whatever order the calls
    arrive in (the sandbox's fault queue is otherwise taken in arrival order)."""
    original = pay.refund
    calls: Counter[str] = Counter()
    planned = plan or {}

    def refund(merchant: Merchant, body: dict[str, Any]) -> Any:
        number = str(body.get("out_refund_no"))
        with pay.lock:  # the fault queued here is the one this call takes
            calls[number] += 1
            fault = planned.get(number) if calls[number] == 1 else None
            if fault is not None:
                pay.inject("refund", fault)
            return original(merchant, body)

    pay.refund = refund  # type: ignore[method-assign]
    return calls
