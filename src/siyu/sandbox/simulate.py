"""A reproducible scenario of simulated users over days: follows, messages, clicks, MP logins."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from siyu.core import clock
from siyu.sandbox.admin import account_view
from siyu.sandbox.rules import KEY_TYPES
from siyu.sandbox.users import Action, Outcome, Population
from siyu.sandbox.world import Account, SandboxWorld

Progress = Callable[[int, int], None]
TEXTS = ["你好", "怎么报名？", "今天打卡了", "有优惠券吗", "课程什么时候开始", "谢谢", "人工客服"]

# Daily odds of each action, tuned so a week of 50 users gives a lively but plausible console.
P_JOIN = 0.35  # a user not yet following follows today
P_VIA_QR = 0.7
P_TEXT = 0.25
P_CLICK = 0.2
P_SCAN = 0.03
P_UNFOLLOW = 0.015
P_MP_LOGIN = 0.35
P_BIND_PHONE = 0.3  # a logged-in user shares the phone number, once
P_SUBSCRIBE = 0.08
P_SHARE = 0.04
P_CHECKOUT = 0.06  # a logged-in user opens the demo checkout…
P_ABANDON = 0.3  # …and closes the payment sheet instead of paying
# With `campaign`: a logged-in user enrolls in the open activity (paying its deposit), and an
# enrolled one checks in on the scenario's last day (siyu takes a check-in for its own today).
P_ENROLL = 0.3
P_CHECKIN = 0.8
CHANNELS = ("poster", "group", "friend", "oa_menu")
CHECKIN_TEXTS = ["今天背了 50 个单词", "打卡！", "复习了昨天的词", "完成今日任务"]


@dataclass(frozen=True)
class Landscape:
    """What the scenario can use: the registered apps, their menu keys, live QR codes, templates."""

    oa: list[str]
    mp: list[str]
    menu_keys: dict[str, list[str]] = field(default_factory=dict)
    tickets: dict[str, list[str]] = field(default_factory=dict)
    templates: dict[str, list[str]] = field(default_factory=dict)
    campaign: bool = False  # enroll in siyu's open activity and check in


def landscape_of(
    accounts: list[dict[str, Any]], now: datetime, *, campaign: bool = False
) -> Landscape:
    """From `/sandbox-admin/accounts` views (or the same shape built locally)."""
    oa = [a["appid"] for a in accounts if a["kind"] != "mp"]
    mp = [a["appid"] for a in accounts if a["kind"] == "mp"]
    keys = {a["appid"]: _click_keys(a.get("menu") or []) for a in accounts}
    tickets = {
        a["appid"]: [
            q["ticket"]
            for q in a.get("qrcodes", [])
            if q["expires_at"] is None or datetime.fromisoformat(q["expires_at"]) > now
        ]
        for a in accounts
    }
    templates = {
        a["appid"]: [t["template_id"] for t in a.get("templates", [])] for a in mp_views(accounts)
    }
    return Landscape(oa, mp, keys, tickets, templates, campaign)


def mp_views(accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in accounts if a["kind"] == "mp"]


def _click_keys(menu: list[dict[str, Any]]) -> list[str]:
    buttons = [b for top in menu for b in [top, *(top.get("sub_button") or [])]]
    return [b["key"] for b in buttons if b.get("type") in KEY_TYPES and b.get("key")]


@dataclass
class _Person:
    uid: str
    follows: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)
    logged_in: set[str] = field(default_factory=set)
    phoned: set[str] = field(default_factory=set)
    enrolled: set[str] = field(default_factory=set)


def plan(
    uids: list[str], days: int, land: Landscape, start: datetime, *, seed: int, siyu_url: str | None
) -> list[Action]:
    """Every action of the scenario, in time order; the same inputs give the same plan."""
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios, not secrets
    people = [_Person(uid) for uid in uids]
    actions: list[Action] = []
    for day in range(days):
        today: list[Action] = []
        for person in people:
            if land.campaign:  # before the day's own actions: logged in on an earlier day
                today += _campaign_day(person, land, rng, siyu_url, last=day == days - 1)
            today += _day_of(person, land, rng, siyu_url)
        for action in today:
            action.at = start + timedelta(days=day, seconds=rng.randrange(86_400))
        actions += sorted(today, key=lambda a: a.at or start)
    return actions


def _day_of(person: _Person, land: Landscape, rng: random.Random, siyu: str | None) -> list[Action]:
    acts: list[Action] = []
    for oa in land.oa:
        acts += _oa_day(person, oa, land, rng)
    for mp in land.mp:
        if not land.oa or person.follows or rng.random() < 0.1:
            acts += _mp_day(person, mp, land, rng, siyu)
    return acts


def _oa_day(person: _Person, oa: str, land: Landscape, rng: random.Random) -> list[Action]:
    uid, tickets, keys = person.uid, land.tickets.get(oa, []), land.menu_keys.get(oa, [])
    if oa in person.left:
        return []
    if oa not in person.follows:
        if rng.random() >= P_JOIN:
            return []
        person.follows.add(oa)
        ticket = rng.choice(tickets) if tickets and rng.random() < P_VIA_QR else ""
        return [Action(kind="follow", uid=uid, appid=oa, ticket=ticket)]
    acts = []
    if rng.random() < P_TEXT:
        acts.append(Action(kind="text", uid=uid, appid=oa, text=rng.choice(TEXTS)))
    if keys and rng.random() < P_CLICK:
        acts.append(Action(kind="click", uid=uid, appid=oa, key=rng.choice(keys)))
    if tickets and rng.random() < P_SCAN:
        acts.append(Action(kind="scan", uid=uid, appid=oa, ticket=rng.choice(tickets)))
    if rng.random() < P_UNFOLLOW:
        person.follows.discard(oa)
        person.left.add(oa)
        acts = [Action(kind="unfollow", uid=uid, appid=oa)]
    return acts


def _mp_day(
    person: _Person, mp: str, land: Landscape, rng: random.Random, siyu: str | None
) -> list[Action]:
    uid, acts = person.uid, []
    if siyu and rng.random() < P_MP_LOGIN:
        acts.append(Action(kind="mp_login", uid=uid, appid=mp, siyu_url=siyu))
        person.logged_in.add(mp)
    elif mp in person.logged_in and mp not in person.phoned and rng.random() < P_BIND_PHONE:
        acts.append(Action(kind="bind_phone", uid=uid, appid=mp, siyu_url=siyu))
        person.phoned.add(mp)
    templates = land.templates.get(mp, [])
    if templates and rng.random() < P_SUBSCRIBE:
        acts.append(
            Action(kind="accept_subscribe", uid=uid, appid=mp, template_ids=[rng.choice(templates)])
        )
    if rng.random() < P_SHARE:
        acts.append(Action(kind="share", uid=uid, appid=mp))
    if siyu and mp in person.logged_in and rng.random() < P_CHECKOUT:
        kind = "abandon_payment" if rng.random() < P_ABANDON else "pay"
        acts.append(Action(kind=kind, uid=uid, appid=mp, siyu_url=siyu))
    return acts


def _campaign_day(
    person: _Person, land: Landscape, rng: random.Random, siyu: str | None, *, last: bool
) -> list[Action]:
    uid, acts = person.uid, []
    for mp in land.mp:
        if not siyu or mp not in person.logged_in:
            continue
        if mp in person.enrolled and last and rng.random() < P_CHECKIN:
            text = rng.choice(CHECKIN_TEXTS)
            acts.append(Action(kind="checkin", uid=uid, appid=mp, siyu_url=siyu, text=text))
        elif mp not in person.enrolled and rng.random() < P_ENROLL:
            channel = rng.choice(CHANNELS)
            acts.append(Action(kind="enroll", uid=uid, appid=mp, siyu_url=siyu, channel=channel))
            person.enrolled.add(mp)
    return acts


@dataclass
class Summary:
    actions: int = 0
    ok: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.actions += 1
        self.by_kind[outcome.kind] += 1
        if outcome.ok:
            self.ok += 1
        else:
            self.failures.append(outcome)


class Actor(Protocol):
    """Where the scenario runs: in this process's world, or in a sandbox server over HTTP."""

    def accounts(self) -> list[dict[str, Any]]: ...
    def add_users(self, count: int, seed: int) -> list[str]: ...
    def perform(self, action: Action) -> Outcome: ...
    def finish(self) -> None: ...


