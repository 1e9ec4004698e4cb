"""The sandbox's fault switch (`/sandbox-admin/faults`): WeChat answering -1 or 45009, an HTTP
502 page, or holding calls past the caller's timeout, until the outage is ended."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from siyu.sandbox.world import AccountSpec, SandboxWorld
from tests.support.sandbox import OA, SECRET, Sandbox

TOKEN = {"grant_type": "client_credential", "appid": OA, "secret": SECRET}


def _token(client: Any) -> httpx.Response:
    answer: httpx.Response = client.get("/cgi-bin/token", params=TOKEN)
    return answer


@pytest.mark.parametrize("errcode", [-1, 45009])
def test_an_errcode_outage_answers_wechats_error_until_it_ends(
    sandbox: Sandbox, errcode: int
) -> None:
    # given an outage of /cgi-bin/ answering `errcode`
    fault = sandbox.client.post(
        "/sandbox-admin/faults", json={"prefix": "/cgi-bin/", "errcode": errcode}
    ).json()
    # when siyu asks for a token twice
    answers = [_token(sandbox.client) for _ in range(2)]
    # then WeChat's error body comes back with HTTP 200, and the outage counted both calls
    assert [(a.status_code, a.json()["errcode"]) for a in answers] == [(200, errcode)] * 2
    assert "access_token" not in answers[0].json()
    listed = sandbox.client.get("/sandbox-admin/faults").json()
    assert [(f["id"], f["calls"]) for f in listed] == [(fault["id"], 2)]
    # when it ends, calls go through again and no outage is left
    ended = sandbox.client.delete("/sandbox-admin/faults", params={"id": fault["id"]}).json()
    assert [f["calls"] for f in ended] == [2]
    assert "access_token" in _token(sandbox.client).json()
    assert sandbox.client.get("/sandbox-admin/faults").json() == []


def test_an_http_outage_answers_a_gateway_page_without_errcode(sandbox: Sandbox) -> None:
    # given WeChat's front end answering 502 for the user API only
    sandbox.client.post(
        "/sandbox-admin/faults", json={"prefix": "/cgi-bin/user/", "kind": "http", "status": 502}
    )
    # when siyu calls it, and the token endpoint beside it
    answer = sandbox.client.get("/cgi-bin/user/info", params={"openid": "x"})
    # then the user API is a 502 HTML page; the token endpoint is untouched
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in answer.text
    assert "access_token" in _token(sandbox.client).json()
    sandbox.client.delete("/sandbox-admin/faults")


def test_ending_an_unknown_fault_is_a_404_and_ends_nothing(sandbox: Sandbox) -> None:
    sandbox.client.post("/sandbox-admin/faults", json={"prefix": "/cgi-bin/"})
    assert sandbox.client.delete("/sandbox-admin/faults", params={"id": "nope"}).status_code == 404
    assert len(sandbox.client.get("/sandbox-admin/faults").json()) == 1


def test_a_timeout_outage_holds_calls_past_the_callers_timeout(
    sandbox_server: tuple[FastAPI, str],
) -> None:
    # given a real sandbox server whose token endpoint holds calls for 60 s, then lets them
    # through (WeChat did the work, late)
    app, url = sandbox_server
    world = app.state.world = SandboxWorld()
    world.register(AccountSpec(appid=OA, secret=SECRET, kind="oa_service"))
    with httpx.Client(base_url=url, timeout=30) as admin:
        admin.post(
            "/sandbox-admin/faults",
            json={"prefix": "/cgi-bin/token", "kind": "timeout", "seconds": 60, "proceed": True},
        ).raise_for_status()
        # when a caller with a short timeout asks, and a patient one asks beside it
        with httpx.Client(base_url=url, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
            _token(impatient)
        patient: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: patient.append(_token(admin)))
        thread.start()
        held = [f["calls"] for f in admin.get("/sandbox-admin/faults").json()]
        # then the admin API still answers while calls are held; ending the outage lets the
        # patient caller through with a token well before the 60 s
        admin.delete("/sandbox-admin/faults").raise_for_status()
        thread.join(20)
    assert not thread.is_alive()
    assert held[0] >= 1  # the impatient call at least
    assert "access_token" in patient[0].json()
