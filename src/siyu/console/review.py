"""Console review of identity conflicts: merge the pair or dismiss it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from siyu.console.common import Merger, app_names
from siyu.console.web import ConsoleRoute, error_response, is_htmx, render, translator
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.identity import service as identity
from siyu.identity.enums import ConflictStatus
from siyu.identity.schemas import MemberRead

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)


def _members_by_id(session: Session, workspace_id: int, ids: set[int]) -> dict[int, MemberRead]:
    return {mid: identity.get_member(session, workspace_id, mid) for mid in ids}


@router.get("/review")
def review_page(request: Request, principal: Merger, db: DatabaseDep) -> Response:
    ws = principal.workspace_id
    with db.session_scope() as session:
        conflicts = identity.list_conflicts(session, ws, ConflictStatus.open)
        ids = {c.member_a_id for c in conflicts} | {c.member_b_id for c in conflicts}
        members = _members_by_id(session, ws, ids)
        apps = app_names(session, ws)
    return render(
        request,
        "review.html",
        {"active": "review", "conflicts": conflicts, "members": members, "apps": apps},
    )


def _review_done(request: Request, conflict_id: int, message: str) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/review", status_code=303)
    return render(request, "_review_done.html", {"conflict_id": conflict_id, "message": message})


@router.post("/review/{conflict_id}/merge")
def review_merge(
    request: Request,
    conflict_id: Id,
    principal: Merger,
    db: DatabaseDep,
    survivor: Annotated[int, Form(gt=0)],
    merged: Annotated[int, Form(gt=0)],
) -> Response:
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            identity.merge_members(session, principal, survivor, merged, conflict_id=conflict_id)
            numbers = _members_by_id(session, ws, {survivor, merged})
    except SiyuError as exc:
        return error_response(request, exc, target=f"#conflict-{conflict_id}-msg")
    message = translator(request)(
        "review.merged_done", merged=numbers[merged].number, survivor=numbers[survivor].number
    )
    return _review_done(request, conflict_id, message)


@router.post("/review/{conflict_id}/dismiss")
def review_dismiss(
    request: Request, conflict_id: Id, principal: Merger, db: DatabaseDep
) -> Response:
    ws = principal.workspace_id
    try:
        with db.session_scope() as session:
            conflict = identity.dismiss_conflict(session, principal, conflict_id)
            pair = _members_by_id(session, ws, {conflict.member_a_id, conflict.member_b_id})
    except SiyuError as exc:
        return error_response(request, exc, target=f"#conflict-{conflict_id}-msg")
    message = translator(request)(
        "review.dismissed_done",
        a=pair[conflict.member_a_id].number,
        b=pair[conflict.member_b_id].number,
    )
    return _review_done(request, conflict_id, message)
