"""A community campaign against the sandbox's WeChat Pay: one staff client (an owner's API
token) and Mini Program sessions for sandbox users, who enroll, pay and check in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from pydantic import SecretStr

from siyu.identity import service as identity
from siyu.identity.schemas import PersonRef
from siyu.wechat import mp
from siyu.wechat.schemas import Code2Session
from tests.support.names import MP_APPID
from tests.support.pay import PayEnv

SESSION_KEY = "MTIzNDU2Nzg5MGFiY2RlZg=="  # base64 of 16 bytes, as WeChat's session_key
# Beijing 10:00 on these days is 02:00 UTC; the frozen clock starts on 2026-11-20.
START, END = "2026-11-21", "2026-11-23"


def beijing(day: str, hour: int = 10, minute: int = 0) -> datetime:
    d = datetime.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@dataclass
class Member:
    member_id: int
    openid: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Campaign:
    env: PayEnv
    staff: TestClient

    def at(self, when: datetime) -> None:
        self.env.clock.advance(when - self.env.clock.now())

    def member(self, index: int = 0) -> Member:
        """A sandbox user logged in to the Mini Program (index 0 is pay_env's payer)."""
        env = self.env
        if index == 0:
            openid = env.openid
        else:
            user = env.world.create_users(1, seed=100 + index)[0]
            openid = env.world.openid(user, MP_APPID)
        with env.db.session_scope() as session:
            if index:
                identity.resolve_member(session, env.app, PersonRef(appid=MP_APPID, openid=openid))
            issued = mp.open_session(
                session,
                env.app,
                Code2Session(openid=openid, session_key=SecretStr(SESSION_KEY)),
                24 * 30,
            )
            token = issued.token
            member_id = mp.authenticate(session, MP_APPID, f"Bearer {token}").member_id
        return Member(member_id, openid, token)

    def theme_series(self) -> int:
        theme = self.staff.post("/api/community/themes", json={"name": "英语"}).json()
        series = self.staff.post(
            "/api/community/series", json={"theme_id": theme["id"], "name": "21 天词汇"}
        ).json()
        return int(series["id"])

    def activity(self, series_id: int | None = None, **fields: Any) -> dict[str, Any]:
        response = self.staff.post(
            "/api/community/activities", json=self.activity_body(series_id, **fields)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def activity_body(self, series_id: int | None = None, **fields: Any) -> dict[str, Any]:
        """What the staff API is sent for an activity (the one `activity` makes by default)."""
        return {
            "series_id": series_id or self.theme_series(),
            "code": "VOC1",
            "title": "词汇打卡第一期",
            "starts_on": START,
            "ends_on": END,
            "fee": 0,
            "deposit": 990,
            "checkin_days_required": 3,
            "window_start": "06:00",
            "window_end": "23:00",
            "evidence": "either",
            "refund_rule": "proportional",
            "status": "open",
            **fields,
        }

    def enroll(
        self, member: Member, activity_id: int, channel: str | None = None
    ) -> httpx2.Response:
        return self.env.client.post(
            f"/api/mp/{MP_APPID}/activities/{activity_id}/enrollments",
            json={"channel": channel},
            headers=member.headers,
        )

    def pay(self, member: Member, answer: dict[str, Any], *, deliver: bool = True) -> Any:
        params = {k: v for k, v in answer["payment"].items() if k != "out_trade_no"}
        notification = self.env.pay.pay(member.openid, params)
        if deliver:
            assert self.env.pay.deliver(notification)
        return notification

    def enrolled(self, member: Member, activity_id: int, channel: str | None = None) -> None:
        answer = self.enroll(member, activity_id, channel)
        assert answer.status_code == 200, answer.text
        self.pay(member, answer.json())

    def check_in(
        self, member: Member, activity_id: int, text: str | None = "今天背了 50 个词", **files: Any
    ) -> httpx2.Response:
        data = {"text": text} if text is not None else {}
        return self.env.client.post(
            f"/api/mp/{MP_APPID}/activities/{activity_id}/checkins",
            data=data,
            files=files or None,
            headers=member.headers,
        )
