"""Service records: staff notes on a member (who wrote what, when), audited as the member's."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.community import repository
from siyu.community.models import ServiceRecord
from siyu.community.schemas import ServiceRecordIn, ServiceRecordRead
from siyu.community.service.common import audit
from siyu.core import clock
from siyu.identity import service as identity
from siyu.security.schemas import Principal


def add_service_record(
    session: Session, workspace_id: int, member_id: int, data: ServiceRecordIn, *, actor: Principal
) -> ServiceRecordRead:
    """The actor writes a note on a member they may see (as identity.member_not_found else)."""
    identity.ensure_member_visible(session, actor, member_id)
    identity.get_member(session, workspace_id, member_id)
    record = ServiceRecord(
        workspace_id=workspace_id,
        member_id=member_id,
        operator_id=actor.operator_id,
        kind=data.kind,
        text=data.text,
        created_at=clock.now(),
    )
    repository.add(session, record)
    detail = {"record_id": record.id, "kind": record.kind}
    audit(session, workspace_id, actor, "members.note_added", ("member", member_id), detail=detail)
    return ServiceRecordRead.model_validate(record)


def service_records(
    session: Session, workspace_id: int, member_id: int, limit: int = 100
) -> list[ServiceRecordRead]:
    identity.get_member(session, workspace_id, member_id)
    rows = repository.list_service_records(session, workspace_id, member_id, limit)
    return [ServiceRecordRead.model_validate(r) for r in rows]
