"""The points mall (积分兑换): items (a coupon of a template, or a gift) with a points price and
a stock; an exchange takes the points and the stock in the caller's one transaction, and a gift
becomes a fulfilment record (recipient, phone and address encrypted at rest) that staff mark
shipped. An exchange is named by the member's request key: asked again, it answers the same.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.members import coupons_repository as repository
from siyu.members import errors
from siyu.members.enums import CouponSource, FulfilmentStatus, MallItemKind
from siyu.members.models import MallExchange, MallFulfilment, MallItem
from siyu.members.schemas import (
    ExchangeIn,
    ExchangeRead,
    FulfilmentRead,
    ItemCreate,
    ItemRead,
)
from siyu.members.service.coupons import coupon_read, issue_coupon
from siyu.members.service.points import spend_points
from siyu.security import service as security
from siyu.security.schemas import Principal


def _item(session: Session, workspace_id: int, item_id: int) -> MallItem:
    item = repository.get_item(session, workspace_id, item_id)
    if item is None:
        raise errors.ITEM_NOT_FOUND(f"mall item {item_id} not found")
    return item


def create_item(
    session: Session, workspace_id: int, body: ItemCreate, *, actor: Principal | str
) -> ItemRead:
    if repository.get_item_by_name(session, workspace_id, body.name) is not None:
        raise errors.ITEM_EXISTS(f"an item named {body.name!r} exists")
    if body.template_id is not None and (
        repository.get_template(session, workspace_id, body.template_id) is None
    ):
        raise errors.TEMPLATE_NOT_FOUND(f"coupon template {body.template_id} not found")
    item = repository.add_item(
        session,
        MallItem(
            workspace_id=workspace_id,
            **body.model_dump(),
            exchanged=0,
            active=True,
            created_at=clock.now(),
        ),
    )
    security.record_audit(
        session,
        actor,
        "mall.item_created",
        workspace_id=workspace_id,
        target_type="mall_item",
        target_id=item.id,
        detail={"points_price": body.points_price, "stock": body.stock},
    )
    return ItemRead.model_validate(item)


def list_items(session: Session, workspace_id: int, *, offered: bool = False) -> list[ItemRead]:
    items = repository.list_items(session, workspace_id, active=True if offered else None)
    return [ItemRead.model_validate(i) for i in items if not offered or i.exchanged < i.stock]


def _exchange_read(session: Session, workspace_id: int, exchange: MallExchange) -> ExchangeRead:
    coupon = None
    if exchange.coupon_id is not None:
        row = repository.get_coupon(session, exchange.coupon_id)
        assert row is not None
        template = repository.get_template(session, workspace_id, row.template_id)
        assert template is not None
        coupon = coupon_read(row, template, clock.now())
    fulfilment = repository.get_fulfilment_of_exchange(session, exchange.id)
    return ExchangeRead(
        id=exchange.id,
        item_id=exchange.item_id,
        points=exchange.points,
        coupon=coupon,
        fulfilment_id=None if fulfilment is None else fulfilment.id,
    )


def exchange(session: Session, workspace_id: int, member_id: int, body: ExchangeIn) -> ExchangeRead:
    """Exchange points for an item: the exchange row (unique per member and request key), the
    coupon or the fulfilment record, the item's stock (a conditional UPDATE), and last the
    points; any refusal raises and the caller's transaction takes everything back."""
    item = _item(session, workspace_id, body.item_id)
    done = repository.get_exchange_by_key(session, member_id, body.request_key)
    if done is not None:
        return _exchange_read(session, workspace_id, done)
    if not item.active:
        raise errors.ITEM_UNAVAILABLE(f"mall item {item.id} is not offered")
    if item.exchanged >= item.stock:  # an early answer; the UPDATE below decides
        raise errors.ITEM_OUT_OF_STOCK(f"mall item {item.id} is out of stock")
    if item.kind is MallItemKind.gift and body.address is None:
        raise errors.ADDRESS_REQUIRED("a gift needs a recipient, a phone and an address")
    now = clock.now()
    try:
        with session.begin_nested():
            exchange_id = repository.insert_exchange(
                session,
                {
                    "workspace_id": workspace_id,
                    "item_id": item.id,
                    "member_id": member_id,
                    "request_key": body.request_key,
                    "points": item.points_price,
                    "coupon_id": None,
                    "created_at": now,
                },
            )
    except IntegrityError:  # the same request, concurrently: its answer
        done = repository.get_exchange_by_key(session, member_id, body.request_key)
        assert done is not None
        return _exchange_read(session, workspace_id, done)
    row = session.get(MallExchange, exchange_id)
    assert row is not None
    if item.kind is MallItemKind.coupon:
        assert item.template_id is not None
        coupon = issue_coupon(
            session,
            workspace_id,
            item.template_id,
            member_id,
            source=CouponSource.mall,
            source_key=f"mall:{exchange_id}",
        )
        row.coupon_id = coupon.id
    else:
        assert body.address is not None
        repository.add_fulfilment(
            session,
            MallFulfilment(
                workspace_id=workspace_id,
                exchange_id=exchange_id,
                member_id=member_id,
                recipient=body.address.recipient,
                phone=body.address.phone,
                address=body.address.address,
                status=FulfilmentStatus.pending,
                tracking=None,
                created_at=now,
                shipped_at=None,
            ),
        )
    if not repository.take_item_stock(session, item.id):
        raise errors.ITEM_OUT_OF_STOCK(f"mall item {item.id} is out of stock")
    session.flush()
    spend_points(session, member_id, item.points_price, f"mall.exchange:{exchange_id}")
    return _exchange_read(session, workspace_id, row)


def _fulfilment_read(f: MallFulfilment, item_name: str) -> FulfilmentRead:
    return FulfilmentRead(
        id=f.id,
        exchange_id=f.exchange_id,
        member_id=f.member_id,
        item_name=item_name,
        recipient=f.recipient,
        phone=f.phone,
        address=f.address,
        status=f.status,
        tracking=f.tracking,
        created_at=f.created_at,
        shipped_at=f.shipped_at,
    )


def list_fulfilments(
    session: Session, workspace_id: int, *, status: FulfilmentStatus | None = None
) -> list[FulfilmentRead]:
    return [
        _fulfilment_read(f, name)
        for f, name in repository.list_fulfilments(session, workspace_id, status=status)
    ]


def ship_fulfilment(
    session: Session,
    workspace_id: int,
    fulfilment_id: int,
    tracking: str | None,
    *,
    actor: Principal | str,
) -> FulfilmentRead:
    """Staff sent the gift: marked shipped once (a second time is refused), audited."""
    f = repository.get_fulfilment(session, workspace_id, fulfilment_id)
    if f is None:
        raise errors.FULFILMENT_NOT_FOUND(f"fulfilment {fulfilment_id} not found")
    if not repository.ship_fulfilment(session, f.id, tracking, clock.now()):
        raise errors.ALREADY_SHIPPED(f"fulfilment {fulfilment_id} was shipped already")
    session.refresh(f)
    security.record_audit(
        session,
        actor,
        "mall.shipped",
        workspace_id=workspace_id,
        target_type="mall_fulfilment",
        target_id=f.id,
    )
    return _fulfilment_read(f, repository.item_name_of_exchange(session, f.exchange_id))
