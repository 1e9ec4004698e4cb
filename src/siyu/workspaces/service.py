"""Create and find workspaces and apps (adding one is audited); hand out member numbers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.security import service as security
from siyu.security.schemas import Principal
from siyu.workspaces import errors, repository
from siyu.workspaces.enums import EntityKind, PushMode
from siyu.workspaces.models import App, Entity, Workspace
from siyu.workspaces.schemas import (
    AES_KEY,
    ENCRYPTED_MODES,
    AppCreate,
    AppCredentials,
    AppRead,
    WorkspaceRead,
)

DEFAULT_WORKSPACE_NAME = "默认品牌"
CREDENTIALS = ("secret", "token", "aes_key")


def create_workspace(session: Session, name: str) -> WorkspaceRead:
    workspace = Workspace(name=name, created_at=clock.now(), next_member_number=10001)
    repository.add(session, workspace)
    return WorkspaceRead.model_validate(workspace)


def ensure_default_workspace(session: Session) -> WorkspaceRead:
    """The first workspace, created on a fresh install."""
    workspace = repository.get_first_workspace(session)
    if workspace is None:
        return create_workspace(session, DEFAULT_WORKSPACE_NAME)
    return WorkspaceRead.model_validate(workspace)


def list_workspaces(session: Session) -> list[WorkspaceRead]:
    return [WorkspaceRead.model_validate(w) for w in repository.list_workspaces(session)]


def get_workspace(session: Session, workspace_id: int) -> WorkspaceRead:
    workspace = repository.get_workspace(session, workspace_id)
    if workspace is None:
        raise errors.NOT_FOUND(f"workspace {workspace_id} does not exist")
    return WorkspaceRead.model_validate(workspace)


def _read(app: App) -> AppRead:
    return AppRead(
        id=app.id,
        workspace_id=app.workspace_id,
        kind=app.kind,
        appid=app.appid,
        name=app.name,
        entity_id=app.entity_id,
        has_secret=app.secret is not None,
        has_token=app.token is not None,
        has_aes_key=app.aes_key is not None,
        push_mode=app.push_mode,
        created_at=app.created_at,
    )


def add_app(
    session: Session, workspace_id: int, data: AppCreate, *, actor: Principal | None = None
) -> AppRead:
    """Register an app under a workspace, creating its entity on first mention.

    Audited when an operator adds it (`actor`: the API, the console, the command line); set-up
    and demo data add apps unaudited. The audit names which credentials came, never them.
    """
    get_workspace(session, workspace_id)
    if repository.get_app_by_appid(session, data.appid) is not None:
        raise errors.APP_EXISTS(f"app {data.appid} is already registered", appid=data.appid)
    entity_id = None
    if data.entity is not None:
        entity = repository.get_entity_by_name(session, workspace_id, data.entity)
        if entity is None:
            entity = Entity(
                workspace_id=workspace_id,
                name=data.entity,
                kind=data.entity_kind,
                created_at=clock.now(),
            )
            repository.add(session, entity)
        entity_id = entity.id
    app = App(
        workspace_id=workspace_id,
        entity_id=entity_id,
        kind=data.kind,
        appid=data.appid,
        name=data.name,
        secret=data.secret,
        token=data.token,
        aes_key=data.aes_key,
        push_mode=data.resolved_push_mode,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            repository.add(session, app)
    except IntegrityError as exc:  # registered concurrently by someone else
        raise errors.APP_EXISTS(
            f"app {data.appid} is already registered", appid=data.appid
        ) from exc
    added = _read(app)
    if actor is not None:
        security.record_audit(
            session,
            actor,
            "app.added",
            target_type="app",
            target_id=added.id,
            detail={
                "kind": added.kind,
                "push_mode": added.push_mode,
                "credentials": [k for k in CREDENTIALS if getattr(data, k)],
            },
        )
    return added


def list_apps(session: Session, workspace_id: int) -> list[AppRead]:
    return [_read(app) for app in repository.list_apps(session, workspace_id)]


def get_app_by_appid(session: Session, appid: str, workspace_id: int | None = None) -> AppRead:
    """The app with this appid; another workspace's app is reported as unknown."""
    app = repository.get_app_by_appid(session, appid)
    if app is None or (workspace_id is not None and app.workspace_id != workspace_id):
        raise errors.UNKNOWN_APP(f"no app with appid {appid!r}", appid=appid)
    return _read(app)


def get_apps_by_id(session: Session, app_ids: Sequence[int]) -> dict[int, AppRead]:
    apps = (repository.get_app(session, app_id) for app_id in set(app_ids))
    return {app.id: _read(app) for app in apps if app is not None}


def get_app_credentials(session: Session, appid: str) -> AppCredentials:
    app = repository.get_app_by_appid(session, appid)
    if app is None:
        raise errors.UNKNOWN_APP(f"no app with appid {appid!r}", appid=appid)
    return AppCredentials(
        appid=app.appid,
        kind=app.kind,
        secret=app.secret,
        token=app.token,
        aes_key=app.aes_key,
        previous_aes_key=app.previous_aes_key,
        push_mode=app.push_mode,
    )


def rotate_aes_key(session: Session, appid: str, new_key: str) -> AppRead:
    """Install a new EncodingAESKey, keeping the current one as the previous key."""
    if not AES_KEY.match(new_key):
        raise errors.INVALID_AES_KEY("EncodingAESKey must be 43 letters and digits")
    app = repository.get_app_by_appid(session, appid)
    if app is None:
        raise errors.UNKNOWN_APP(f"no app with appid {appid!r}", appid=appid)
    app.previous_aes_key, app.aes_key = app.aes_key, new_key
    session.flush()
    return _read(app)


def set_push_mode(
    session: Session,
    workspace_id: int,
    appid: str,
    mode: PushMode,
    *,
    actor: Principal | None = None,
) -> AppRead:
    """Record the push mode chosen in WeChat's console (audited when an operator sets it).

    Compatible and secure pushes need the app's EncodingAESKey; a secure app refuses plaintext.
    """
    app = repository.get_app_by_appid(session, appid)
    if app is None or app.workspace_id != workspace_id:
        raise errors.UNKNOWN_APP(f"no app with appid {appid!r}", appid=appid)
    if mode in ENCRYPTED_MODES and app.aes_key is None:
        raise errors.MODE_NEEDS_AES_KEY(
            f"push mode {mode} needs the app's EncodingAESKey", appid=appid, mode=mode.value
        )
    previous, app.push_mode = app.push_mode, mode
    session.flush()
    if actor is not None and previous != mode:
        security.record_audit(
            session,
            actor,
            "app.push_mode_set",
            target_type="app",
            target_id=app.id,
            detail={"from": previous.value, "to": mode.value},
        )
    return _read(app)


def take_member_numbers(session: Session, workspace_id: int, count: int = 1) -> int:
    """Reserve `count` consecutive member numbers and return the first."""
    return repository.take_member_numbers(session, workspace_id, count)


def entity_kinds(session: Session, entity_ids: Sequence[int]) -> dict[int, EntityKind]:
    """The kind (enterprise, individual business) of each entity named."""
    if not entity_ids:
        return {}
    return repository.entity_kinds(session, entity_ids)
