"""Merchants: registering one (its secrets encrypted), WeChat Pay's public key, the keys a call
is signed with."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.security import service as security
from siyu.wechat import paycrypto
from siyu.wechat.pay import errors, repository
from siyu.wechat.pay.client import MerchantKeys
from siyu.wechat.pay.models import PayMerchant
from siyu.wechat.pay.schemas import MerchantCreate, MerchantRead
from siyu.wechat.pay.service.common import ACTOR
from siyu.workspaces import service as workspaces

# Hosts of a notify URL that can only mean "this machine": a default made from host and port.
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})  # noqa: S104


def add_merchant(
    session: Session, workspace_id: int, data: MerchantCreate, *, default_notify_base: str
) -> MerchantRead:
    workspaces.get_workspace(session, workspace_id)
    if repository.merchant_id_by_mchid(session, data.mchid):
        raise errors.MERCHANT_EXISTS(
            f"merchant {data.mchid} is already registered", mchid=data.mchid
        )
    notify_url = data.notify_url or notify_url_for(default_notify_base, data.mchid)
    merchant = PayMerchant(
        workspace_id=workspace_id,
        mchid=data.mchid,
        name=data.name,
        apiv3_key=data.apiv3_key,
        private_key=data.private_key,
        cert_serial_no=data.cert_serial_no.upper(),
        platform_public_key=data.platform_public_key,
        platform_public_key_id=data.platform_public_key_id,
        notify_url=notify_url,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(merchant)
            session.flush()
    except IntegrityError as exc:
        raise errors.MERCHANT_EXISTS(
            f"merchant {data.mchid} is already registered", mchid=data.mchid
        ) from exc
    return MerchantRead.model_validate(merchant)


def notify_url_for(base: str, mchid: str) -> str:
    return f"{base.rstrip('/')}/wechat/pay/notify/{mchid}"


def follow_local_base(session: Session, base: str) -> list[MerchantRead]:
    """Point every default notify URL at this machine to `base` (siyu now serving on another
    port than when the merchant was registered, e.g. `siyu serve --port P` after `bootstrap`);
    a URL an operator chose (another host or path) is left alone. The merchants changed."""
    changed = []
    for merchant in repository.list_merchants(session, None):
        wanted = notify_url_for(base, merchant.mchid)
        stored = urlsplit(merchant.notify_url)
        is_default = stored.hostname in _LOOPBACK and stored.path == urlsplit(wanted).path
        if not is_default or merchant.notify_url == wanted:
            continue
        previous, merchant.notify_url = merchant.notify_url, wanted
        session.flush()
        security.record_audit(
            session,
            ACTOR,
            "pay.merchant_notify_url_moved",
            workspace_id=merchant.workspace_id,
            target_type="merchant",
            target_id=merchant.mchid,
            detail={"from_port": urlsplit(previous).port, "to_port": urlsplit(wanted).port},
        )
        changed.append(MerchantRead.model_validate(merchant))
    return changed


def set_platform_key(session: Session, mchid: str, public_key: str, key_id: str) -> MerchantRead:
    """Install WeChat Pay's (new) public key, e.g. the sandbox's after it restarted."""
    merchant = repository.get_merchant_by_mchid(session, mchid)
    if merchant is None:
        raise errors.UNKNOWN_MERCHANT(f"no merchant {mchid}", mchid=mchid)
    paycrypto.load_public_key(public_key)
    merchant.platform_public_key, merchant.platform_public_key_id = public_key, key_id
    session.flush()
    return MerchantRead.model_validate(merchant)


def list_merchants(session: Session, workspace_id: int | None = None) -> list[MerchantRead]:
    return [
        MerchantRead.model_validate(m) for m in repository.list_merchants(session, workspace_id)
    ]


def workspace_merchant(session: Session, workspace_id: int, mchid: str | None) -> PayMerchant:
    """The workspace's merchant `mchid` (its first one when None); refused when it has none."""
    merchant = repository.first_workspace_merchant(session, workspace_id, mchid)
    if merchant is None:
        raise errors.NO_MERCHANT("no WeChat Pay merchant is configured for this workspace")
    return merchant


def merchant_keys(session: Session, merchant_id: int, appid: str) -> MerchantKeys:
    merchant = session.get(PayMerchant, merchant_id)
    if merchant is None:
        raise errors.UNKNOWN_MERCHANT(f"no merchant {merchant_id}", mchid=merchant_id)
    return MerchantKeys(
        mchid=merchant.mchid,
        appid=appid,
        apiv3_key=merchant.apiv3_key,
        private_key=merchant.private_key,
        cert_serial_no=merchant.cert_serial_no,
        platform_public_key=merchant.platform_public_key,
        platform_public_key_id=merchant.platform_public_key_id,
        notify_url=merchant.notify_url,
    )
