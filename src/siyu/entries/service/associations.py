"""OA ↔ MP associations and the platform's limits on them (fact sheet §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.config import Settings, current_settings
from siyu.core.errors import SiyuError
from siyu.entries import errors, repository
from siyu.entries.enums import LinkStatus
from siyu.entries.models import Association
from siyu.entries.schemas import AssociationRead
from siyu.entries.service.common import Actor, audit, created_by, mini_program, official_account
from siyu.workspaces import service as workspaces
from siyu.workspaces.enums import AppKind, EntityKind
from siyu.workspaces.schemas import AppRead


@dataclass(frozen=True)
class Limit:
    """One of the platform's association limits, as configured."""

    name: str
    setting: str
    most: int
    what: str

    def refusal(self, count: int) -> SiyuError:
        return errors.ASSOCIATION_LIMITS[self.name](
            f"{self.what}: at most {self.most} ({self.setting}); {count} already",
            data={"limit": self.name, "max": self.most, "count": count, "setting": self.setting},
            most=self.most,
            count=count,
            setting=self.setting,
        )


def limits(settings: Settings) -> dict[str, Limit]:
    s = settings
    return {
        limit.name: limit
        for limit in (
            Limit(
                "oa_same_entity_mps",
                "SIYU_ENTRIES_OA_SAME_ENTITY_MPS",
                s.entries_oa_same_entity_mps,
                "Mini Programs of the same entity one Official Account may link",
            ),
            Limit(
                "oa_other_entity_mps",
                "SIYU_ENTRIES_OA_OTHER_ENTITY_MPS",
                s.entries_oa_other_entity_mps,
                "Mini Programs of other entities one Official Account may link",
            ),
            Limit(
                "oa_links_per_month",
                "SIYU_ENTRIES_OA_LINKS_PER_MONTH",
                s.entries_oa_links_per_month,
                "new links one Official Account may make in a month",
            ),
            Limit(
                "mp_oas",
                "SIYU_ENTRIES_MP_OAS",
                s.entries_mp_oas,
                "Official Accounts one Mini Program may be linked to",
            ),
            Limit(
                "entity_mps",
                "SIYU_ENTRIES_ENTITY_MPS",
                s.entries_entity_mps,
                "Mini Programs one entity may register",
            ),
            Limit(
                "individual_business_mps",
                "SIYU_ENTRIES_INDIVIDUAL_BUSINESS_MPS",
                s.entries_individual_business_mps,
                "Mini Programs an individual business may register",
            ),
        )
    }


