"""The WeChat border as other domains and the entrypoints use it: the API client and its typed
errors, the passive-reply extension points of the push inbox, and the Mini Program's session.

Other domains import `siyu.wechat.service`, `schemas` (pushes, replies, outbound payloads),
`errors` and the protocol crypto (`crypto`, `paycrypto`), never the modules behind this face.
"""

from __future__ import annotations

from siyu.core.errors import SiyuError
from siyu.wechat import errors
from siyu.wechat.backlog import push_backlog, retry_pushes, retry_unionid, set_aside_work
from siyu.wechat.gateway import (
    ConnectFailed,
    CredentialsRejected,
    Gateway,
    InvalidCode,
    InvalidOpenid,
    InvalidRequest,
    NotAuthorized,
    NotFollowing,
    OutsideWindow,
    QuotaExceeded,
    RateLimited,
    SubscriptionMissing,
    SystemBusy,
    TokenInvalid,
    TokenSource,
    Transport,
    UserBlocked,
    UserStateError,
    WeChatError,
    WeChatUnavailable,
    WindowQuotaExceeded,
)
from siyu.wechat.inbox import (
    MAX_PUSH_BYTES,
    LateReplySender,
    ReplyHandler,
    customer_service_message,
    register_reply_handler,
    set_late_reply_sender,
    unregister_reply_handler,
)
from siyu.wechat.mp import MpLaunched, MpPrincipal, authenticate, open_user_data
from siyu.wechat.tokens import gateway_for, shared_gateway


def refusal(exc: WeChatError, what: str) -> SiyuError:
    """A gateway error as the refusal an operator reads: tag and conditional-menu errcodes in
    their own words (`errors.explain`), else unreachable (503) or refused (502)."""
    return errors.explain(
        exc.errcode, exc.errmsg, what, reachable=not isinstance(exc, WeChatUnavailable)
    )


__all__ = [
    "MAX_PUSH_BYTES",
    "ConnectFailed",
    "CredentialsRejected",
    "Gateway",
    "InvalidCode",
    "InvalidOpenid",
    "InvalidRequest",
    "LateReplySender",
    "MpLaunched",
    "MpPrincipal",
    "NotAuthorized",
    "NotFollowing",
    "OutsideWindow",
    "QuotaExceeded",
    "RateLimited",
    "ReplyHandler",
    "SubscriptionMissing",
    "SystemBusy",
    "TokenInvalid",
    "TokenSource",
    "Transport",
    "UserBlocked",
    "UserStateError",
    "WeChatError",
    "WeChatUnavailable",
    "WindowQuotaExceeded",
    "authenticate",
    "customer_service_message",
    "gateway_for",
    "open_user_data",
    "push_backlog",
    "refusal",
    "register_reply_handler",
    "retry_pushes",
    "retry_unionid",
    "set_aside_work",
    "set_late_reply_sender",
    "shared_gateway",
    "unregister_reply_handler",
]
