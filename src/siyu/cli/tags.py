"""`siyu tags sync TAG --app APPID`: keep an Official Account's user tag equal to a siyu tag,
and `siyu tags import --app APPID`: the OA's own tags as siyu tags."""

from __future__ import annotations

from typing import Annotated

import typer

from siyu.cli.common import (
    AsOption,
    WorkspaceOption,
    acting,
    choose_workspace,
    fail,
    out,
    setup,
)
from siyu.core.errors import SiyuError
from siyu.security.enums import Permission

tags_app = typer.Typer(help="Official Account user tags kept equal to siyu tags.")

AppOption = Annotated[str, typer.Option("--app", help="the Official Account's appid")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]

SKIP_WORDS = {"not_following": "不是公众号粉丝", "user_tag_limit": "已带满 20 个标签"}


@tags_app.command("sync")
def sync(
    tag: Annotated[str, typer.Argument(help="the siyu tag, or with --segment a segment's name")],
    app: AppOption,
    segment: Annotated[
        bool, typer.Option("--segment", help="TAG names a segment (人群), not a tag")
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Sync a siyu tag (or a segment) to the OA tag of the same name (made if missing) and
    print the report: tagged, untagged, skipped and why. A sync that stopped resumes."""
    from siyu.audience import service
    from siyu.audience.enums import OaTagSource

    kind = OaTagSource.segment if segment else OaTagSource.tag

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_tag)
    try:
        with db.session_scope() as session:
            mapping = service.find_or_create_oa_tag_sync(
                session, workspace_id, app, tag, principal, kind
            )
        report = service.sync_oa_tag(db, mapping.id, workspace_id=workspace_id)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        out.print_json(
            data={
                "sync": mapping.id,
                "appid": mapping.appid,
                "tag": mapping.source,
                "oa_tag": mapping.oa_tag_name,
                **report.model_dump(mode="json", exclude={"error"}),
            }
        )
        return
    out.print(f"{mapping.source} → {mapping.appid} 的标签“{mapping.oa_tag_name}”")
    out.print(f"tagged {report.tagged}, untagged {report.untagged}")
    for reason, count in report.skipped.items():
        out.print(f"skipped {count}: {reason} ({SKIP_WORDS.get(reason, reason)})")


@tags_app.command("import")
def import_tags(
    app: AppOption,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
    as_email: AsOption = None,
) -> None:
    """Import the OA's tags as siyu tags on the followers WeChat lists under them."""
    from siyu.audience import service

    _settings, db = setup()
    workspace_id = choose_workspace(db, workspace)
    principal = acting(db, workspace_id, as_email, Permission.members_tag)
    try:
        report = service.import_oa_tags(db, workspace_id, app, principal)
    except SiyuError as exc:
        raise fail(exc) from exc
    if as_json:
        out.print_json(data=report.model_dump(mode="json"))
        return
    out.print(f"tags {len(report.tags)}: {', '.join(report.tags)}")
    out.print(f"members tagged {report.members_tagged}, unknown followers {report.unknown_openids}")
