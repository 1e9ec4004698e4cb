"""Coupons: templates, issue (claims by the member, keyword claims in the OA, new-member gifts,
staff), redemption by order and its refund, and each template's report.

Stock and the per-member limit hold under concurrency without a check-then-insert: a coupon is
the member's nth of its template under a unique key (template, member, nth), inserted with ON
CONFLICT DO NOTHING, and then one conditional `UPDATE … SET issued = issued + 1 WHERE issued <
stock` takes it from the stock (from one of the template's stock buckets: see
`CouponStockBucket`). The UPDATE comes last so that the bucket's row, which the claim must
lock, is held only from there to commit. A refusal raises; the caller's
transaction (or savepoint) takes the inserted row back.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.errors import SiyuError
from siyu.core.logging import get_logger
from siyu.identity import service as identity
from siyu.members import coupons_repository as repository
from siyu.members import errors
from siyu.members.enums import (
    MEMBER_CLAIMS,
    CouponKind,
    CouponSource,
    CouponState,
    CouponStatus,
    TemplateStatus,
)
from siyu.members.models import Coupon, CouponRedemption, CouponTemplate
from siyu.members.schemas import (
    CouponRead,
    IssueRefusal,
    IssueResult,
    MyCoupons,
    RedeemIn,
    RedemptionRead,
    TemplateCreate,
    TemplateRead,
    TemplateReport,
)
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.wechat.schemas import CustomMessage, Push, Reply, TextMessage, TextReply
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

log = get_logger(__name__)

# Codes a member shows at the till: 16 characters of 32 (no 0/O, 1/I), 80 random bits from
# `secrets`: not guessable from another member's code, nor by trying.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 16


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _fen(amount: int) -> str:
    return f"{amount / 100:.2f}"


# --- templates -----------------------------------------------------------------------------


def _template_reads(session: Session, templates: list[CouponTemplate]) -> list[TemplateRead]:
    issued = repository.issued_counts(session, [t.id for t in templates])
    return [
        TemplateRead.model_validate(t).model_copy(update={"issued": issued.get(t.id, 0)})
        for t in templates
    ]


def _template_read(session: Session, template: CouponTemplate) -> TemplateRead:
    return _template_reads(session, [template])[0]


def _template(session: Session, workspace_id: int, template_id: int) -> CouponTemplate:
    template = repository.get_template(session, workspace_id, template_id)
    if template is None:
        raise errors.TEMPLATE_NOT_FOUND(f"coupon template {template_id} not found")
    return template


def create_template(
    session: Session, workspace_id: int, body: TemplateCreate, *, actor: Principal | str
) -> TemplateRead:
    """A coupon template (its fields checked by the schema), audited."""
    if repository.get_template_by_name(session, workspace_id, body.name) is not None:
        raise errors.TEMPLATE_EXISTS(f"a template named {body.name!r} exists")
    if body.oa_keyword:
        taken = repository.get_template_by_keyword(session, workspace_id, body.oa_keyword)
        if taken is not None:
            raise errors.KEYWORD_TAKEN(
                f"the keyword {body.oa_keyword!r} belongs to template {taken.id}",
                keyword=body.oa_keyword,
            )
    now = clock.now()
    template = repository.add_template(
        session,
        CouponTemplate(
            workspace_id=workspace_id,
            **body.model_dump(),
            created_at=now,
            updated_at=now,
        ),
    )
    template.stock_buckets = repository.add_stock_buckets(session, template.id, body.stock)
    session.flush()
    security.record_audit(
        session,
        actor,
        "coupons.template_created",
        workspace_id=workspace_id,
        target_type="coupon_template",
        target_id=template.id,
        detail={"kind": str(body.kind), "stock": body.stock},
    )
    return _template_read(session, template)


def set_template_status(
    session: Session,
    workspace_id: int,
    template_id: int,
    status: TemplateStatus,
    *,
    actor: Principal | str,
) -> TemplateRead:
    template = _template(session, workspace_id, template_id)
    template.status = status
    template.updated_at = clock.now()
    session.flush()
    security.record_audit(
        session,
        actor,
        "coupons.template_status",
        workspace_id=workspace_id,
        target_type="coupon_template",
        target_id=template.id,
        detail={"status": str(status)},
    )
    return _template_read(session, template)


def list_templates(session: Session, workspace_id: int) -> list[TemplateRead]:
    return _template_reads(session, repository.list_templates(session, workspace_id))


def get_template(session: Session, workspace_id: int, template_id: int) -> TemplateRead:
    return _template_read(session, _template(session, workspace_id, template_id))


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    if template.valid_days is not None:
        return now, now + timedelta(days=template.valid_days)
    assert template.valid_until is not None  # the schema asks for one of the two
    return template.valid_from or now, template.valid_until


def _claimable(template: CouponTemplate, now: datetime) -> bool:
    if template.status is not TemplateStatus.active:
        return False
    return template.valid_until is None or template.valid_until > now


def claimable_templates(session: Session, workspace_id: int) -> list[TemplateRead]:
    """What the Mini Program offers to claim now (those with stock left)."""
    now = clock.now()
    offered = [
        t
        for t in repository.list_templates(
            session, workspace_id, statuses=[TemplateStatus.active], mp_claimable=True
        )
        if _claimable(t, now)
    ]
    return [t for t in _template_reads(session, offered) if t.issued < t.stock]


# --- issue ---------------------------------------------------------------------------------


def coupon_read(coupon: Coupon, template: CouponTemplate, now: datetime) -> CouponRead:
    return CouponRead(
        id=coupon.id,
        template_id=template.id,
        name=template.name,
        kind=template.kind,
        code=coupon.code,
        state=coupon_state(coupon, now),
        source=coupon.source,
        threshold=template.threshold,
        amount_off=template.amount_off,
        percent_off=template.percent_off,
        cap=template.cap,
        gift_name=template.gift_name,
        claimed_at=coupon.claimed_at,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        redeemed_at=coupon.redeemed_at,
    )


def coupon_state(coupon: Coupon, now: datetime) -> CouponState:
    if coupon.status is CouponStatus.redeemed:
        return CouponState.used
    if now >= coupon.valid_until:
        return CouponState.expired
    if now < coupon.valid_from:
        return CouponState.not_started
    return CouponState.usable


def _issue(
    session: Session,
    template: CouponTemplate,
    member_id: int,
    source: CouponSource,
    *,
    now: datetime,
    source_key: str | None = None,
) -> int:
    """The id of the coupon issued (or, for a source key already used, issued before)."""
    if source_key is not None:
        done = repository.get_coupon_by_source(session, template.id, source_key)
        if done is not None:
            return done.id
    if not _claimable(template, now):
        raise errors.NOT_CLAIMABLE(f"template {template.id} cannot be claimed now")
    limit = template.per_member_limit
    valid_from, valid_until = _validity(template, now)
    values = {
        "workspace_id": template.workspace_id,
        "template_id": template.id,
        "member_id": member_id,
        "source": source,
        "source_key": source_key,
        "status": CouponStatus.available,
        "claimed_at": now,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "redeemed_at": None,
    }
    taken = 0 if limit == 1 else repository.count_member_coupons(session, template.id, [member_id])
    coupon_id: int | None = None
    for _attempt in range(limit + 3):
        if taken >= limit:
            break
        row = {**values, "nth": taken + 1, "code": new_code()}
        coupon_id = repository.insert_coupon(session, row)
        if coupon_id is not None:
            # What the answer needs, without reading the row back (the hot path of a claim).
            session.info.setdefault(_ISSUED, {})[coupon_id] = Coupon(id=coupon_id, **row)
            break
        # A key was taken: the nth slot by a concurrent claim of this member (committed by
        # now: PostgreSQL waited for it), this source's issue, or (80 bits: never) the code.
        if source_key is not None:
            done = repository.get_coupon_by_source(session, template.id, source_key)
            if done is not None:
                return done.id
        taken = repository.count_member_coupons(session, template.id, [member_id])
    if coupon_id is None:
        raise errors.LIMIT_REACHED(
            f"member {member_id} holds {limit} coupons of template {template.id}", limit=limit
        )
    if not repository.take_template_stock(session, template.id, template.stock_buckets):
        raise errors.OUT_OF_STOCK(f"template {template.id} has no coupons left")
    return coupon_id


_ISSUED = "members.issued_coupons"
_GIFTS = "members.new_member_gifts"


def _read_coupon(session: Session, coupon_id: int, template: CouponTemplate) -> CouponRead:
    coupon = session.info.get(_ISSUED, {}).pop(coupon_id, None) or repository.get_coupon(
        session, coupon_id
    )
    assert coupon is not None
    return coupon_read(coupon, template, clock.now())


def claim_in_mp(
    session: Session, workspace_id: int, member_id: int, template_id: int
) -> CouponRead:
    """The member claims a coupon in the Mini Program (their own session)."""
    template = _template(session, workspace_id, template_id)
    if not template.mp_claimable:
        raise errors.NOT_CLAIMABLE(f"template {template_id} is not offered in the Mini Program")
    coupon_id = _issue(session, template, member_id, CouponSource.mp, now=clock.now())
    return _read_coupon(session, coupon_id, template)


def issue_coupon(
    session: Session,
    workspace_id: int,
    template_id: int,
    member_id: int,
    *,
    source: CouponSource,
    source_key: str | None = None,
) -> CouponRead:
    """Issue one coupon for another part of members (the mall, a level's pack, a journey):
    refusals raise; `source_key` makes a repeated call answer the first coupon."""
    template = _template(session, workspace_id, template_id)
    coupon_id = _issue(session, template, member_id, source, now=clock.now(), source_key=source_key)
    return _read_coupon(session, coupon_id, template)


def issue_by_staff(
    session: Session,
    workspace_id: int,
    template_id: int,
    member_numbers: list[int],
    *,
    actor: Principal | str,
) -> IssueResult:
    """One coupon to each member named by number; each refusal is listed with its code (the
    others are issued: each issue has its own savepoint)."""
    template = _template(session, workspace_id, template_id)
    now = clock.now()
    issued: list[CouponRead] = []
    refused: list[IssueRefusal] = []
    for number in member_numbers:
        try:
            with session.begin_nested():
                member = identity.get_member_by_number(session, workspace_id, number)
                coupon_id = _issue(session, template, member.id, CouponSource.staff, now=now)
        except SiyuError as exc:
            session.expire(template)
            refused.append(IssueRefusal(member_number=number, code=exc.code))
            continue
        session.expire(template)
        issued.append(_read_coupon(session, coupon_id, template))
    security.record_audit(
        session,
        actor,
        "coupons.issued",
        workspace_id=workspace_id,
        target_type="coupon_template",
        target_id=template_id,
        detail={"issued": len(issued), "refused": len(refused)},
    )
    return IssueResult(issued=issued, refused=refused)


def on_member_created(session: Session, event: identity.MemberCreated) -> None:
    """New-member gifts: every active template marked so, once per member (its source key).

    Given when the member is made, whatever made them (an MP login, a follow, an import): it
    rewards becoming a member, never a share (fact sheet §12: rewarded sharing is banned)."""
    # Asked once per transaction: an import or a push batch makes many members in one.
    transaction = session.get_transaction()
    held = session.info.get(_GIFTS)
    if held is None or held[0] is not transaction:
        held = session.info[_GIFTS] = (transaction, {})
    cache: dict[int, list[CouponTemplate]] = held[1]
    if event.workspace_id not in cache:
        cache[event.workspace_id] = repository.list_templates(
            session, event.workspace_id, statuses=[TemplateStatus.active], new_member_gift=True
        )
    templates = cache[event.workspace_id]
    now = clock.now()
    for template in templates:
        try:
            with session.begin_nested():
                _issue(
                    session,
                    template,
                    event.member_id,
                    CouponSource.new_member,
                    now=now,
                    source_key=f"new_member:{event.member_id}",
                )
        except SiyuError as exc:
            log.info("new_member_gift_refused", template_id=template.id, code=exc.code)
        session.expire(template)


def claim_by_keyword(
    session: Session, workspace_id: int, member_id: int, keyword: str, source_key: str
) -> tuple[str, CouponRead | None]:
    """A claim from the Official Account's chat: the template whose keyword this is, issued
    once per push (`source_key`). Answers what to tell the member, and the coupon if any;
    a refusal is told, not raised (the push goes on being processed)."""
    template = repository.get_template_by_keyword(session, workspace_id, keyword)
    if template is None:
        return "", None
    try:
        with session.begin_nested():
            coupon_id = _issue(
                session,
                template,
                member_id,
                CouponSource.oa,
                now=clock.now(),
                source_key=source_key,
            )
    except SiyuError as exc:
        session.expire(template)
        return f"「{template.name}」没有领到：{errors_text(exc)}", None
    coupon = _read_coupon(session, coupon_id, template)
    until = coupon.valid_until.astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M")
    return (
        f"已为你领取「{template.name}」，券码 {coupon.code}，有效期至 {until}。"
        "回复“优惠券”查看你的全部优惠券。",
        coupon,
    )


def errors_text(exc: SiyuError) -> str:
    if exc.code == errors.OUT_OF_STOCK.code:
        return "已经领完了。"
    if exc.code == errors.LIMIT_REACHED.code:
        return "你已经领过了。"
    return "现在不能领取。"


# --- a member's coupons --------------------------------------------------------------------


def my_coupons(session: Session, workspace_id: int, member_id: int) -> MyCoupons:
    """The member's coupons (and those of members merged into them): usable (and not yet
    started), used, expired."""
    family = identity.member_family(session, workspace_id, member_id)
    now = clock.now()
    mine = MyCoupons(usable=[], used=[], expired=[])
    for coupon, template in repository.list_member_coupons(session, family):
        read = coupon_read(coupon, template, now)
        if read.state is CouponState.used:
            mine.used.append(read)
        elif read.state is CouponState.expired:
            mine.expired.append(read)
        else:
            mine.usable.append(read)
    return mine


def coupons_summary(session: Session, workspace_id: int, member_id: int) -> str:
    """What the Official Account answers to "优惠券": the member's usable coupons."""
    usable = my_coupons(session, workspace_id, member_id).usable
    if not usable:
        return "你还没有可用的优惠券。"
    lines = [f"你有 {len(usable)} 张可用优惠券："]
    for c in usable[:10]:
        until = c.valid_until.astimezone(clock.BEIJING).strftime("%m-%d")
        lines.append(f"· {c.name}（{c.code}，{until} 到期）")
    if len(usable) > 10:
        lines.append(f"…… 另有 {len(usable) - 10} 张，请在小程序查看。")
    return "\n".join(lines)


