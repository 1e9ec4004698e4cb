"""Simulated users: their actions reach siyu as WeChat's pushes (or as an MP client's calls)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from siyu.sandbox import menus
from siyu.sandbox.errors import WeChatError
from siyu.sandbox.messaging import open_grant
from siyu.sandbox.pay import PayError, PayWorld
from siyu.sandbox.push import (
    ENVELOPE_KEYS,
    UNAVAILABLE,
    Delivery,
    Push,
    PushClient,
    event,
    message,
)
from siyu.sandbox.world import Account, Follow, QrCode, SandboxWorld, SimUser, b64id

ActionKind = Literal[
    "follow",
    "unfollow",
    "text",
    "click",
    "scan",
    "enter_chat",
    "mp_login",
    "phone_code",
    "bind_phone",
    "accept_subscribe",
    "share",
    "pay",
    "abandon_payment",
    "enroll",
    "checkin",
]


class Action(BaseModel):
    """One thing a user does; `at` replays it at a past moment (the world's clock moves there)."""

    kind: ActionKind
    uid: str
    appid: str
    at: datetime | None = None
    text: str = ""
    key: str = ""
    ticket: str = ""
    template_ids: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)
    path: str = "pages/index/index"
    siyu_url: str | None = None
    out_trade_no: str = ""  # pay this order of siyu's (default: siyu's demo checkout)
    channel: str = ""  # where an enrollment came from (a poster, a group, a friend…)


class Outcome(BaseModel):
    kind: str
    uid: str
    appid: str
    ok: bool
    attempts: int = 0
    status: int | None = None
    reply: dict[str, Any] | None = None
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ActionRefused(Exception):
    """The user cannot do this (e.g. click a menu key that does not exist)."""