class LocalActor:
    def __init__(self, world: SandboxWorld, population: Population) -> None:
        self.world, self.population = world, population

    def accounts(self) -> list[dict[str, Any]]:
        with self.world.lock:
            listed: list[Account] = list(self.world.accounts.values())
            return [account_view(a) for a in listed]

    def add_users(self, count: int, seed: int) -> list[str]:
        return [u.uid for u in self.world.create_users(count, seed)]

    def perform(self, action: Action) -> Outcome:
        return self.population.perform(action)

    def finish(self) -> None:
        self.world.set_time(None)


class RemoteActor:
    def __init__(self, sandbox_url: str, http: httpx.Client | None = None) -> None:
        self.base = sandbox_url.rstrip("/") + "/sandbox-admin"
        self._owned = http is None
        # One action may wait for 3 push attempts of 5 s each, then an MP login.
        self.http = http or httpx.Client(timeout=60)

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def accounts(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.base}/accounts")
        response.raise_for_status()
        listed: list[dict[str, Any]] = response.json()
        return listed

    def add_users(self, count: int, seed: int) -> list[str]:
        response = self.http.post(f"{self.base}/users", json={"count": count, "seed": seed})
        response.raise_for_status()
        return [u["uid"] for u in response.json()]

    def perform(self, action: Action) -> Outcome:
        response = self.http.post(f"{self.base}/actions", json=action.model_dump(mode="json"))
        response.raise_for_status()
        return Outcome.model_validate(response.json())

    def finish(self) -> None:
        self.http.put(f"{self.base}/clock", json={"at": None}).raise_for_status()