# --- redemption ----------------------------------------------------------------------------


def discount_of(template: CouponTemplate, amount: int) -> int:
    if template.kind is CouponKind.amount_off:
        return min(template.amount_off or 0, amount)
    if template.kind is CouponKind.percent_off:
        off = amount * (template.percent_off or 0) // 100
        return min(off, template.cap) if template.cap is not None else off
    return 0  # a gift is handed over; the order's amount stays


def _redemption_read(
    redemption: CouponRedemption, coupon: Coupon, template: CouponTemplate
) -> RedemptionRead:
    return RedemptionRead(
        id=redemption.id,
        coupon_id=coupon.id,
        template_id=template.id,
        code=coupon.code,
        order_id=redemption.order_id,
        amount=redemption.amount,
        discount=redemption.discount,
        payable=redemption.amount - redemption.discount,
        gift_name=template.gift_name if template.kind is CouponKind.gift else None,
        redeemed_at=redemption.redeemed_at,
        refunded_at=redemption.refunded_at,
        coupon_returned=redemption.coupon_returned,
    )


def _answer_again(
    session: Session, workspace_id: int, redemption: CouponRedemption, body: RedeemIn
) -> RedemptionRead:
    """The same order redeemed again: the first answer, if it is the same request."""
    coupon = repository.get_coupon(session, redemption.coupon_id)
    assert coupon is not None
    if coupon.code != body.code or redemption.amount != body.amount_fen:
        raise errors.ORDER_HAS_COUPON(
            f"order {body.order_id} was redeemed with another coupon or amount"
        )
    template = _template(session, workspace_id, coupon.template_id)
    return _redemption_read(redemption, coupon, template)


