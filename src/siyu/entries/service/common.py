"""What every entries topic shares: the kinds of apps and codes, the app checks, the audit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from siyu.entries import errors
from siyu.entries.enums import CodeKind
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind
from siyu.workspaces.schemas import AppRead

OA_KINDS = frozenset({AppKind.oa_service, AppKind.oa_subscription})
OA_CODES = frozenset({CodeKind.oa_qr_temp, CodeKind.oa_qr_permanent})
MP_CODES = frozenset({CodeKind.mp_code, CodeKind.url_link})
DEFAULT_CONVERSION = "pay.paid"

# Who acts: an operator (audited with their role), or a label ("channel:metro", a test).
Actor = Principal | str


def created_by(actor: Actor) -> str:
    """What a row's `created_by` keeps: the operator's email, or the label."""
    return actor.email if isinstance(actor, Principal) else actor


def audit(
    session: Session,
    actor: Actor,
    action: str,
    *,
    workspace_id: int,
    target: tuple[str, int],
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit entry of an entries operation (`target`: type and id)."""
    security.record_audit(
        session,
        actor,
        action,
        workspace_id=workspace_id,
        target_type=target[0],
        target_id=target[1],
        detail=detail,
    )


def official_account(session: Session, workspace_id: int, appid: str) -> AppRead:
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind not in OA_KINDS:
        raise errors.NOT_OFFICIAL_ACCOUNT(f"app {appid} is not an Official Account", appid=appid)
    return app


def mini_program(session: Session, workspace_id: int, appid: str) -> AppRead:
    app = workspaces.get_app_by_appid(session, appid, workspace_id)
    if app.kind != AppKind.mp:
        raise errors.NOT_MINI_PROGRAM(f"app {appid} is not a Mini Program", appid=appid)
    return app
