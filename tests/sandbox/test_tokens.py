"""Access tokens: classic and stable, their lifetimes, overlaps, quotas and refusals (§2.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.sandbox.errors import WeChatError
from siyu.sandbox.world import CLASSIC_TOKENS_PER_DAY
from tests.support.sandbox import MP, OA, SECRET, Sandbox


def classic(sb: Sandbox, appid: str = OA, secret: str = SECRET) -> dict[str, object]:
    params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    return sb.client.get("/cgi-bin/token", params=params).json()  # type: ignore[no-any-return]


def stable(sb: Sandbox, force: bool = False, appid: str = OA) -> dict[str, object]:
    body = {
        "grant_type": "client_credential",
        "appid": appid,
        "secret": SECRET,
        "force_refresh": force,
    }
    return sb.client.post("/cgi-bin/stable_token", json=body).json()  # type: ignore[no-any-return]


def errcode(sb: Sandbox, token: object) -> int:
    """What a token-protected call answers: 0 when the token is accepted."""
    answer = sb.client.get(
        "/cgi-bin/get_current_selfmenu_info", params={"access_token": str(token)}
    )
    return int(answer.json().get("errcode", 0))


def test_classic_token_lives_7200_seconds(sandbox: Sandbox) -> None:
    # given a fresh classic token
    answer = classic(sandbox)
    # then it lives 2 hours, and is refused as expired after that
    assert answer["expires_in"] == 7200
    sandbox.clock.advance(timedelta(seconds=7199))
    assert errcode(sandbox, answer["access_token"]) == 0
    sandbox.clock.advance(timedelta(seconds=1))
    assert errcode(sandbox, answer["access_token"]) == 42001


def test_a_new_classic_token_retires_the_old_one_after_five_minutes(sandbox: Sandbox) -> None:
    # given a token, then a second fetch
    old = classic(sandbox)["access_token"]
    new = classic(sandbox)["access_token"]
    assert old != new
    # then both work for 5 minutes, then only the new one ("not latest" is 40001)
    sandbox.clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert errcode(sandbox, old) == 0
    sandbox.clock.advance(timedelta(seconds=1))
    assert errcode(sandbox, old) == 40001
    assert errcode(sandbox, new) == 0


def test_token_refusals(sandbox: Sandbox) -> None:
    # when the token is missing, malformed or unknown
    assert errcode(sandbox, "") == 41001
    assert errcode(sandbox, "not a token") == 40014
    assert errcode(sandbox, "12_" + "x" * 60) == 40001


def test_credentials_are_checked(sandbox: Sandbox) -> None:
    assert classic(sandbox, secret="f" * 32)["errcode"] == 40001  # well-formed, wrong
    assert classic(sandbox, secret="short")["errcode"] == 40125  # not even a secret
    assert classic(sandbox, appid="wx0000000000000000")["errcode"] == 40013
    bad_grant = {"grant_type": "password", "appid": OA, "secret": SECRET}
    assert sandbox.client.get("/cgi-bin/token", params=bad_grant).json()["errcode"] == 40002
    no_secret = {"grant_type": "client_credential", "appid": OA}
    assert sandbox.client.get("/cgi-bin/token", params=no_secret).json()["errcode"] == 41004


def test_classic_tokens_have_a_daily_quota(sandbox: Sandbox) -> None:
    # given the day's 2000 fetches used
    for _ in range(CLASSIC_TOKENS_PER_DAY):
        sandbox.world.classic_token(OA, SECRET)
    # then the next is refused until midnight Beijing time
    with pytest.raises(WeChatError) as refused:
        sandbox.world.classic_token(OA, SECRET)
    assert refused.value.errcode == 45009
    sandbox.clock.advance(timedelta(days=1))
    assert "access_token" in classic(sandbox)


def test_stable_token_is_stable_and_renewed_five_minutes_early(sandbox: Sandbox) -> None:
    # given a stable token
    first = stable(sandbox)
    assert first["expires_in"] == 7200
    # then it comes back unchanged, counting down, while 300 s or more remain
    sandbox.clock.advance(timedelta(seconds=7200 - 300))
    again = stable(sandbox)
    assert again == {"access_token": first["access_token"], "expires_in": 300}
    # and a call with less left gets a new token while the old one still works
    sandbox.clock.advance(timedelta(seconds=1))
    renewed = stable(sandbox)
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expires_in"] == 7200
    assert errcode(sandbox, first["access_token"]) == 0


def test_stable_and_classic_tokens_are_isolated(sandbox: Sandbox) -> None:
    token = stable(sandbox)["access_token"]
    classic(sandbox)
    classic(sandbox)
    sandbox.clock.advance(timedelta(minutes=10))
    assert errcode(sandbox, token) == 0
    assert stable(sandbox)["access_token"] == token


def test_force_refresh_kills_the_old_token_at_once(sandbox: Sandbox) -> None:
    old = stable(sandbox)["access_token"]
    sandbox.clock.advance(timedelta(seconds=30))
    new = stable(sandbox, force=True)["access_token"]
    assert new != old
    assert errcode(sandbox, old) == 40001
    assert errcode(sandbox, new) == 0


def test_force_refresh_within_30_seconds_does_not_refresh(sandbox: Sandbox) -> None:
    first = stable(sandbox, force=True)["access_token"]
    sandbox.clock.advance(timedelta(seconds=29))
    assert stable(sandbox, force=True)["access_token"] == first
    sandbox.clock.advance(timedelta(seconds=1))
    assert stable(sandbox, force=True)["access_token"] != first


def test_force_refresh_is_limited_to_20_a_day(sandbox: Sandbox) -> None:
    for _ in range(20):
        assert "access_token" in stable(sandbox, force=True)
        sandbox.clock.advance(timedelta(seconds=30))
    assert stable(sandbox, force=True)["errcode"] == 45009
    assert "access_token" in stable(sandbox)  # normal mode is not affected
    sandbox.clock.advance(timedelta(days=1))
    assert "access_token" in stable(sandbox, force=True)


def test_stable_token_refusals(sandbox: Sandbox) -> None:
    body = {"grant_type": "client_credential", "appid": MP, "secret": "e" * 32}
    assert sandbox.client.post("/cgi-bin/stable_token", json=body).json()["errcode"] == 40001
    assert sandbox.client.post("/cgi-bin/stable_token", content=b"").json()["errcode"] == 44002
    assert sandbox.client.post("/cgi-bin/stable_token", content=b"{").json()["errcode"] == 47001
    answer = sandbox.client.post("/cgi-bin/stable_token", json={"grant_type": "client_credential"})
    assert answer.json()["errcode"] == 41002
