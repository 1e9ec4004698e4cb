"""`siyu tokens create`: API tokens for scripts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from siyu.cli.common import err, fail, setup
from siyu.core.errors import SiyuError

tokens_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="the operator the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for")],
) -> None:
    """Create an API token (printed once)."""
    from siyu.security import service as security

    _settings, db = setup()
    try:
        with db.session_scope() as session:
            operator = security.get_operator_by_email(session, email)
            if operator is None:
                err.print(f"[red]no operator {email}[/red]")
                raise typer.Exit(1)
            token = security.create_api_token(session, operator.id, name)
    except SiyuError as exc:
        raise fail(exc) from exc
    sys.stdout.write(token.token + "\n")
