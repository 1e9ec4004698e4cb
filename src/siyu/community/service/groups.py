"""Groups of the matrix (one per activity or series): their state, their members (from share
tickets or added by staff) and the posts the team made in them. WeChat has no API to read or
post into a group, so siyu records what happened; staff operations are audited."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import GroupState
from siyu.community.models import Group, GroupMember, GroupPost
from siyu.community.schemas import GroupCreate, GroupPostIn, GroupPostRead, GroupRead
from siyu.community.service.common import activity_row, audit, get_series, operator_of
from siyu.core import clock
from siyu.identity import service as identity
from siyu.security.schemas import Principal

# The states a group may move to from each state (a dissolved group is gone for good).
_MOVES = {
    GroupState.active: {GroupState.continuing, GroupState.archived, GroupState.dissolved},
    GroupState.continuing: {GroupState.active, GroupState.archived, GroupState.dissolved},
    GroupState.archived: {GroupState.active, GroupState.continuing},
    GroupState.dissolved: set(),
}


def _group(session: Session, workspace_id: int, group_id: int) -> Group:
    group = session.get(Group, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise errors.GROUP_NOT_FOUND(f"no group {group_id}")
    return group


def _group_read(session: Session, group: Group) -> GroupRead:
    read = GroupRead.model_validate(group)
    read.members = repository.count_group_members(session, group.id)
    return read


def get_group(session: Session, workspace_id: int, group_id: int) -> GroupRead:
    return _group_read(session, _group(session, workspace_id, group_id))


def new_group(session: Session, workspace_id: int, data: GroupCreate) -> GroupRead:
    """Record a group of an activity or a series (the group itself is made in WeChat)."""
    if data.activity_id is not None:
        activity_row(session, workspace_id, data.activity_id)
        if repository.group_id_of_activity(session, data.activity_id):
            raise errors.GROUP_EXISTS(
                "this activity has its group already", reason="每个活动只有一个群"
            )
    if data.series_id is not None:
        get_series(session, workspace_id, data.series_id)
    if data.open_gid and repository.group_id_by_open_gid(session, data.open_gid):
        raise errors.GROUP_EXISTS(
            "a group with this openGId exists", reason="已有群使用这个 openGId"
        )
    now = clock.now()
    group = Group(
        workspace_id=workspace_id,
        activity_id=data.activity_id,
        series_id=data.series_id,
        name=data.name,
        open_gid=data.open_gid,
        state=GroupState.active,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, group)
    return _group_read(session, group)


def create_group(
    session: Session, workspace_id: int, data: GroupCreate, *, actor: Principal | str
) -> GroupRead:
    group = new_group(session, workspace_id, data)
    audit(session, workspace_id, actor, "community.group_created", ("group", group.id))
    return group


def list_groups(session: Session, workspace_id: int) -> list[GroupRead]:
    counts = repository.group_member_counts(session)
    out = []
    for group in repository.list_groups(session, workspace_id):
        read = GroupRead.model_validate(group)
        read.members = counts.get(group.id, 0)
        out.append(read)
    return out


def set_group_state(
    session: Session, workspace_id: int, group_id: int, state: GroupState, *, actor: Principal | str
) -> GroupRead:
    group = _group(session, workspace_id, group_id)
    if state != group.state and state not in _MOVES[group.state]:
        raise errors.GROUP_STATE(
            f"a {group.state} group cannot become {state}",
            current=errors.GROUP_STATE_NAMES[group.state],
            wanted=errors.GROUP_STATE_NAMES[state],
        )
    group.state, group.updated_at = state, clock.now()
    session.flush()
    audit(
        session,
        workspace_id,
        actor,
        "community.group_state",
        ("group", group_id),
        detail={"state": str(state)},
    )
    return _group_read(session, group)


def _group_code(session: Session, group: Group) -> str | None:
    if group.activity_id is None:
        return None
    return repository.activity_code(session, group.activity_id)


def join_group(
    session: Session, workspace_id: int, group_id: int, member_id: int, *, source: str
) -> tuple[GroupRead, bool]:
    """Record a member in a group (again after leaving); (group, whether anything changed)."""
    group = _group(session, workspace_id, group_id)
    if group.state == GroupState.dissolved:
        raise errors.GROUP_DISSOLVED("this group is dissolved")
    identity.get_member(session, workspace_id, member_id)
    row = repository.get_group_member(session, group.id, member_id, lock=True)
    now = clock.now()
    if row is not None and row.left_at is None:
        return _group_read(session, group), False
    if row is None:
        try:
            with session.begin_nested():
                repository.add(
                    session,
                    GroupMember(
                        group_id=group.id, member_id=member_id, source=source, joined_at=now
                    ),
                )
        except IntegrityError:
            return _group_read(session, group), False
    else:
        row.left_at, row.joined_at, row.source = None, now, source
    identity.record_event(
        session,
        workspace_id,
        member_id,
        "group.join",
        now,
        props={"code": _group_code(session, group), "group_id": group.id, "source": source},
    )
    session.flush()
    return _group_read(session, group), True


def add_group_member(
    session: Session, workspace_id: int, group_id: int, member_id: int, *, actor: Principal | str
) -> GroupRead:
    """Staff put a member in a group; audited when it changed anything (not twice)."""
    group, changed = join_group(session, workspace_id, group_id, member_id, source="staff")
    if changed:
        detail = {"member_id": member_id}
        audit(
            session,
            workspace_id,
            actor,
            "community.group_member_added",
            ("group", group_id),
            detail=detail,
        )
    return group


def leave_group(session: Session, workspace_id: int, group_id: int, member_id: int) -> GroupRead:
    group = _group(session, workspace_id, group_id)
    row = repository.get_group_member(session, group.id, member_id)
    if row is None or row.left_at is not None:
        raise errors.NOT_IN_GROUP("this member is not in the group")
    now = clock.now()
    row.left_at = now
    identity.record_event(
        session,
        workspace_id,
        member_id,
        "group.leave",
        now,
        props={"code": _group_code(session, group), "group_id": group.id},
    )
    session.flush()
    return _group_read(session, group)


def remove_group_member(
    session: Session, workspace_id: int, group_id: int, member_id: int, *, actor: Principal | str
) -> GroupRead:
    """Staff take a member out of a group (audited)."""
    group = leave_group(session, workspace_id, group_id, member_id)
    detail = {"member_id": member_id}
    audit(
        session,
        workspace_id,
        actor,
        "community.group_member_removed",
        ("group", group_id),
        detail=detail,
    )
    return group


def join_by_open_gid(
    session: Session, workspace_id: int, open_gid: str, member_id: int
) -> tuple[GroupRead, bool]:
    """The member opened a card shared in the group whose openGId this is."""
    group_id = repository.group_id_by_open_gid(session, open_gid, workspace_id=workspace_id)
    if group_id is None:
        raise errors.GROUP_NOT_FOUND("no group of siyu has this openGId")
    return join_group(session, workspace_id, group_id, member_id, source="share_ticket")


def post_to_group(
    session: Session, workspace_id: int, group_id: int, data: GroupPostIn, *, actor: Principal | str
) -> GroupPostRead:
    """Record a post the team made in the group (audited)."""
    group = _group(session, workspace_id, group_id)
    if group.state in (GroupState.archived, GroupState.dissolved):
        raise errors.GROUP_CLOSED(f"this group is {group.state}")
    post = GroupPost(
        group_id=group.id,
        operator_id=operator_of(actor),
        kind=data.kind,
        content=data.content,
        posted_at=clock.now(),
    )
    repository.add(session, post)
    audit(
        session,
        workspace_id,
        actor,
        "community.group_post",
        ("group", group_id),
        detail={"post_id": post.id},
    )
    return GroupPostRead.model_validate(post)


def list_posts(
    session: Session, workspace_id: int, group_id: int, limit: int = 100
) -> list[GroupPostRead]:
    _group(session, workspace_id, group_id)
    return [
        GroupPostRead.model_validate(p) for p in repository.list_posts(session, group_id, limit)
    ]


def group_members(session: Session, workspace_id: int, group_id: int) -> list[int]:
    _group(session, workspace_id, group_id)
    return repository.group_member_ids(session, group_id)
