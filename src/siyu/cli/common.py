"""What every `siyu` command shares: opening the database, choosing the workspace, acting as an
operator, failing with a code, and the two consoles.

Heavy modules (services, the wiring of every domain) are imported inside the functions, so that
importing a command module, and so `siyu --help`, stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from siyu.core.errors import SiyuError

if TYPE_CHECKING:
    from siyu.core.config import Settings
    from siyu.core.db import Database
    from siyu.security.enums import Permission
    from siyu.security.schemas import Principal

out = Console()
err = Console(stderr=True)

WorkspaceOption = Annotated[int | None, typer.Option(help="workspace id (default: the first)")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="act as this operator, with their role (default: the owner)"),
]


def setup() -> tuple[Settings, Database]:
    """Read the settings, configure the process (crypto, logs, queue, Pay) and wire it, so that
    jobs a command enqueues by name resolve; exit 2 on a configuration error."""
    from siyu.core.config import get_settings
    from siyu.core.crypto import configure_crypto
    from siyu.core.db import database_for
    from siyu.core.jobs import configure_queue
    from siyu.core.logging import configure_logging

    try:
        settings = get_settings()
        configure_crypto(settings)
    except ValueError as exc:
        err.print(f"[red]配置错误 / configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings)
    configure_queue(settings)
    from siyu.wechat.pay.service import configure_pay
    from siyu.wiring import wire

    configure_pay(settings)
    wire()
    return settings, database_for(settings)


def choose_workspace(db: Database, workspace: int | None) -> int:
    """The id of `workspace`, or of the default workspace (made if there is none yet)."""
    from siyu.workspaces import service as workspaces

    with db.session_scope() as session:
        if workspace is not None:
            return workspaces.get_workspace(session, workspace).id
        return workspaces.ensure_default_workspace(session).id


def fail(exc: SiyuError) -> typer.Exit:
    """Print a refusal's code and message; the caller raises the exit (status 1)."""
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    return typer.Exit(1)


def acting(db: Database, workspace_id: int, as_email: str | None, *needs: Permission) -> Principal:
    """Who the command acts as, refused (exit 1) unless their role grants `needs`."""
    from siyu.security import service as security

    with db.session_scope() as session:
        if as_email is None:
            principal = security.principal_for_cli(session, workspace_id)
        else:
            operator = security.get_operator_by_email(session, as_email)
            if operator is None or operator.disabled_at is not None:
                err.print(f"[red]no active operator {as_email}[/red]")
                raise typer.Exit(1)
            principal = security.principal_for_cli(session, operator.workspace_id).model_copy(
                update={
                    "operator_id": operator.id,
                    "email": operator.email,
                    "name": operator.name,
                    "role": operator.role,
                }
            )
    try:
        for permission in needs:
            security.require_permission(principal, permission)
    except SiyuError as exc:
        raise fail(exc) from exc
    return principal


__all__ = [
    "AsOption",
    "WorkspaceOption",
    "acting",
    "choose_workspace",
    "err",
    "fail",
    "out",
    "setup",
]