def redeem(
    session: Session, workspace_id: int, body: RedeemIn, *, actor: Principal | str
) -> RedemptionRead:
    """Use a coupon on an order of the brand's mall or till: the member's own, valid now, the
    order at its threshold. Idempotent by order id; of concurrent redemptions of one code,
    one wins (a conditional UPDATE)."""
    now = clock.now()
    member = identity.get_member_by_number(session, workspace_id, body.member)
    done = repository.get_redemption_by_order(session, workspace_id, body.order_id)
    if done is not None:
        return _answer_again(session, workspace_id, done, body)
    coupon = repository.get_coupon_by_code(session, workspace_id, body.code)
    if coupon is None:
        raise errors.COUPON_NOT_FOUND("no coupon has this code")
    if coupon.member_id not in identity.member_family(session, workspace_id, member.id):
        raise errors.COUPON_NOT_YOURS(f"the coupon is not member {body.member}'s")
    template = _template(session, workspace_id, coupon.template_id)
    if coupon.status is CouponStatus.redeemed:
        # Perhaps by this very order, committed since the first look.
        done = repository.get_redemption_by_order(session, workspace_id, body.order_id)
        if done is not None:
            return _answer_again(session, workspace_id, done, body)
        raise errors.COUPON_USED(f"the coupon was used at {coupon.redeemed_at:%Y-%m-%d %H:%M}")
    if now >= coupon.valid_until:
        raise errors.COUPON_EXPIRED(f"the coupon expired at {coupon.valid_until.isoformat()}")
    if now < coupon.valid_from:
        raise errors.COUPON_NOT_STARTED(f"the coupon is valid from {coupon.valid_from.isoformat()}")
    if body.amount_fen < template.threshold:
        raise errors.BELOW_THRESHOLD(
            f"the order is below the threshold of {template.threshold} fen",
            threshold=_fen(template.threshold),
        )
    if not repository.mark_coupon_redeemed(session, coupon.id, now):
        # Lost a race: to the same order (answer it again) or to another one.
        done = repository.get_redemption_by_order(session, workspace_id, body.order_id)
        if done is not None:
            return _answer_again(session, workspace_id, done, body)
        raise errors.COUPON_USED("the coupon was used by a concurrent redemption")
    try:
        with session.begin_nested():
            redemption = repository.add_redemption(
                session,
                CouponRedemption(
                    workspace_id=workspace_id,
                    coupon_id=coupon.id,
                    template_id=template.id,
                    member_id=coupon.member_id,
                    order_id=body.order_id,
                    amount=body.amount_fen,
                    discount=discount_of(template, body.amount_fen),
                    redeemed_at=now,
                    refunded_at=None,
                    coupon_returned=False,
                ),
            )
    except IntegrityError as exc:  # the same order, concurrently, with another coupon
        raise errors.ORDER_HAS_COUPON(
            f"order {body.order_id} was redeemed with another coupon"
        ) from exc
    session.refresh(coupon)
    security.record_audit(
        session,
        actor,
        "coupons.redeemed",
        workspace_id=workspace_id,
        target_type="coupon",
        target_id=coupon.id,
        detail={"amount": body.amount_fen, "discount": redemption.discount},
    )
    return _redemption_read(redemption, coupon, template)


