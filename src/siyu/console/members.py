"""Console pages of members: search, the list as CSV, profile, erase, export, assign, tags,
timeline and undoing a merge."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from siyu.console import errors
from siyu.console.common import TIMELINE_PAGE, Merger, app_names, member_context
from siyu.console.timeline import channel_names, describe
from siyu.console.web import (
    ConsoleRoute,
    display_zone,
    error_response,
    is_htmx,
    render,
    settings_of,
    translator,
)
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Count, Id
from siyu.identity import service as identity
from siyu.identity.schemas import MemberProfileIn
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

MEMBERS_PAGE = 50
EXPORT_PAGE = 1000  # members per transaction of the CSV export
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Reader = Annotated[Principal, require(Permission.members_read)]
TimelineReader = Annotated[Principal, require(Permission.members_timeline)]


@router.get("/members")
def members_page(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    q: Annotated[str, Query(max_length=128)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    query = q.strip()
    with db.session_scope() as session:
        found = identity.find_members(
            session, principal, query=query or None, limit=MEMBERS_PAGE, offset=offset
        )
        apps = app_names(session, principal.workspace_id)
    members, more = found.members, found.more
    # One hit is the member the operator meant (an identity, or the one name that matches).
    if query and len(members) == 1 and offset == 0 and not is_htmx(request):
        return RedirectResponse(f"/members/{members[0].id}", status_code=303)
    context = {
        "active": "members",
        "members": members,
        "apps": apps,
        "q": query,
        "offset": offset,
        "more": more,
        "page_size": MEMBERS_PAGE,
    }
    name = "_member_results.html" if is_htmx(request) else "members.html"
    return render(request, name, context)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA) else text


@router.get("/members.csv")
def export_members(
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    q: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """The member list (or the search's members) as CSV for Excel: a UTF-8 BOM, 学号 first,
    the staff's name and remark for the member (decrypted, shown to every role that reads the
    profile, as the profile page does), times in Beijing, each member as this operator's role
    shows them; streamed one page per
    transaction, so a large workspace never sits in memory. Audited."""
    query = q.strip()
    tr = translator(request)
    zone = display_zone(settings_of(request))
    with db.session_scope() as session:
        identity.record_member_list_export(session, principal, query=query)
        apps = app_names(session, principal.workspace_id)
    columns = ("number", "name", "phone", "ids", "tags", "remark", "joined")
    header = [tr(f"members.csv.{name}") for name in columns]

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield "\ufeff" + buffer.getvalue()  # a BOM: Excel then reads the file as UTF-8
        before: int | None = None
        while True:
            with db.session_scope() as session:
                page = identity.member_list_page(
                    session, principal, query=query, before_number=before, limit=EXPORT_PAGE
                )
            if not page:
                return
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for listed in page:
                member = listed.member
                phones, ids = [], []
                for i in member.identities:
                    if i.kind == "phone":
                        phones.append(i.phone or i.phone_masked or "")
                        continue
                    shown = f"{apps.get(i.appid or '', i.appid or '')} {tr.label('kind', i.kind)}"
                    ids.append(f"{shown.strip()}: {i.value}" if i.value else shown.strip())
                joined = member.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            member.number,
                            member.display_name,
                            " ".join(phones),
                            "; ".join(ids),
                            " ".join(listed.tags),
                            member.remark,
                            joined,
                        )
                    ]
                )
            yield buffer.getvalue()
            before = page[-1].member.number

    filename = "members-search.csv" if query else "members.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/members/{member_id}")
def member_page(request: Request, member_id: Id, principal: Reader, db: DatabaseDep) -> Response:
    with db.session_scope() as session:
        context = member_context(session, principal, member_id, viewed=True)
    return render(request, "member.html", context)


@router.post("/members/{member_id}/erase")
def erase_member(
    request: Request,
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_erase)],
    db: DatabaseDep,
    confirm: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Erase from the profile; the operator types the member number to confirm."""
    try:
        with db.session_scope() as session:
            member = identity.get_member(session, principal.workspace_id, member_id)
            if confirm.strip() != str(member.number):
                raise errors.ERASE_UNCONFIRMED("type the member number to confirm")
            identity.erase_member(
                session, principal.workspace_id, member_id, actor=principal.actor, via="staff"
            )
    except SiyuError as exc:
        return error_response(request, exc, target="#erase-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = member_context(session, principal, member_id)
    context["notice"] = translator(request)("member.erased_done", number=member.number)
    return render(request, "_member_detail.html", context)


@router.get("/members/{member_id}/export")
def export_member(
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_export)],
    db: DatabaseDep,
) -> Response:
    """The member's own data as a JSON download (for their access request)."""
    with db.session_scope() as session:
        data = identity.export_member(session, principal.workspace_id, member_id, actor=principal)
    body = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="member-{member_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/members/{member_id}/profile")
