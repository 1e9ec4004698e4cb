"""Tag groups (标签组): tags the console shows together, with how many members carry each."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.audience import errors, repository
from siyu.audience.models import TagGroup
from siyu.audience.schemas import TagGroupIn, TagGroupRead
from siyu.core import clock
from siyu.identity import service as identity
from siyu.security import service as security
from siyu.security.schemas import Principal


def _tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        # identity's rule for a tag (printable, one line, TAG_MAX): refused the same way.
        text = identity.clean_tag(tag)
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def _read(row: TagGroup, counts: dict[str, int]) -> TagGroupRead:
    return TagGroupRead(
        id=row.id, name=row.name, tags=row.tags, counts={t: counts.get(t, 0) for t in row.tags}
    )


def save_tag_group(
    session: Session, actor: Principal, data: TagGroupIn, group_id: int | None = None
) -> TagGroupRead:
    """Create a tag group, or (with `group_id`) rename it and set its tags."""
    name, tags = data.name.strip(), _tags(data.tags)
    same = repository.get_tag_group_by_name(session, actor.workspace_id, name)
    now = clock.now()
    if group_id is None:
        if same is not None:
            raise errors.TAG_GROUP_EXISTS(f"a tag group named {name!r} exists")
        row = TagGroup(
            workspace_id=actor.workspace_id,
            name=name,
            tags=tags,
            created_by=actor.actor,
            created_at=now,
            updated_at=now,
        )
        repository.add(session, row)
    else:
        found = repository.get_tag_group(session, group_id)
        if found is None or found.workspace_id != actor.workspace_id:
            raise errors.TAG_GROUP_NOT_FOUND(f"no tag group {group_id}")
        if same is not None and same.id != found.id:
            raise errors.TAG_GROUP_EXISTS(f"a tag group named {name!r} exists")
        row = found
        row.name, row.tags, row.updated_at = name, tags, now
        session.flush()
    security.record_audit(
        session,
        actor,
        "audience.tag_group_saved",
        target_type="tag_group",
        target_id=row.id,
        detail={"tags": len(tags)},
    )
    return _read(row, identity.tag_counts(session, actor.workspace_id))


def list_tag_groups(session: Session, workspace_id: int) -> list[TagGroupRead]:
    counts = identity.tag_counts(session, workspace_id)
    return [_read(row, counts) for row in repository.list_tag_groups(session, workspace_id)]


def delete_tag_group(session: Session, actor: Principal, group_id: int) -> None:
    """The group goes; its tags stay on members."""
    row = repository.get_tag_group(session, group_id)
    if row is None or row.workspace_id != actor.workspace_id:
        raise errors.TAG_GROUP_NOT_FOUND(f"no tag group {group_id}")
    session.delete(row)
    session.flush()
    security.record_audit(
        session, actor, "audience.tag_group_deleted", target_type="tag_group", target_id=group_id
    )
