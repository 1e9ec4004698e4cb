"""The console's text, one module per area, each `MESSAGES: dict[str, Message]`; `merged()`
joins them and refuses a key that two areas define."""

from __future__ import annotations

from collections.abc import Mapping

from siyu.console.i18n.catalog import (
    account,
    analytics,
    apps,
    audit,
    autoreply,
    benefits,
    chrome,
    community,
    entries,
    events,
    forms,
    imports,
    leads,
    members,
    operators,
    overview,
    payments,
    points,
    reach,
    reach_templates,
    review,
    segments,
    simulator,
    tiers,
    tokens,
)
from siyu.console.i18n.plural import Message

AREAS: dict[str, Mapping[str, Message]] = {
    "chrome": chrome.MESSAGES,
    "forms": forms.MESSAGES,
    "account": account.MESSAGES,
    "overview": overview.MESSAGES,
    "members": members.MESSAGES,
    "segments": segments.MESSAGES,
    "payments": payments.MESSAGES,
    "review": review.MESSAGES,
    "imports": imports.MESSAGES,
    "apps": apps.MESSAGES,
    "audit": audit.MESSAGES,
    "operators": operators.MESSAGES,
    "simulator": simulator.MESSAGES,
    "events": events.MESSAGES,
    "community": community.MESSAGES,
    "reach": reach.MESSAGES,
    "autoreply": autoreply.MESSAGES,
    "points": points.MESSAGES,
    "entries": entries.MESSAGES,
    "tokens": tokens.MESSAGES,
    "reach_templates": reach_templates.MESSAGES,
    "leads": leads.MESSAGES,
    "analytics": analytics.MESSAGES,
    "tiers": tiers.MESSAGES,
    "benefits": benefits.MESSAGES,
}


class DuplicateKey(ValueError):
    """Two areas define the same key: one text would silently replace the other."""


def merged(areas: Mapping[str, Mapping[str, Message]]) -> dict[str, Message]:
    """Every area's messages in one dict; a key defined in two areas is an error."""
    found: dict[str, Message] = {}
    owner: dict[str, str] = {}
    for area, messages in areas.items():
        for key, message in messages.items():
            if key in owner:
                raise DuplicateKey(f"{key!r} is defined in both {owner[key]!r} and {area!r}")
            found[key] = message
            owner[key] = area
    return found
