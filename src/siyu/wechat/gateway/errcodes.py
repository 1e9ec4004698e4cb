"""WeChat's errcodes as typed exceptions: what a caller may retry, and what it must not."""

from __future__ import annotations


class WeChatError(Exception):
    """WeChat answered a non-zero errcode (or could not be reached)."""

    def __init__(self, errcode: int, errmsg: str, *, path: str = "") -> None:
        super().__init__(f"WeChat {path or 'API'} answered {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class WeChatUnavailable(WeChatError):
    """No usable answer: network failure, HTTP error status or a body that is not JSON."""


class SystemBusy(WeChatError):
    """-1: WeChat asks to retry later."""


class QuotaExceeded(WeChatError):
    """45009: the API's daily (or per-minute) call quota is spent."""


class RateLimited(WeChatError):
    """45011: the per-user minute limit (code2session: 100 calls a minute)."""


class TokenInvalid(WeChatError):
    """40001 / 40014 / 42001 / 41001: the access_token is invalid, stale, expired or missing."""


class CredentialsRejected(WeChatError):
    """The appid, AppSecret or caller IP is refused (40013, 40125, 40164, 40243)."""


class InvalidCode(WeChatError):
    """40029: the wx.login or phone code is invalid or expired (codes live 5 minutes)."""


class CodeUsed(WeChatError):
    """40163: the code was already exchanged once."""


class UserBlocked(WeChatError):
    """40226: WeChat blocks this high-risk user from logging in."""


class UserStateError(WeChatError):
    """The user's state forbids this message (not a follower, no credit, window closed…)."""


class InvalidOpenid(UserStateError):
    """40003: the openid is not a user of this app."""


class NotFollowing(UserStateError):
    """43004: the user does not follow the Official Account."""


class SubscriptionMissing(UserStateError):
    """43101: the user refused, unsubscribed or has no one-time subscription credit left."""


class OutsideWindow(UserStateError):
    """45015: the 48-hour customer-service window is closed."""


class WindowQuotaExceeded(UserStateError):
    """45047: the customer-service messages allowed in this window are spent."""


class InvalidRequest(WeChatError):
    """The request itself is wrong (template id, data field, page path, list size…)."""


class NotAuthorized(WeChatError):
    """48001 / 48004: this account may not use the API."""


# The request itself is wrong: menu shape (40016-40027), message type, QR action, template id,
# list sizes, pages, tags, conditional menus (65301 unknown menuid, 65303 no default menu,
# 65304 empty match rule), data format.
# fmt: off
_BAD_REQUEST = (
    *range(40016, 40028), 40008, 40032, 40035, 40037, 40052, 40053, 40097, 40129, 40165,
    40169, 40212, 41030, 44002, 45029, 45056, 45057, 45058, 45059, 45064, 45157, 45158,
    45159, 46003, 47001, 47003, 65301, 65303, 65304, 65320, 85401,
)
# fmt: on

_ERRORS: dict[int, type[WeChatError]] = {
    -1: SystemBusy,
    40001: TokenInvalid,
    40014: TokenInvalid,
    41001: TokenInvalid,
    42001: TokenInvalid,
    40013: CredentialsRejected,
    40125: CredentialsRejected,
    40164: CredentialsRejected,
    40243: CredentialsRejected,
    40029: InvalidCode,
    40163: CodeUsed,
    40226: UserBlocked,
    40003: InvalidOpenid,
    43004: NotFollowing,
    43101: SubscriptionMissing,
    45015: OutsideWindow,
    45047: WindowQuotaExceeded,
    45009: QuotaExceeded,
    45011: RateLimited,
    49003: InvalidOpenid,
    **dict.fromkeys(_BAD_REQUEST, InvalidRequest),
    48001: NotAuthorized,
    48004: NotAuthorized,
}

# -1 and 45009 may pass; everything else (and token errors, handled above us) is final here.
RETRYABLE = (SystemBusy, QuotaExceeded)


def error_for(errcode: int, errmsg: str, path: str = "") -> WeChatError:
    """The typed exception for an errcode."""
    return _ERRORS.get(errcode, WeChatError)(errcode, errmsg, path=path)


class ConnectFailed(WeChatUnavailable):
    """The request never left: safe to retry even for messages."""
