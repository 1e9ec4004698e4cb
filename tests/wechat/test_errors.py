"""The WeChat border's and pay's refusals keep the codes and statuses API clients know, and
each reads as a Chinese sentence; staff meet the refund codes, so those are not API-only."""

from __future__ import annotations

from siyu.core.errors import Conflict, Forbidden, NotFound, SiyuError, Unauthorized, all_error_codes
from siyu.wechat import errors as wechat_errors
from siyu.wechat.pay import errors as pay_errors

WECHAT = {
    "wechat.malformed_push": 400,
    "wechat.bad_signature": 401,
    "wechat.appid_mismatch": 400,
    "wechat.undecryptable": 400,
    # Replays and storage failures (issue #17 point 8, issue #18 part 4).
    "wechat.plaintext_refused": 403,
    "wechat.stale_push": 403,
    "wechat.replayed_push": 403,
    "wechat.push_store_unavailable": 503,
    "wechat.push_not_configured": 404,
    "wechat.app_without_secret": 409,
    "wechat.token_busy": 503,
    "wechat.unavailable": 503,
    "wechat.refused": 502,
    "wechat.not_mini_program": 400,
    "wechat.invalid_code": 400,
    "wechat.code_used": 400,
    "wechat.rate_limited": 429,
    "wechat.user_blocked": 403,
    "wechat.upstream_error": 502,
    "wechat.mp_session_required": 401,
    "wechat.mp_session_expired": 401,
    "wechat.bad_encrypted_data": 422,
    # OA tags, conditional menus and tag broadcasts (#19)
    "wechat.oa_tag_limit": 409,
    "wechat.oa_tag_too_many_fans": 409,
    "wechat.oa_system_tag": 400,
    "wechat.oa_user_tag_limit": 409,
    "wechat.oa_tag_name_invalid": 400,
    "wechat.oa_tag_name_too_long": 400,
    "wechat.oa_tag_unknown": 404,
    "wechat.oa_tag_batch_size": 400,
    "wechat.oa_not_follower": 409,
    "wechat.no_default_menu": 409,
    "wechat.conditional_menu_unknown": 404,
    "wechat.matchrule_empty": 400,
    "wechat.matchrule_privacy": 400,
    "wechat.quota_exceeded": 429,
    "wechat.mass_quota_used": 409,
}
PAY = {
    "pay.merchant_exists": 409,
    "pay.unknown_merchant": 404,
    "pay.no_merchant": 409,
    "pay.invalid_amount": 422,
    "pay.not_mini_program": 400,
    "pay.member_without_openid": 409,
    "pay.order_not_found": 404,
    "pay.order_paid": 409,
    "pay.order_changed": 409,
    "pay.order_contention": 409,
    "pay.order_closed": 409,
    "pay.not_your_order": 403,
    "pay.demo_disabled": 404,
    "pay.refund_reason_required": 422,
    "pay.refund_reason_too_long": 422,
    "pay.order_not_paid": 409,
    "pay.refund_too_late": 409,
    "pay.too_many_refunds": 409,
    "pay.refund_exceeds_paid": 409,
    "pay.idempotency_key_reused": 409,
    "pay.unavailable": 503,
    "pay.upstream_refused": 502,
    "pay.bad_signature": 401,
    "pay.unknown_serial": 401,
    "pay.stale_notification": 401,
    "pay.undecryptable": 400,
    "pay.malformed_notification": 400,
    "pay.merchant_mismatch": 400,
    "pay.unknown_order": 404,
    "pay.unknown_refund": 404,
    "pay.amount_mismatch": 409,
    "pay.payer_mismatch": 409,
    "pay.transaction_mismatch": 409,
}
STAFF_REFUNDS = {
    "pay.invalid_amount",
    "pay.order_not_found",
    "pay.refund_reason_required",
    "pay.refund_reason_too_long",
    "pay.order_not_paid",
    "pay.refund_too_late",
    "pay.too_many_refunds",
    "pay.refund_exceeds_paid",
}


def listed(prefix: str) -> dict[str, int]:
    return {c.code: c.status for c in all_error_codes() if c.code.startswith(prefix)}


def test_every_code_keeps_its_string_and_status() -> None:
    # given the codes the border answered before they were listed
    # then the catalogues hold exactly those, with the same statuses
    assert listed("wechat.") == WECHAT
    assert listed("pay.") == PAY


def test_every_code_reads_in_chinese_and_staff_refund_codes_reach_the_console() -> None:
    for code in all_error_codes():
        if code.code.split(".")[0] in ("wechat", "pay"):
            assert code.zh.endswith("。"), code.code
            assert not code.zh.isascii(), code.code
    staff = {c.code for c in all_error_codes() if c.code in STAFF_REFUNDS}
    assert staff == STAFF_REFUNDS
    assert not any(c.api_only for c in all_error_codes() if c.code in STAFF_REFUNDS)


def test_a_raised_code_is_the_class_its_status_calls_for() -> None:
    # when codes are raised as the border raises them
    cases: list[tuple[SiyuError, type[SiyuError]]] = [
        (
            wechat_errors.BAD_SIGNATURE("the push's signature does not match the Token"),
            Unauthorized,
        ),
        (wechat_errors.PUSH_NOT_CONFIGURED("no Token", appid="wx1"), NotFound),
        (wechat_errors.USER_BLOCKED("blocked"), Forbidden),
        (pay_errors.REFUND_EXCEEDS_PAID("too much"), Conflict),
    ]
    # then callers that catch by class still catch them, and the message is the API's
    for raised, kind in cases:
        assert isinstance(raised, kind)
    assert cases[0][0].message == "the push's signature does not match the Token"
    assert "wx1" in wechat_errors.PUSH_NOT_CONFIGURED.text({"appid": "wx1"})
    assert pay_errors.TOO_MANY_REFUNDS.text({"limit": 50}) == "一笔订单最多退款 50 次。"