def _association_read(row: Association, apps: dict[int, AppRead]) -> AssociationRead:
    return AssociationRead(
        id=row.id,
        oa_appid=apps[row.oa_app_id].appid,
        mp_appid=apps[row.mp_app_id].appid,
        status=row.status,
        same_entity=row.same_entity,
        followers_notified=row.followers_notified,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _month_start(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def link_apps(
    session: Session,
    workspace_id: int,
    oa_appid: str,
    mp_appid: str,
    *,
    notify_followers: bool,
    actor: Actor,
    settings: Settings | None = None,
) -> AssociationRead:
    """Record an OA → MP link request (pending until both admins confirm), audited.

    Asking again for a pending or linked pair changes nothing; a refused pair is asked again.
    Each platform limit refuses with `entries.limit.<name>` naming it (409).
    """
    settings = settings or current_settings()
    oa = official_account(session, workspace_id, oa_appid)
    mp = mini_program(session, workspace_id, mp_appid)
    apps = {oa.id: oa, mp.id: mp}
    row = repository.get_association(session, oa.id, mp.id)
    if row is None or row.status not in repository.LIVE_LINKS:
        row = _ask(
            session, workspace_id, oa, mp, row,
            notify_followers=notify_followers, actor=actor, settings=settings,
        )  # fmt: skip
    # Asking again is audited too: the operator did ask.
    audit(
        session,
        actor,
        "entries.apps_linked",
        workspace_id=workspace_id,
        target=("association", row.id),
        detail={"status": row.status},
    )
    return _association_read(row, apps)


def _ask(
    session: Session,
    workspace_id: int,
    oa: AppRead,
    mp: AppRead,
    row: Association | None,
    *,
    notify_followers: bool,
    actor: Actor,
    settings: Settings,
) -> Association:
    """Ask for the link (again): the limits checked, the row pending."""
    _check_limits(session, workspace_id, oa, mp, settings)
    now = clock.now()
    if row is None:
        row = Association(
            workspace_id=workspace_id,
            oa_app_id=oa.id,
            mp_app_id=mp.id,
            status=LinkStatus.pending,
            same_entity=oa.entity_id is not None and oa.entity_id == mp.entity_id,
            followers_notified=notify_followers,
            created_by=created_by(actor),
            created_at=now,
            updated_at=now,
        )
        repository.add(session, row)
        return row
    row.status = LinkStatus.pending
    row.followers_notified = notify_followers
    row.updated_at = now
    session.flush()
    return row


def _check_limits(
    session: Session, workspace_id: int, oa: AppRead, mp: AppRead, settings: Settings
) -> None:
    rules = limits(settings)
    same = oa.entity_id is not None and oa.entity_id == mp.entity_id
    oa_links = repository.count_live_links_of_oa(session, oa.id, same_entity=same)
    rule = rules["oa_same_entity_mps" if same else "oa_other_entity_mps"]
    if oa_links >= rule.most:
        raise rule.refusal(oa_links)
    month = _month_start(clock.now(), settings.display_timezone)
    this_month = repository.count_links_of_oa_since(session, oa.id, month)
    if this_month >= rules["oa_links_per_month"].most:
        raise rules["oa_links_per_month"].refusal(this_month)
    mp_links = repository.count_live_links_of_mp(session, mp.id)
    if mp_links >= rules["mp_oas"].most:
        raise rules["mp_oas"].refusal(mp_links)
    if mp.entity_id is not None:
        kind = workspaces.entity_kinds(session, [mp.entity_id]).get(mp.entity_id)
        rule = rules[
            "individual_business_mps" if kind == EntityKind.individual_business else "entity_mps"
        ]
        registered = sum(
            1
            for app in workspaces.list_apps(session, workspace_id)
            if app.kind == AppKind.mp and app.entity_id == mp.entity_id
        )
        if registered > rule.most:
            raise rule.refusal(registered)


def set_link_status(
    session: Session, workspace_id: int, association_id: int, status: LinkStatus, *, actor: Actor
) -> AssociationRead:
    """The admins' answer (linked, both confirmed, or refused), audited."""
    row = session.get(Association, association_id)
    if row is None or row.workspace_id != workspace_id:
        raise errors.ASSOCIATION_NOT_FOUND(f"no association {association_id}")
    row.status = status
    row.updated_at = clock.now()
    session.flush()
    audit(
        session,
        actor,
        "entries.link_status",
        workspace_id=workspace_id,
        target=("association", row.id),
        detail={"status": row.status},
    )
    apps = workspaces.get_apps_by_id(session, [row.oa_app_id, row.mp_app_id])
    return _association_read(row, apps)


def unlink_apps(
    session: Session, workspace_id: int, association_id: int, *, actor: Actor
) -> AssociationRead:
    """End a link (or withdraw a pending request), audited: the OA's menus and messages no
    longer open the Mini Program. A link not live (refused, ended) is left as it is."""
    row = session.get(Association, association_id)
    if row is None or row.workspace_id != workspace_id:
        raise errors.ASSOCIATION_NOT_FOUND(f"no association {association_id}")
    if row.status in repository.LIVE_LINKS:
        row.status = LinkStatus.unlinked
        row.updated_at = clock.now()
        session.flush()
        audit(
            session,
            actor,
            "entries.apps_unlinked",
            workspace_id=workspace_id,
            target=("association", row.id),
            detail={"status": row.status},
        )
    apps = workspaces.get_apps_by_id(session, [row.oa_app_id, row.mp_app_id])
    return _association_read(row, apps)


def list_associations(session: Session, workspace_id: int) -> list[AssociationRead]:
    rows = repository.list_associations(session, workspace_id)
    ids = {r.oa_app_id for r in rows} | {r.mp_app_id for r in rows}
    apps = workspaces.get_apps_by_id(session, list(ids))
    return [_association_read(r, apps) for r in rows]


def linked_mp_appids(session: Session, oa_app_id: int) -> set[str]:
    """The Mini Programs an OA's menus and messages may open (status linked)."""
    ids = repository.linked_mp_ids(session, oa_app_id)
    return {app.appid for app in workspaces.get_apps_by_id(session, ids).values()}
