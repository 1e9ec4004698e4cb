"""The sandbox's Pay notifications: WeChat's retry schedule, until siyu acknowledges."""

from __future__ import annotations

from datetime import timedelta

import httpx

from siyu.core.clock import FrozenClock
from siyu.sandbox.pay import RETRY_SCHEDULE, MerchantSpec, PayWorld
from siyu.wechat import paycrypto
from tests.support.sandbox import MP, Sandbox


def test_an_unacknowledged_notification_follows_wechats_retry_schedule(
    sandbox: Sandbox, frozen_clock: FrozenClock
) -> None:
    # given siyu answers 500 to every notification
    statuses: list[int] = []

    def siyu(request: httpx.Request) -> httpx.Response:
        statuses.append(500)
        return httpx.Response(500, json={"code": "FAIL", "message": "down"})

    pay = PayWorld(sandbox.world, httpx.Client(transport=httpx.MockTransport(siyu)))
    key = paycrypto.generate_private_key()
    merchant = pay.register(
        MerchantSpec(
            mchid="1900000109",
            apiv3_key="k" * 32,
            merchant_public_key=paycrypto.public_pem(key),
            cert_serial_no="ABCDEF01",
            appids=[MP],
        )
    )
    notification = pay._queue(
        merchant, "http://siyu.test/wechat/pay/notify/1900000109", ("TRANSACTION.SUCCESS",
        "支付成功", "transaction"), {"out_trade_no": "X"},
    )  # fmt: skip
    # when time passes and the sandbox ticks every second of it that matters
    gaps = []
    for _ in range(len(RETRY_SCHEDULE) + 1):
        assert pay.tick() == 1
        if notification.due_at is None:
            break
        gap = notification.due_at - frozen_clock.now()
        gaps.append(int(gap.total_seconds()))
        frozen_clock.advance(gap - timedelta(seconds=1))
        assert pay.tick() == 0  # not a second early
        frozen_clock.advance(timedelta(seconds=1))
    # then it came 16 times over 15s/15s/30s/3m/…/6h/6h, and then WeChat gave up
    assert gaps == list(RETRY_SCHEDULE)
    assert notification.attempts == len(RETRY_SCHEDULE) + 1 == len(statuses)
    assert not notification.acknowledged
    assert pay.tick() == 0