def run(
    actor: Actor,
    *,
    users: int,
    days: int,
    siyu_url: str | None,
    seed: int = 7,
    progress: Progress | None = None,
    backfill: bool = True,
    campaign: bool = False,
) -> Summary:
    """Play the scenario. With `backfill` the days end now (history for the console);
    without, every action happens at the present moment, one after another."""
    accounts = actor.accounts()
    if not accounts:
        raise ValueError("no accounts registered in the sandbox: register siyu's apps first")
    now = clock.now()
    land = landscape_of(accounts, now, campaign=campaign)
    uids = actor.add_users(users, seed)
    actions = plan(uids, days, land, now - timedelta(days=days), seed=seed, siyu_url=siyu_url)
    summary = Summary()
    try:
        for done, action in enumerate(actions, start=1):
            if not backfill:
                action.at = None
            summary.add(actor.perform(action))
            if progress is not None:
                progress(done, len(actions))
    finally:
        actor.finish()
    return summary


def simulate(
    world: SandboxWorld,
    users: int,
    days: int,
    siyu_url: str | None,
    progress: Progress | None = None,
    *,
    seed: int = 7,
    http: httpx.Client | None = None,
    backfill: bool = True,
) -> Summary:
    """Run the scenario on an in-process world (pushes still go to siyu over HTTP)."""
    population = Population(world, http=http, siyu_url=siyu_url)
    try:
        return run(
            LocalActor(world, population),
            users=users,
            days=days,
            siyu_url=siyu_url,
            seed=seed,
            progress=progress,
            backfill=backfill,
        )
    finally:
        if http is None:
            population.pusher.close()


def simulate_remote(
    sandbox_url: str,
    users: int,
    days: int,
    siyu_url: str | None,
    progress: Progress | None = None,
    *,
    seed: int = 7,
    backfill: bool = True,
    campaign: bool = False,
) -> Summary:
    """Run the scenario against a sandbox server (standalone, or mounted in siyu)."""
    actor = RemoteActor(sandbox_url)
    try:
        return run(
            actor,
            users=users,
            days=days,
            siyu_url=siyu_url,
            seed=seed,
            progress=progress,
            backfill=backfill,
            campaign=campaign,
        )
    finally:
        actor.close()
