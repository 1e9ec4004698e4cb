"""`siyu`: the root command. Each command group lives in its own module beside this one; each
command is an entrypoint that owns its transactions (see `siyu.cli.common`)."""

from __future__ import annotations

import typer

from siyu.cli import (
    analytics,
    apps,
    autoreply,
    coupons,
    demo,
    entries,
    imports,
    keys,
    leads,
    members,
    operators,
    pay,
    points,
    reach,
    reports,
    segments,
    serve,
    tags,
    tokens,
)
from siyu.sandbox import cli as sandbox_cli

app = typer.Typer(
    help="siyu (私域): private-domain operations for the WeChat ecosystem.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(apps.apps_app, name="apps")
app.add_typer(imports.import_app, name="import")
app.add_typer(members.members_app, name="members")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(tokens.tokens_app, name="tokens")
app.add_typer(operators.operators_app, name="operators")
app.add_typer(pay.pay_app, name="pay")
app.add_typer(points.points_app, name="points")
app.add_typer(reports.report_app, name="report")
reports.report_app.command("index")(analytics.report_index)
reports.report_app.command("funnel")(analytics.report_funnel)
reports.report_app.command("retention")(analytics.report_retention)
app.add_typer(analytics.analytics_app, name="analytics")
app.add_typer(autoreply.autoreply_app, name="autoreply")
app.add_typer(coupons.coupons_app, name="coupons")
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(demo.demo_app, name="demo")
app.add_typer(entries.menus_app, name="menus")
app.add_typer(entries.channels_app, name="channels")
app.add_typer(segments.segments_app, name="segments")
app.add_typer(leads.leads_app, name="leads")
app.add_typer(tags.tags_app, name="tags")
app.command()(serve.migrate)
app.command()(serve.bootstrap)
app.command()(serve.serve)
app.command()(serve.worker)
app.command()(reach.notify)
