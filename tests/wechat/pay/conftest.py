"""Pay against the sandbox's WeChat Pay over real HTTP: siyu's wechatpayv3 client calls it,
its notifications come back into siyu. Every key is made here, in the test run."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from huey.storage import MemoryStorage
from sqlalchemy import func, select

from siyu.api.app import create_app
from siyu.core.clock import FrozenClock
from siyu.core.config import Settings
from siyu.core.db import Database
from siyu.core.jobs import queue
from siyu.identity import service as identity
from siyu.identity.models import TimelineEvent
from siyu.identity.schemas import PersonRef
from siyu.sandbox.app import create_sandbox_app
from siyu.sandbox.pay import MerchantSpec, Notification, PayWorld
from siyu.sandbox.world import AccountSpec, SandboxWorld, SimUser
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat import paycrypto
from siyu.wechat.pay import service
from siyu.wechat.pay.models import PayNotificationLog, PayOrder, PayRefund
from siyu.wechat.pay.schemas import MerchantCreate, OrderRead, PaymentParams
from siyu.workspaces.schemas import AppRead
from tests.conftest import MP_APPID
from tests.wechat.test_gateway_standin import serve

MCHID = "1900000109"
SIYU = "http://testserver"


@pytest.fixture(scope="session")
def merchant_key() -> Any:
    """The merchant's RSA key, made for this run (never stored anywhere)."""
    return paycrypto.generate_private_key()


@pytest.fixture(scope="session")
def pay_server() -> Iterator[tuple[FastAPI, str]]:
    app = create_sandbox_app(SandboxWorld())
    with serve(app) as url:
        yield app, url


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
        ran = 0
        while (task := queue.dequeue()) is not None:
            queue.execute(task)
            ran += 1
        return ran

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

    def post_notification(self, body: str, headers: dict[str, str]) -> httpx.Response:
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


@pytest.fixture
def pay_env(
    pay_server: tuple[FastAPI, str],
    settings: Settings,
    db: Database,
    workspace_id: int,
    mp_app: AppRead,
    frozen_clock: FrozenClock,
    merchant_key: Any,
) -> Iterator[PayEnv]:
    sandbox, url = pay_server
    world = sandbox.state.world = SandboxWorld()
    world.register(AccountSpec(appid=MP_APPID, secret="s" * 32, kind="mp"))
    user = world.create_users(1, seed=3)[0]
    openid = world.openid(user, MP_APPID)
    configured = settings.model_copy(
        update={
            "wechat_api_base": url,
            "wechat_pay_api_base": url,
            "public_url": SIYU,
            "sandbox": True,
        }
    )
    previous = queue.storage
    with TestClient(create_app(configured, db), base_url=SIYU) as client:
        # After create_app, which points the queue at the settings' storage: private to us.
        queue.storage = MemoryStorage(f"siyu-pay-test-{uuid.uuid4().hex[:8]}")
        pay = sandbox.state.pay = PayWorld(world, http=client, retry_scale=0)
        apiv3_key = secrets.token_hex(16)
        serial = secrets.token_hex(20).upper()
        merchant = pay.register(
            MerchantSpec(
                mchid=MCHID,
                apiv3_key=apiv3_key,
                merchant_public_key=paycrypto.public_pem(merchant_key),
                cert_serial_no=serial,
                appids=[MP_APPID],
            )
        )
        with db.session_scope() as session:
            merchant_id = service.add_merchant(
                session,
                workspace_id,
                MerchantCreate(
                    mchid=MCHID,
                    name="示例商户",
                    apiv3_key=apiv3_key,
                    private_key=paycrypto.private_pem(merchant_key),
                    cert_serial_no=serial,
                    platform_public_key=pay.platform_public_key(),
                    platform_public_key_id=merchant.platform_key_id,
                ),
                default_notify_base=SIYU,
            ).id
            member = identity.resolve_member(
                session, mp_app, PersonRef(appid=MP_APPID, openid=openid)
            )
        yield PayEnv(
            db, client, pay, world, workspace_id, mp_app, user, openid, member.id, merchant_id,
            apiv3_key, frozen_clock, url,
        )  # fmt: skip
    queue.storage = previous


@pytest.fixture
def staff(pay_env: PayEnv, owner: Principal) -> TestClient:
    """siyu's client with an owner's API token."""
    with pay_env.db.session_scope() as session:
        token = security.create_api_token(session, owner.operator_id, "pay tests").token
    pay_env.client.headers["Authorization"] = f"Bearer {token}"
    return pay_env.client
