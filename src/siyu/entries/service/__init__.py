"""The entries service: what other domains, the console, the CLI and the routes call.

By topic: `associations` (OA ↔ MP links and their limits), `channels` (channels and codes),
`handoff` (the MP → OA hand-off page), `arrivals` (attribution, and the bus and reply handlers
`siyu.wiring` lists), `menus` (+ `menu_rules`, WeChat's menu rules), `articles`, `reports`,
`images` (codes to print) and `flows`: the operations that call WeChat, which take the
`Database` rather than a session because they commit before and after each call.
"""

from __future__ import annotations

from siyu.entries.service.arrivals import (
    ChannelHit,
    arrivals_of_channel,
    channel_by_slug,
    channel_for_scene,
    channel_welcome,
    on_launch,
    on_pushes,
    on_scan,
    on_subscribe,
    on_unsubscribe,
    record_arrival,
    record_unfollow,
    touches_of,
)
from siyu.entries.service.articles import (
    add_article,
    articles_for_mp,
    list_articles,
    record_article_open,
)
from siyu.entries.service.associations import (
    Limit,
    limits,
    link_apps,
    linked_mp_appids,
    list_associations,
    set_link_status,
    unlink_apps,
)
from siyu.entries.service.channels import (
    CodePlan,
    archive_channel,
    complete_code,
    create_channel,
    drop_code,
    find_channel,
    get_channel,
    get_code,
    list_channels,
    permanent_qr_count,
    plan_code,
)
from siyu.entries.service.common import DEFAULT_CONVERSION, Actor
from siyu.entries.service.conditional_menus import (
    delete_conditional_menu,
    list_conditional_menus,
    publish_conditional_menu,
    try_match_menu,
)
from siyu.entries.service.flows import (
    create_channel_with_code,
    issue_code,
    publish_menu,
    publish_new_menu,
)
from siyu.entries.service.handoff import Handoff, HandoffPage, handoff_for, open_handoff
from siyu.entries.service.images import PRINT_SIZES, code_image
from siyu.entries.service.menus import (
    get_menu,
    list_menus,
    live_menu,
    mark_menu,
    preview_menu,
    save_menu,
)
from siyu.entries.service.reports import (
    article_report,
    channel_report,
    channel_report_csv,
    conversion_event,
    follow_conversion,
    menu_report,
)
from siyu.entries.service.selections import channel_member_ids

__all__ = [
    "DEFAULT_CONVERSION",
    "PRINT_SIZES",
    "Actor",
    "ChannelHit",
    "CodePlan",
    "Handoff",
    "HandoffPage",
    "Limit",
    "add_article",
    "archive_channel",
    "arrivals_of_channel",
    "article_report",
    "articles_for_mp",
    "channel_by_slug",
    "channel_for_scene",
    "channel_member_ids",
    "channel_report",
    "channel_report_csv",
    "channel_welcome",
    "code_image",
    "complete_code",
    "conversion_event",
    "create_channel",
    "create_channel_with_code",
    "delete_conditional_menu",
    "drop_code",
    "find_channel",
    "follow_conversion",
    "get_channel",
    "get_code",
    "get_menu",
    "handoff_for",
    "issue_code",
    "limits",
    "link_apps",
    "linked_mp_appids",
    "list_articles",
    "list_associations",
    "list_channels",
    "list_conditional_menus",
    "list_menus",
    "live_menu",
    "mark_menu",
    "menu_report",
    "on_launch",
    "on_pushes",
    "on_scan",
    "on_subscribe",
    "on_unsubscribe",
    "open_handoff",
    "permanent_qr_count",
    "plan_code",
    "preview_menu",
    "publish_conditional_menu",
    "publish_menu",
    "publish_new_menu",
    "record_arrival",
    "record_article_open",
    "record_unfollow",
    "save_menu",
    "set_link_status",
    "touches_of",
    "try_match_menu",
    "unlink_apps",
]
