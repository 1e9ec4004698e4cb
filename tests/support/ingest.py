"""The same event lines imported two ways, and everything the import decided, by member
number and app role rather than by database id: to compare the fast path with
`resolve_member` one by one."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from siyu.core.db import Database
from siyu.identity.models import Identity, Member, MemberMerge, MergeConflict, TimelineEvent
from siyu.identity.schemas import IngestReport
from siyu.identity.service.importer import EventImport, chunked, pipelined_import, read_lines
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppCreate
from tests.support.names import openid

FAST_MP = "wx1111111111111111"
FAST_OA = "wx2222222222222222"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _line(app: str, n: int, **fields: Any) -> dict[str, Any]:
    event = "mp.page_view" if app == "MP" else "oa.message"
    ts = (T0 + timedelta(minutes=n)).isoformat()
    return {"event": event, "ts": ts, "appid": app, "props": {"n": n}} | {
        k: v for k, v in fields.items() if v is not None
    }


def scenario(seed: int = 7) -> list[dict[str, Any]]:
    """Lines naming the apps "MP" and "OA": a scripted start (read in chunks of 10 lines),
    then a seeded mix over a small pool of people, so that keys collide often."""
    a, b, c, d = openid(1), openid(2), openid(3), openid(4)
    ua, ub = openid(1, "u"), openid(2, "u")
    phone, other_phone = "13800000001", "13900000002"
    lines = [
        # chunk 1: A without UnionID; B with a phone; C with UnionID on both apps
        _line("MP", 1, openid=a),
        _line("MP", 2, openid=b, phone=phone),
        _line("MP", 3, openid=c, unionid=ub),
        _line("OA", 4, openid=c, unionid=ub),
        _line("MP", 5, openid=b),
        _line("MP", 6, event="not.canonical", openid=d),
        _line("MP", 7, openid=a),
        {"event": "mp.login"},
        _line("OA", 9, openid=d),
        _line("MP", 10, openid=d, unionid=ub, phone=other_phone),  # an openid of C's UnionID
        # chunk 2: E first without, later with a UnionID; F new with B's phone; A gains ua
        _line("MP", 11, openid=openid(5)),
        _line("MP", 12, openid=openid(5), phone="13700000003"),
        _line("MP", 13, openid=openid(6), phone=phone),  # a phone already owned by B
        _line("MP", 14, openid=openid(5), unionid=openid(5, "u")),
        _line("MP", 15, openid=a, unionid=ua),
        _line("OA", 16, openid=openid(7), unionid=ua),
        _line("OA", 17, openid=c, unionid=ua),  # C has UnionID ub: a mismatch
        _line("MP", 18, openid=openid(8), unionid=openid(8, "u")),
        _line("MP", 19, openid=openid(8)),
        _line("OA", 20, openid=openid(9), phone=phone),  # B's phone again, another app
    ]
    rng = random.Random(seed)
    phones = [f"13{n:09d}" for n in range(12)]
    for n in range(21, 1500):
        person = rng.randrange(60)
        app = "MP" if rng.random() < 0.6 else "OA"
        oid = openid(person if app == "MP" else 100 + person)
        unionid = openid(person % 45, "u") if person % 3 and rng.random() < 0.8 else None
        if rng.random() < 0.02:
            unionid = openid(rng.randrange(45), "u")  # a wrong UnionID now and then
        phone_n = phones[person % 12] if person % 4 == 0 and rng.random() < 0.3 else None
        external = f"ext-{person}" if app == "MP" and rng.random() < 0.05 else None
        lines.append(
            _line(app, n, openid=oid, unionid=unionid, phone=phone_n, external_id=external)
        )
    return lines


def jsonl(lines: list[dict[str, Any]], mp: str, oa: str) -> list[bytes]:
    names = {"MP": mp, "OA": oa}
    return [
        orjson.dumps({**line, "appid": names.get(line.get("appid", ""), "x")}) + b"\n"
        for line in lines
    ]


def import_lines(
    db: Database, workspace_id: int, data: list[bytes], *, fast: bool, chunk: int = 10
) -> IngestReport:
    importer = EventImport(workspace_id, fast=fast)
    for lines in chunked(read_lines(data), chunk):
        with db.session_scope() as session:
            importer.import_chunk(session, lines)
    return importer.report


def import_pipelined(
    db: Database, workspace_id: int, data: list[bytes], *, chunk: int = 10
) -> IngestReport:
    """As the CLI and the upload job import: events written beside the next chunk."""
    with pipelined_import(db, workspace_id) as importer:
        for lines in chunked(read_lines(data), chunk):
            with db.session_scope() as session:
                importer.import_chunk(session, lines)
    return importer.report


def snapshot(
    db: Database, workspace_id: int, report: IngestReport, apps: dict[str, str]
) -> dict[str, Any]:
    """Everything the import decided, by member number and app role (not by database id)."""
    with db.session_scope() as session:
        members = session.scalars(select(Member).where(Member.workspace_id == workspace_id)).all()
        number = {m.id: m.number for m in members}
        status = {
            m.number: (m.status, number.get(m.merged_into_id or 0), m.attributes) for m in members
        }
        identities = sorted(
            (number[i.member_id], i.kind, apps.get(i.scope, i.scope), i.value, i.secret)
            for i in session.scalars(select(Identity).where(Identity.workspace_id == workspace_id))
        )
        events = Counter(
            (
                number[e.member_id],
                number[e.origin_member_id],
                e.name,
                e.ts,
                e.channel,
                orjson.dumps(e.props),
            )
            for e in session.scalars(
                select(TimelineEvent).where(TimelineEvent.workspace_id == workspace_id)
            )
        )
        merges = sorted(
            (
                number[m.survivor_id],
                number[m.merged_id],
                m.reason,
                len(m.moved_identity_ids),
                str({k: apps.get(v, v) for k, v in m.evidence.items()}),
            )
            for m in session.scalars(
                select(MemberMerge).where(MemberMerge.workspace_id == workspace_id)
            )
        )
        conflicts = sorted(
            (
                number[c.member_a_id],
                number[c.member_b_id],
                c.reason,
                c.status,
                str({k: apps.get(v, v) for k, v in c.evidence.items()}),
            )
            for c in session.scalars(
                select(MergeConflict).where(MergeConflict.workspace_id == workspace_id)
            )
        )
    return {
        "members": status,
        "identities": identities,
        "events": events,
        "merges": merges,
        "conflicts": conflicts,
        "accepted": report.accepted,
        "created": report.members_created,
        "rejected": [(r.line, r.code) for r in report.rejected],
    }


def make_fast_workspace(db: Database) -> int:
    with db.session_scope() as session:
        workspace_id = workspaces.create_workspace(session, "快速").id
        workspaces.add_app(
            session, workspace_id, AppCreate(kind=AppKind.mp, appid=FAST_MP, name="小程序")
        )
        workspaces.add_app(
            session, workspace_id, AppCreate(kind=AppKind.oa_service, appid=FAST_OA, name="服务号")
        )
    return workspace_id
