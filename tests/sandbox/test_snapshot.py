"""The sandbox's world saved to a file and loaded into a new world: users, follows, tokens, the
merchant's ledger, pending notifications and the simulated clock are the same after a restart."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from siyu.core.clock import FrozenClock
from siyu.sandbox.errors import WeChatError
from siyu.sandbox.pay import MerchantSpec, Notification, PayWorld
from siyu.sandbox.snapshot import Keeper, SnapshotError, load, save
from siyu.sandbox.world import SandboxWorld
from siyu.wechat import paycrypto
from tests.support.sandbox import ACCOUNTS, MP, OA, SECRET

MCHID = "1900000109"
NOTIFY = f"http://siyu.test/wechat/pay/notify/{MCHID}"


class _World:
    """A world with the test apps, one merchant, and a receiver that acknowledges everything."""

    def __init__(self, clock: FrozenClock) -> None:
        self.received: list[httpx.Request] = []
        self.http = httpx.Client(transport=httpx.MockTransport(self._answer))
        self.world = SandboxWorld(seed=3)
        self.pay = PayWorld(self.world, self.http)
        self.clock = clock

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(204)


@pytest.fixture
def merchant_key() -> rsa.RSAPrivateKey:
    return paycrypto.generate_private_key()


def _register(w: _World, key: rsa.RSAPrivateKey) -> None:
    for spec in ACCOUNTS:
        w.world.register(spec)
    w.pay.register(
        MerchantSpec(
            mchid=MCHID,
            apiv3_key="k" * 32,
            merchant_public_key=paycrypto.public_pem(key),
            cert_serial_no="ABCDEF01",
            appids=[MP],
        )
    )


def _paid_order(w: _World, key: rsa.RSAPrivateKey, openid: str, no: str) -> None:
    merchant = w.pay.merchant(MCHID)
    prepay = w.pay.jsapi(
        merchant,
        {
            "appid": MP,
            "mchid": MCHID,
            "description": "21 天打卡押金",
            "out_trade_no": no,
            "notify_url": NOTIFY,
            "amount": {"total": 990},
            "payer": {"openid": openid},
        },
    )
    package = f"prepay_id={prepay['prepay_id']}"
    stamp, nonce = str(int(w.clock.now().timestamp())), paycrypto.nonce()
    params = {
        "appId": MP,
        "timeStamp": stamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": paycrypto.pay_sign(key, MP, stamp, nonce, package),
    }
    notification = w.pay.pay(openid, params)
    assert w.pay.deliver(notification)


def test_a_saved_world_loads_the_same_users_orders_and_ledger_and_refunds_after(
    frozen_clock: FrozenClock, tmp_path: Path, merchant_key: rsa.RSAPrivateKey
) -> None:
    # given a world with users who follow the OA, a token, a paid order, and an unpaid one
    before = _World(frozen_clock)
    _register(before, merchant_key)
    users = before.world.create_users(3, seed=9)
    for user in users:
        before.world.openid(user, OA)
    follower = users[0]
    before.world.openid(follower, MP)
    token, _ = before.world.classic_token(OA, SECRET)
    first_msgid = before.world.next_msgid()  # a message was pushed before the restart
    _paid_order(before, merchant_key, follower.openids[MP], "ORDER_PAID_1")
    before.world.set_time(frozen_clock.now() - timedelta(days=2))  # mid-replay of a past day
    ledger = before.pay.merchant(MCHID).ledger(before.pay.now())
    msgid_next = SandboxWorld(seed=3)  # what the ids would repeat from, had the rng reset
    path = tmp_path / "sandbox-world.json"
    # when it is saved and a new world is loaded from the file
    save(before.world, before.pay, path)
    after = _World(frozen_clock)
    assert load(after.world, after.pay, path)
    # then users, their openids, the token, the clock and the ledger are the same
    assert list(after.world.users) == [u.uid for u in users]
    assert [u.nickname for u in after.world.users.values()] == [u.nickname for u in users]
    assert after.world.by_openid(follower.openids[MP], MP).uid == follower.uid
    assert after.world.authorize(token).appid == OA
    assert after.world.offset == before.world.offset
    assert after.pay.merchant(MCHID).ledger(after.pay.now()) == ledger
    assert ledger["paid_total"] == 990
    assert after.pay.platform_public_key() == before.pay.platform_public_key()
    # message ids go on, not from the start again (siyu would take a repeat as a duplicate)
    assert msgid_next.next_msgid() == first_msgid
    assert after.world.next_msgid() == before.world.next_msgid() != first_msgid
    # and a refund of that order works after the restart, notified with the same platform key
    after.world.set_time(None)
    merchant = after.pay.merchant(MCHID)
    answer, _ = after.pay.refund(
        merchant,
        {"out_trade_no": "ORDER_PAID_1", "out_refund_no": "R1",
         "amount": {"refund": 990, "total": 990}},
    )  # fmt: skip
    assert answer["status"] == "PROCESSING"
    assert after.pay.tick() == 1
    assert merchant.refunds["R1"].status == "SUCCESS"
    assert merchant.balance == 0
    sent = after.received[-1]
    assert json.loads(sent.content)["event_type"] == "REFUND.SUCCESS"
    assert paycrypto.check_response(
        paycrypto.load_public_key(before.pay.platform_public_key()),
        sent.headers["Wechatpay-Signature"],
        sent.headers["Wechatpay-Timestamp"],
        sent.headers["Wechatpay-Nonce"],
        sent.content.decode(),
    )


def test_a_notification_pending_at_shutdown_is_retried_after_the_restart(
    frozen_clock: FrozenClock, tmp_path: Path, merchant_key: rsa.RSAPrivateKey
) -> None:
    # given a payment whose notification siyu did not acknowledge (it was down)
    before = _World(frozen_clock)
    _register(before, merchant_key)
    user = before.world.create_users(1)[0]
    openid = before.world.openid(user, MP)
    merchant = before.pay.merchant(MCHID)
    prepay = before.pay.jsapi(
        merchant,
        {"appid": MP, "mchid": MCHID, "description": "押金", "out_trade_no": "ORDER_DOWN_1",
         "notify_url": NOTIFY, "amount": {"total": 500}, "payer": {"openid": openid}},
    )  # fmt: skip
    package = f"prepay_id={prepay['prepay_id']}"
    stamp = str(int(frozen_clock.now().timestamp()))
    notification: Notification = before.pay.pay(
        openid,
        {"appId": MP, "timeStamp": stamp, "nonceStr": "n", "package": package, "signType": "RSA",
         "paySign": paycrypto.pay_sign(merchant_key, MP, stamp, "n", package)},
    )  # fmt: skip
    path = tmp_path / "world.json"
    keeper = Keeper(before.world, before.pay, path)
    # when the world is saved at shutdown and loaded by a new sandbox
    keeper.stop()
    after = _World(frozen_clock)
    assert Keeper(after.world, after.pay, path).load()
    # then the new sandbox delivers it, once
    assert after.pay.tick() == 1
    assert after.pay.outbox[notification.id].acknowledged
    assert after.pay.tick() == 0
    assert len(after.received) == 1
    assert before.received == []


def test_the_keeper_writes_only_when_the_world_changed(
    frozen_clock: FrozenClock, tmp_path: Path
) -> None:
    # given a keeper that saved a world
    w = _World(frozen_clock)
    path = tmp_path / "world.json"
    keeper = Keeper(w.world, w.pay, path)
    assert keeper.save()
    # when nothing changed, then nothing is written; when a user arrives, the file is rewritten
    assert not keeper.save()
    w.world.create_users(1)
    assert keeper.save()
    assert '"u000001"' in path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o077 == 0  # app secrets and Pay keys: the owner's only
    assert [p.name for p in tmp_path.iterdir()] == ["world.json"]  # no temporary left behind


def test_a_file_that_is_not_a_snapshot_is_refused_and_the_world_untouched(
    frozen_clock: FrozenClock, tmp_path: Path
) -> None:
    # given a world with one user, and a file of another shape
    w = _World(frozen_clock)
    w.world.create_users(1)
    path = tmp_path / "world.json"
    path.write_text('{"version": 99}', encoding="utf-8")
    # when it is loaded, then it is refused and the world is as it was
    with pytest.raises(SnapshotError):
        load(w.world, w.pay, path)
    assert list(w.world.users) == ["u000001"]
    # and a missing file is no snapshot: nothing loaded
    assert not load(w.world, w.pay, tmp_path / "absent.json")
    with pytest.raises(WeChatError):
        w.world.account(OA)