def refund_order(
    session: Session, workspace_id: int, order_id: str, *, actor: Principal | str
) -> RedemptionRead:
    """The order that used a coupon was refunded: its coupon comes back to the member (usable
    again if it is still valid; past its validity it shows as expired). Idempotent."""
    redemption = repository.get_redemption_by_order(
        session, workspace_id, order_id, for_update=True
    )
    if redemption is None:
        raise errors.REDEMPTION_NOT_FOUND(f"no coupon was redeemed for order {order_id}")
    coupon = repository.get_coupon(session, redemption.coupon_id)
    assert coupon is not None
    template = _template(session, workspace_id, coupon.template_id)
    if redemption.refunded_at is None:
        now = clock.now()
        redemption.refunded_at = now
        redemption.coupon_returned = now < coupon.valid_until
        repository.return_coupon(session, coupon.id)
        session.flush()
        session.refresh(coupon)
        security.record_audit(
            session,
            actor,
            "coupons.refunded",
            workspace_id=workspace_id,
            target_type="coupon",
            target_id=coupon.id,
            detail={"returned": redemption.coupon_returned},
        )
    return _redemption_read(redemption, coupon, template)


# --- the report ----------------------------------------------------------------------------


def template_reports(
    session: Session, workspace_id: int, template_id: int | None = None
) -> list[TemplateReport]:
    """Per template: issued (by source), claimed by members themselves, redeemed, expired
    unused, still usable, the redemption rate and the amount taken off (refunds excluded)."""
    now = clock.now()
    templates = (
        [_template(session, workspace_id, template_id)]
        if template_id is not None
        else repository.list_templates(session, workspace_id)
    )
    counts: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for tid, source, issued, redeemed, expired in repository.count_coupons_by_state(
        session, workspace_id, now, template_id
    ):
        counts[tid][str(source)] = [int(issued), int(redeemed), int(expired)]
    discounted = repository.sum_discounts(session, workspace_id, template_id)
    reports = []
    for t in templates:
        by_source = counts.get(t.id, {})
        issued = sum(v[0] for v in by_source.values())
        redeemed = sum(v[1] for v in by_source.values())
        expired = sum(v[2] for v in by_source.values())
        reports.append(
            TemplateReport(
                template_id=t.id,
                name=t.name,
                kind=t.kind,
                stock=t.stock,
                issued=issued,
                claimed=sum(by_source.get(str(s), [0])[0] for s in MEMBER_CLAIMS),
                by_source={s: v[0] for s, v in sorted(by_source.items())},
                redeemed=redeemed,
                expired=expired,
                usable=issued - redeemed - expired,
                redemption_rate=round(redeemed / issued, 4) if issued else 0.0,
                discounted=discounted.get(t.id, 0),
            )
        )
    return reports