def set_profile(  # noqa: PLR0917 - a route's natural parameters
    request: Request,
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_notes)],
    db: DatabaseDep,
    display_name: Annotated[str, Form(max_length=200)] = "",
    remark: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The member's display name and staff remark (encrypted, audited, found by search)."""
    try:
        try:
            data = MemberProfileIn(display_name=display_name, remark=remark)
        except ValidationError:
            raise errors.PROFILE_INVALID("name ≤ 32 characters, remark ≤ 200") from None
        with db.session_scope() as session:
            identity.set_member_profile(session, principal, member_id, data)
    except SiyuError as exc:
        return error_response(request, exc, target="#profile-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = member_context(session, principal, member_id)
    context["notice"] = translator(request)("member.profile_saved")
    return render(request, "_member_detail.html", context)


@router.post("/members/{member_id}/assign")
def assign_member(
    request: Request,
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_assign)],
    db: DatabaseDep,
    operator_id: Annotated[Count, Form()] = 0,
) -> Response:
    try:
        with db.session_scope() as session:
            identity.assign_member(session, principal, member_id, operator_id or None)
    except SiyuError as exc:
        return error_response(request, exc, target="#assign-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = member_context(session, principal, member_id)
    context["notice"] = translator(request)("member.assigned_done")
    return render(request, "_member_detail.html", context)


def _change_tag(
    request: Request, principal: Principal, db: Database, member_id: int, tag: str, *, add: bool
) -> Response:
    try:
        with db.session_scope() as session:
            change = identity.tag_member if add else identity.untag_member
            change(session, principal, member_id, tag)
    except SiyuError as exc:
        return error_response(request, exc, target="#tags-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = member_context(session, principal, member_id)
    return render(request, "_member_detail.html", context)


@router.post("/members/{member_id}/tags")
def tag_member(
    request: Request,
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_tag)],
    db: DatabaseDep,
    tag: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _change_tag(request, principal, db, member_id, tag, add=True)


@router.post("/members/{member_id}/tags/remove")
def untag_member(
    request: Request,
    member_id: Id,
    principal: Annotated[Principal, require(Permission.members_tag)],
    db: DatabaseDep,
    tag: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _change_tag(request, principal, db, member_id, tag, add=False)


@router.get("/members/{member_id}/timeline")
def member_timeline(
    request: Request,
    member_id: Id,
    principal: TimelineReader,
    db: DatabaseDep,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    with db.session_scope() as session:
        identity.ensure_member_visible(session, principal, member_id)
        page = identity.get_timeline(
            session, principal.workspace_id, member_id, limit=TIMELINE_PAGE, cursor=cursor or None
        )
        apps = app_names(session, principal.workspace_id)
        channels = channel_names(session, principal.workspace_id)
    context = {
        "timeline": page,
        "apps": apps,
        "channels": channels,
        "describe": describe,
        "member_id": member_id,
    }
    return render(request, "_timeline_rows.html", context)


@router.post("/members/{member_id}/merges/{merge_id}/undo")
def undo_merge(
    request: Request, member_id: Id, merge_id: Id, principal: Merger, db: DatabaseDep
) -> Response:
    try:
        with db.session_scope() as session:
            undone = identity.undo_merge(session, principal, merge_id)
    except SiyuError as exc:
        return error_response(request, exc, target=f"#merge-{merge_id}-msg")
    if not is_htmx(request):
        return RedirectResponse(f"/members/{member_id}", status_code=303)
    with db.session_scope() as session:
        context = member_context(session, principal, member_id)
        merged_number = identity.get_member(
            session, principal.workspace_id, undone.merged_id
        ).number
    context["notice"] = translator(request)("member.merge.undo_done", merged=merged_number)
    return render(request, "_member_detail.html", context)
