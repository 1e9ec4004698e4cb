"""Every route of the application with the permissions it declares, and a URL for each that
names nothing, to call it with any role."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from siyu.security.auth import PermissionCheck
from siyu.security.enums import Permission


def _checks(dependant: Dependant) -> Iterator[PermissionCheck]:
    if isinstance(dependant.call, PermissionCheck):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _checks(sub)


def routes(app: FastAPI) -> list[tuple[str, str, tuple[Permission, ...] | None]]:
    """(method, path, permissions) of every route; None where no permission is declared."""
    found: list[tuple[str, str, tuple[Permission, ...] | None]] = []
    # Included routers are walked as the application resolves them (with their prefixes).
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            continue  # /static: the console's own CSS and JavaScript
        assert isinstance(route, Route), route
        checks = list(_checks(route.dependant)) if isinstance(route, APIRoute) else []
        needed = tuple(p for c in checks for p in c.permissions) if checks else None
        path = context.path or route.path
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append((method, path, needed))
    assert len(found) > 40
    return found


def url_for_nothing(path: str) -> str:
    """The route's path with ids that exist nowhere: an allowed call finds nothing and changes
    nothing."""
    return re.sub(r"\{[^}]+\}", "999999", path)