# --- the Official Account's chat -----------------------------------------------------------

COUPONS_KEYWORD = "优惠券"


def _text_of(push: Push) -> str | None:
    return push.content.strip() if isinstance(push, TextMessage) else None


def reply_handler(session: Session, app: AppRead, push: Push) -> Reply | None:
    """The OA's passive reply (reads only): "优惠券" lists the member's usable coupons; a
    template's claim keyword is acknowledged, and `on_message` (once per push, in the
    processing job) issues the coupon and tells the outcome through customer service."""
    if app.kind == AppKind.mp:
        return None
    text = _text_of(push)
    if not text:
        return None
    if session.in_transaction():  # the processing job's late answer: its session, its lock
        return _keyword_answer(session, app, push, text)
    # Our own short read: on SQLite every transaction holds the write lock (see autoreply).
    with Session(session.get_bind()) as own:
        try:
            return _keyword_answer(own, app, push, text)
        finally:
            own.rollback()


def _keyword_answer(session: Session, app: AppRead, push: Push, text: str) -> Reply | None:
    if text == COUPONS_KEYWORD:
        found = identity.search_members(session, app.workspace_id, openid=push.openid, limit=1)
        if not found:
            return TextReply("你还没有可用的优惠券。")
        return TextReply(coupons_summary(session, app.workspace_id, found[0].id))
    template = repository.get_template_by_keyword(session, app.workspace_id, text)
    name = None if template is None else template.name
    return None if name is None else TextReply(f"正在为你领取「{name}」，结果马上发给你。")


def on_messages(session: Session, pushes: Sequence[Push]) -> None:
    """The batch form of `on_message`: the batch's texts checked against the claim keywords in
    one read; only the pushes that name one go on to claim."""
    wanted = [
        (push, text)
        for push in pushes
        if (text := _text_of(push)) and text != COUPONS_KEYWORD and push.member_id is not None
    ]
    if not wanted:
        return
    live = repository.claim_keywords_among(
        session, [p.workspace_id for p, _ in wanted], [t for _, t in wanted]
    )
    for push, text in wanted:
        if (push.workspace_id, text) in live:
            on_message(session, push)


def on_message(session: Session, push: Push) -> None:
    """A claim keyword in the OA's chat: the coupon issued once per push, the outcome sent
    through the customer-service API (the member's message opened its 48-hour window)."""
    text = _text_of(push)
    if not text or text == COUPONS_KEYWORD or push.member_id is None:
        return
    answer, _coupon = claim_by_keyword(
        session, push.workspace_id, push.member_id, text, f"push:{push.push_id}"
    )
    if answer:
        message = CustomMessage.text(push.openid, answer)
        jobs.enqueue(session, "members.send_reply", push.app_id, message.model_dump())
