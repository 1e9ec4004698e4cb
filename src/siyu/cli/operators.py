"""`siyu operators list|add|role|disable|reset-password`: the operators of a workspace, their
roles, and a one-time password for a locked-out owner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from siyu.cli.common import (
    AsOption,
    WorkspaceOption,
    acting,
    choose_workspace,
    err,
    fail,
    out,
    setup,
)
from siyu.core.errors import SiyuError
from siyu.security.enums import Permission, Role

if TYPE_CHECKING:
    from siyu.core.db import Database
    from siyu.security.schemas import OperatorRead

operators_app = typer.Typer(help="Operators and their roles.", no_args_is_help=True)


def _print_one_time_password(password: str) -> None:
    """A one-time password, as `add` and `reset-password` show it: once, and what happens next."""
    out.print(f"[bold yellow]one-time password: {password}[/bold yellow]")
    out.print("(shown once; they choose their own at the next sign-in)")


def _operator_named(db: Database, email: str) -> OperatorRead:
    """The operator signing in with `email`, or exit 1 saying there is none."""
    from siyu.security import service as security

    with db.session_scope() as session:
        target = security.get_operator_by_email(session, email)
    if target is None:
        err.print(f"[red]no operator {email}[/red]")
        raise typer.Exit(1)
    return target


@operators_app.command("list")
def operators_list(workspace: WorkspaceOption = None, as_email: AsOption = None) -> None:
    """List the operators of a workspace with their roles."""
    from siyu.security import service as security

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    acting(db, workspace_id, as_email, Permission.operators_manage)
    with db.session_scope() as session:
        rows = security.list_operators(session, workspace_id)
    table = Table("id", "email", "name", "role", "status")
    for row in rows:
        status = f"disabled {row.disabled_at:%Y-%m-%d}" if row.disabled_at else "active"
        table.add_row(str(row.id), row.email, row.name, row.role.value, status)
    out.print(table)


@operators_app.command("add")
def operators_add(
    email: Annotated[str, typer.Argument(help="the operator's email (their sign-in)")],
    role: Annotated[Role, typer.Option(help="what they may see and do")] = Role.operator,
    name: Annotated[str, typer.Option(help="the name shown in the console")] = "",
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Add an operator; a one-time password is printed."""
    import secrets

    from siyu.security import service as security

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.operators_manage)
    password = secrets.token_urlsafe(12)
    try:
        with db.session_scope() as session:
            created = security.add_operator(
                session, principal, email, password, name=name, role=role
            )
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {created.email} ({created.role.value}), id {created.id}")
    _print_one_time_password(password)


@operators_app.command("role")
def operators_role(
    email: Annotated[str, typer.Argument(help="the operator")],
    role: Annotated[Role, typer.Argument(help="the new role")],
    as_email: AsOption = None,
) -> None:
    """Change an operator's role."""
    from siyu.security import service as security

    _settings, db = setup()
    target = _operator_named(db, email)
    principal = acting(db, target.workspace_id, as_email, Permission.operators_manage)
    try:
        with db.session_scope() as session:
            changed = security.change_role(session, principal, target.id, role)
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {changed.email} is now {changed.role.value}")


@operators_app.command("disable")
def operators_disable(
    email: Annotated[str, typer.Argument(help="the operator")],
    as_email: AsOption = None,
) -> None:
    """Disable an operator: their sessions end and their API tokens are revoked."""
    from siyu.security import service as security

    _settings, db = setup()
    target = _operator_named(db, email)
    principal = acting(db, target.workspace_id, as_email, Permission.operators_manage)
    try:
        with db.session_scope() as session:
            security.disable_operator(session, principal, target.id)
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {email} disabled; sessions ended, tokens revoked")


@operators_app.command("reset-password")
def operators_reset_password(
    email: Annotated[str, typer.Argument(help="the operator (a locked-out owner, say)")],
    as_email: AsOption = None,
) -> None:
    """Give an operator a one-time password (printed); their console sessions end, and they
    set their own at the next sign-in. Whoever can run this can read the database anyway."""
    from siyu.security import service as security

    _settings, db = setup()
    target = _operator_named(db, email)
    principal = acting(db, target.workspace_id, as_email, Permission.operators_manage)
    try:
        with db.session_scope() as session:
            reset = security.reset_password(session, principal, target.id)
    except SiyuError as exc:
        raise fail(exc) from exc
    out.print(f"[green]✓[/green] {reset.operator.email}: password reset; their sessions ended")
    _print_one_time_password(reset.one_time_password)
