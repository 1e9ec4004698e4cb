"""Custom menus: checked against WeChat's rules, saved as versions, marked published or failed
(publishing itself calls WeChat: `flows.publish_menu`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.entries import errors, repository
from siyu.entries.enums import MenuStatus
from siyu.entries.models import MenuVersion
from siyu.entries.schemas import MenuRead
from siyu.entries.service import menu_rules
from siyu.entries.service.associations import linked_mp_appids
from siyu.entries.service.common import Actor, audit, created_by, official_account


def _menu_read(row: MenuVersion, appid: str) -> MenuRead:
    return MenuRead(
        id=row.id,
        appid=appid,
        version=row.version,
        buttons=row.buttons,
        published=row.published,
        status=row.status,
        error=row.error,
        created_by=row.created_by,
        created_at=row.created_at,
        published_at=row.published_at,
    )


def preview_menu(session: Session, workspace_id: int, appid: str, body: object) -> list[Any]:
    """The menu as it would be sent (source parameters appended), or the broken rule."""
    oa = official_account(session, workspace_id, appid)
    linked = linked_mp_appids(session, oa.id)
    broken = menu_rules.check_menu(body, linked)
    if broken is not None:
        raise broken.error()
    assert isinstance(body, dict)
    sent = menu_rules.with_sources(body["button"])
    # Appending the parameters may push a url past its limit: check what is sent.
    broken = menu_rules.check_menu({"button": sent}, linked)
    if broken is not None:
        raise broken.error()
    return sent


def new_version(
    session: Session, workspace_id: int, appid: str, body: object, *, actor: Actor
) -> MenuRead:
    """A new version, not audited: `save_menu` audits it, `flows.publish_new_menu` audits
    the publication (nothing is stored when a rule is broken)."""
    sent = preview_menu(session, workspace_id, appid, body)
    oa = official_account(session, workspace_id, appid)
    assert isinstance(body, dict)
    row = MenuVersion(
        workspace_id=workspace_id,
        app_id=oa.id,
        version=repository.latest_menu_version(session, oa.id) + 1,
        buttons=body["button"],
        published=sent,
        status=MenuStatus.draft,
        created_by=created_by(actor),
        created_at=clock.now(),
    )
    repository.add(session, row)
    return _menu_read(row, oa.appid)


def save_menu(
    session: Session, workspace_id: int, appid: str, body: object, *, actor: Actor
) -> MenuRead:
    """A new version, audited (nothing stored when a rule is broken)."""
    menu = new_version(session, workspace_id, appid, body, actor=actor)
    audit(
        session,
        actor,
        "entries.menu_saved",
        workspace_id=workspace_id,
        target=("menu", menu.id),
        detail={"version": menu.version},
    )
    return menu


def _version(
    session: Session, workspace_id: int, appid: str, version: int
) -> tuple[MenuVersion, str]:
    """The saved version and the OA's appid as stored."""
    oa = official_account(session, workspace_id, appid)
    row = repository.get_menu_version(session, oa.id, version)
    if row is None:
        raise errors.MENU_NOT_FOUND(
            f"{appid} has no menu version {version}", appid=appid, version=version
        )
    return row, oa.appid


def get_menu(session: Session, workspace_id: int, appid: str, version: int) -> MenuRead:
    return _menu_read(*_version(session, workspace_id, appid, version))


def list_menus(session: Session, workspace_id: int, appid: str) -> list[MenuRead]:
    oa = official_account(session, workspace_id, appid)
    return [_menu_read(r, oa.appid) for r in repository.list_menu_versions(session, oa.id)]


def mark_menu(
    session: Session, workspace_id: int, appid: str, version: int, error: str | None
) -> MenuRead:
    """What WeChat answered to the publication: published (error None) or failed."""
    row, oa_appid = _version(session, workspace_id, appid, version)
    if error is None:
        row.status, row.error, row.published_at = MenuStatus.published, None, clock.now()
    else:
        row.status, row.error = MenuStatus.failed, error[:500]
    session.flush()
    return _menu_read(row, oa_appid)


def live_menu(session: Session, app_id: int) -> MenuVersion | None:
    return repository.live_menu(session, app_id)