class Population:
    """Performs user actions on the world and delivers the pushes they cause.

    World state changes under the world's lock; pushes go out after it is released, because
    siyu answering a push may call the sandbox API back (code2session, customer service).
    """

    def __init__(
        self,
        world: SandboxWorld,
        pusher: PushClient | None = None,
        *,
        http: httpx.Client | None = None,
        siyu_url: str | None = None,
        pay: PayWorld | None = None,
    ) -> None:
        self.world = world
        self.pusher = pusher or PushClient(http)
        # The Mini Program's calls to siyu take the client's timeout: wx.request's default and
        # maximum are 60 s (developers.weixin.qq.com/miniprogram/dev/framework/ability/
        # network.html). Pushes keep WeChat's 5 s, in the PushClient.
        self.http = http or self.pusher.http
        self.siyu_url = siyu_url
        self.pay_world = pay or PayWorld(world, self.http)

    def perform(self, action: Action) -> Outcome:
        handlers: dict[str, Callable[[Action], Outcome]] = {
            "follow": self.follow,
            "unfollow": self.unfollow,
            "text": self.send_text,
            "click": self.click,
            "scan": self.scan,
            "enter_chat": self.enter_chat,
            "mp_login": self.mp_login,
            "phone_code": self.phone_code,
            "bind_phone": self.bind_phone,
            "accept_subscribe": self.accept_subscribe,
            "share": self.share,
            "pay": self.pay,
            "abandon_payment": self.pay,
            "enroll": self.enroll,
            "checkin": self.check_in,
        }
        if action.at is not None:
            self.world.set_time(action.at)
        try:
            return handlers[action.kind](action)
        except (ActionRefused, WeChatError, KeyError, ValueError) as exc:
            return self._outcome(action, False, error=str(exc))

    # -- Official Account actions --------------------------------------------------------------

    def _oa_user(self, action: Action) -> tuple[Account, SimUser, str]:
        account = self.world.account(action.appid)
        if not account.is_oa:
            raise ActionRefused(f"{action.appid} is not an Official Account")
        user = self.world.user(action.uid)
        return account, user, self.world.openid(user, account.appid)

    def _live_qr(self, account: Account, ticket: str) -> QrCode:
        qr = account.qrcodes.get(ticket)
        if qr is None or (qr.expires_at is not None and self.world.now() >= qr.expires_at):
            raise ActionRefused("the QR code is unknown or has expired")
        return qr

    def follow(self, action: Action) -> Outcome:
        """`subscribe`; through a QR code it carries `EventKey=qrscene_<scene>` and `Ticket`."""
        with self.world.lock:
            account, user, openid = self._oa_user(action)
            if user.following(account.appid):
                raise ActionRefused("the user already follows this account")
            push = self._subscribe(account, user, openid, action.ticket or None)
        return self._send(action, user, push)

    def _subscribe(self, account: Account, user: SimUser, openid: str, ticket: str | None) -> Push:
        now = self.world.now()
        qr = self._live_qr(account, ticket) if ticket else None
        follow = Follow(True, now, "ADD_SCENE_QR_CODE" if qr else "ADD_SCENE_SEARCH")
        if qr is not None and qr.action_name.endswith("STR_SCENE"):
            follow.qr_scene_str = qr.scene
        elif qr is not None:
            follow.qr_scene = int(qr.scene)
        user.follows[account.appid] = follow
        open_grant(self.world, user, account.appid, "follow")
        if qr is None:
            return event(account, openid, now, "subscribe")
        return event(
            account, openid, now, "subscribe", EventKey=f"qrscene_{qr.scene}", Ticket=qr.ticket
        )

    def unfollow(self, action: Action) -> Outcome:
        with self.world.lock:
            account, user, openid = self._oa_user(action)
            if not user.following(account.appid):
                raise ActionRefused("the user does not follow this account")
            user.follows[account.appid].subscribed = False
            user.grants.pop(account.appid, None)  # no more customer-service messages
            user.tags.pop(account.appid, None)
            push = event(account, openid, self.world.now(), "unsubscribe", visible=False)
        return self._send(action, user, push)

    def scan(self, action: Action) -> Outcome:
        """A follower's scan is `SCAN` with the bare scene; anyone else follows through it."""
        with self.world.lock:
            account, user, openid = self._oa_user(action)
            qr = self._live_qr(account, action.ticket)
            if not user.following(account.appid):
                push = self._subscribe(account, user, openid, qr.ticket)
            else:
                open_grant(self.world, user, account.appid, "scan")
                now = self.world.now()
                push = event(account, openid, now, "SCAN", EventKey=qr.scene, Ticket=qr.ticket)
        return self._send(action, user, push)

    def click(self, action: Action) -> Outcome:
        """A menu button by key or name: CLICK, VIEW or view_miniprogram as its type says."""
        with self.world.lock:
            account, user, openid = self._oa_user(action)
            if not user.following(account.appid):
                raise ActionRefused("only followers see the menu")
            # The menu this follower sees: a conditional one when their tags select it.
            buttons, shown_id = menus.menu_for(account, user)
            button = self._button(buttons, action.key)
            now, kind = self.world.now(), button.get("type")
            menu_id = str(shown_id)
            if kind == "view":
                push = event(
                    account,
                    openid,
                    now,
                    "VIEW",
                    visible=False,
                    EventKey=button["url"],
                    MenuId=menu_id,
                )
            elif kind == "miniprogram":
                push = event(
                    account, openid, now, "view_miniprogram", visible=False,
                    EventKey=button["pagepath"], MenuId=menu_id,
                )  # fmt: skip
            elif kind == "click" or str(kind).startswith("scancode"):
                open_grant(self.world, user, account.appid, "click")
                push = event(account, openid, now, "CLICK", EventKey=button["key"])
            else:
                raise ActionRefused(f"the simulator does not press {kind} buttons")
        return self._send(action, user, push)

    @staticmethod
    def _button(menu: list[dict[str, Any]], key: str) -> dict[str, Any]:
        for top in menu:
            buttons: list[dict[str, Any]] = [top, *(top.get("sub_button") or [])]
            for button in buttons:
                if key and key in (button.get("key"), button.get("name")) and button.get("type"):
                    return button
        raise ActionRefused(f"no menu button {key!r}")

    def send_text(self, action: Action) -> Outcome:
        """A text message (64-bit MsgId); it opens the 48-hour customer-service window."""
        with self.world.lock:
            account = self.world.account(action.appid)
            user = self.world.user(action.uid)
            if account.is_oa and not user.following(account.appid):
                raise ActionRefused("only followers can message an Official Account")
            openid = self.world.openid(user, account.appid)
            open_grant(self.world, user, account.appid, "message")
            msgid = self.world.next_msgid()
            push = message(
                account, openid, self.world.now(), "text", Content=action.text, MsgId=msgid
            )
        return self._send(action, user, push)

    # -- Mini Program actions -----------------------------------------------------------------

    def _mp_user(self, action: Action) -> tuple[Account, SimUser, str]:
        account = self.world.account(action.appid)
        if not account.is_mp:
            raise ActionRefused(f"{action.appid} is not a Mini Program")
        user = self.world.user(action.uid)
        return account, user, self.world.openid(user, account.appid)

    def enter_chat(self, action: Action) -> Outcome:
        with self.world.lock:
            account, user, openid = self._mp_user(action)
            open_grant(self.world, user, account.appid, "session")
            push = event(
                account, openid, self.world.now(), "user_enter_tempsession", SessionFrom=action.text
            )
        return self._send(action, user, push)

    def mp_login(self, action: Action) -> Outcome:
        """wx.login gives a code; the MP client sends it to siyu's session endpoint."""
        with self.world.lock:
            account, user, _ = self._mp_user(action)
            code = self.world.issue_code(user, account.appid, "login")
        outcome = self._call_siyu(action, "session", {"code": code})
        answer = outcome.data.get("response")
        token = answer.get("token") if outcome.ok and isinstance(answer, dict) else None
        if isinstance(token, str):
            with self.world.lock:
                user.mp_sessions[account.appid] = token
        return outcome

    def bind_phone(self, action: Action) -> Outcome:
        """getPhoneNumber: the MP client sends the code to siyu with its session token."""
        with self.world.lock:
            account, user, _ = self._mp_user(action)
            token = user.mp_sessions.get(account.appid)
            if token is None:
                raise ActionRefused(
                    "the user has no siyu session in this Mini Program: log in first"
                )
            code = self.world.issue_code(user, account.appid, "phone")
        headers = {"Authorization": f"Bearer {token}"}
        return self._call_siyu(action, "phone", {"code": code}, headers)

    def _call_siyu(
        self,
        action: Action,
        endpoint: str,
        body: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> Outcome:
        """The MP client calling siyu's `/api/mp/{appid}/{endpoint}`."""
        base = action.siyu_url or self.siyu_url
        if not base:
            raise ActionRefused("no siyu URL for the Mini Program client")
        url = f"{base.rstrip('/')}/api/mp/{action.appid}/{endpoint}"
        try:
            response = self.http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return self._outcome(action, False, error=f"{type(exc).__name__}: {exc}")
        answer = _json_or_text(response)
        return self._outcome(
            action, response.is_success, status=response.status_code, data={"response": answer}
        )

    def phone_code(self, action: Action) -> Outcome:
        """The user taps getPhoneNumber: a single-use code for `getuserphonenumber`."""
        with self.world.lock:
            account, user, _ = self._mp_user(action)
            code = self.world.issue_code(user, account.appid, "phone")
        return self._outcome(action, True, data={"code": code})

    def accept_subscribe(self, action: Action) -> Outcome:
        """The subscribe prompt: each accepted template gives one one-time credit."""
        with self.world.lock:
            account, user, openid = self._mp_user(action)
            for template_id in [*action.template_ids, *action.rejected]:
                if template_id not in account.templates:
                    raise ActionRefused(f"unknown template {template_id}")
            for template_id in action.template_ids:
                key = (account.appid, template_id)
                user.credits[key] = user.credits.get(key, 0) + 1
            listed = [(t, "accept") for t in action.template_ids] + [
                (t, "reject") for t in action.rejected
            ]
            items = [
                {"TemplateId": t, "SubscribeStatusString": s, "PopupScene": "0"} for t, s in listed
            ]
            now = self.world.now()
            push = event(
                account,
                openid,
                now,
                "subscribe_msg_popup_event",
                visible=False,
                SubscribeMsgPopupEvent=items,
            )
        return self._send(action, user, push)

    def share(self, action: Action) -> Outcome:
        """A share into a group: WeChat pushes nothing; the card carries a shareTicket."""
        with self.world.lock:
            account, user, openid = self._mp_user(action)
            share = {
                "uid": user.uid,
                "openid": openid,
                "path": action.path,
                "opengid": "tG" + b64id(secrets.token_bytes(20))[:26],
                "share_ticket": b64id(secrets.token_bytes(24)),
                "at": self.world.now().isoformat(),
            }
            account.shares.append(share)
        return self._outcome(action, True, data=share)

    def pay(self, action: Action) -> Outcome:
        """The MP asks siyu for wx.requestPayment's parameters; the user pays or closes it."""
        with self.world.lock:
            account, user, openid = self._mp_user(action)
            token = user.mp_sessions.get(account.appid)
        if token is None:
            raise ActionRefused("the user has no siyu session in this Mini Program: log in first")
        endpoint = (
            f"pay/orders/{action.out_trade_no}/payment" if action.out_trade_no else "pay/demo-order"
        )
        asked = self._call_siyu(action, endpoint, {}, {"Authorization": f"Bearer {token}"})
        params = asked.data.get("response")
        if not asked.ok or not isinstance(params, dict):
            return asked
        if action.kind == "abandon_payment":
            return self._outcome(action, True, data={"params": params, "paid": False})
        try:
            notification = self.pay_world.pay(openid, {k: str(v) for k, v in params.items()})
        except PayError as exc:
            return self._outcome(action, False, error=f"{exc.code}: {exc.message}")
        delivered = self.pay_world.deliver(notification)
        return self._outcome(
            action,
            True,
            attempts=1,
            data={"params": params, "paid": True, "acknowledged": delivered},
        )

    def _session(self, action: Action) -> tuple[str, dict[str, str]]:
        with self.world.lock:
            account, user, openid = self._mp_user(action)
            token = user.mp_sessions.get(account.appid)
        if token is None:
            raise ActionRefused("the user has no siyu session in this Mini Program: log in first")
        return openid, {"Authorization": f"Bearer {token}"}

    def _open_activity(self, action: Action, headers: dict[str, str]) -> int:
        """The Mini Program's activity list (siyu's `GET /api/mp/{appid}/activities`): the
        latest activity open for enrollment."""
        base = action.siyu_url or self.siyu_url
        if not base:
            raise ActionRefused("no siyu URL for the Mini Program client")
        url = f"{base.rstrip('/')}/api/mp/{action.appid}/activities"
        try:
            response = self.http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise ActionRefused(f"{type(exc).__name__}: {exc}") from exc
        listed = _json_or_text(response)
        if not response.is_success or not isinstance(listed, list) or not listed:
            raise ActionRefused("no activity is open for enrollment")
        return int(listed[-1]["id"])

    def enroll(self, action: Action) -> Outcome:
        """The member enrolls in the open activity; when money is due, siyu answers with
        wx.requestPayment's parameters and the user pays through the sandbox's Pay."""
        openid, headers = self._session(action)
        activity_id = self._open_activity(action, headers)
        asked = self._call_siyu(
            action,
            f"activities/{activity_id}/enrollments",
            {"channel": action.channel} if action.channel else {},
            headers,
        )
        answer = asked.data.get("response")
        if not asked.ok or not isinstance(answer, dict):
            return asked
        params = answer.get("payment")
        if not isinstance(params, dict):  # free, or waitlisted: nothing to pay
            return self._outcome(action, True, data={"enrollment": answer.get("enrollment")})
        try:
            notification = self.pay_world.pay(openid, {k: str(v) for k, v in params.items()})
        except PayError as exc:
            return self._outcome(action, False, error=f"{exc.code}: {exc.message}")
        delivered = self.pay_world.deliver(notification)
        return self._outcome(
            action, True, data={"activity_id": activity_id, "paid": True, "acknowledged": delivered}
        )

    def check_in(self, action: Action) -> Outcome:
        """Today's check-in in the open activity (multipart `text`, as the Mini Program's
        wx.uploadFile sends it); siyu takes one per member per day inside the window."""
        _openid, headers = self._session(action)
        activity_id = self._open_activity(action, headers)
        base = str(action.siyu_url or self.siyu_url)
        url = f"{base.rstrip('/')}/api/mp/{action.appid}/activities/{activity_id}/checkins"
        try:
            response = self.http.post(
                url,
                data={"text": action.text or "今天背完了"},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            return self._outcome(action, False, error=f"{type(exc).__name__}: {exc}")
        return self._outcome(
            action,
            response.is_success,
            status=response.status_code,
            data={"response": _json_or_text(response)},
        )

    # -- delivery --------------------------------------------------------------------------

    def _send(self, action: Action, user: SimUser, push: Push) -> Outcome:
        delivery = self.pusher.deliver(push)
        reply = settle(self.world, user, push, delivery)
        reason = delivery.reply.reason if delivery.reply is not None else ""
        return self._outcome(
            action,
            delivery.ok,
            attempts=delivery.attempts,
            status=delivery.status,
            reply=reply,
            error=delivery.error or reason or None,
        )

    @staticmethod
    def _outcome(action: Action, ok: bool, **fields: Any) -> Outcome:
        return Outcome(kind=action.kind, uid=action.uid, appid=action.appid, ok=ok, **fields)


def settle(
    world: SandboxWorld, user: SimUser, push: Push, delivery: Delivery
) -> dict[str, Any] | None:
    """Put what the user saw into the inbox: the passive reply, or WeChat's error notice."""
    appid = push.account.appid
    reply = delivery.reply
    if reply is not None and reply.kind == "message":
        msgtype = str(reply.message["MsgType"])
        content = {k: v for k, v in reply.message.items() if k not in ENVELOPE_KEYS}
        if msgtype != "transfer_customer_service":  # handed to an agent: nothing shown yet
            world.deliver(user, appid, "passive_reply", msgtype, content)
        return reply.message
    attempted = delivery.attempts > 0
    if push.user_visible and attempted and (reply is None or reply.kind == "invalid"):
        world.deliver(user, appid, "system", "text", {"Content": UNAVAILABLE})
    return None


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
