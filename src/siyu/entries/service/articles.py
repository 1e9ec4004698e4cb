"""Article reuse: OA articles registered for the Mini Program to open in a web-view (a linked
OA's articles need no business domain), each open attributed on the member's timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.entries import errors, repository
from siyu.entries.models import Article
from siyu.entries.schemas import ArticleCreate, ArticleOpened, ArticleRead
from siyu.entries.service.common import Actor, audit, created_by, official_account
from siyu.identity import service as identity
from siyu.workspaces import service as workspaces
from siyu.workspaces.schemas import AppRead

ARTICLE_OPEN_DEDUPE = timedelta(minutes=1)  # a double tap without open_id counts once


def _article_read(row: Article, appid: str) -> ArticleRead:
    return ArticleRead(
        id=row.id,
        oa_appid=appid,
        title=row.title,
        url=row.url,
        query=f"from=article&id={row.id}",
        created_at=row.created_at,
    )


def add_article(
    session: Session, workspace_id: int, data: ArticleCreate, *, actor: Actor
) -> ArticleRead:
    """Register an OA article (once per url), audited."""
    oa = official_account(session, workspace_id, data.oa_appid)
    row = Article(
        workspace_id=workspace_id,
        oa_app_id=oa.id,
        title=data.title,
        url=data.url,
        created_by=created_by(actor),
        created_at=clock.now(),
    )
    try:
        repository.add_in_savepoint(session, row)
    except IntegrityError as exc:
        raise errors.ARTICLE_EXISTS("this article is registered already") from exc
    audit(
        session,
        actor,
        "entries.article_added",
        workspace_id=workspace_id,
        target=("article", row.id),
    )
    return _article_read(row, oa.appid)


def list_articles(session: Session, workspace_id: int) -> list[ArticleRead]:
    rows = repository.list_articles(session, workspace_id)
    apps = workspaces.get_apps_by_id(session, list({r.oa_app_id for r in rows}))
    return [_article_read(r, apps[r.oa_app_id].appid) for r in rows]


def articles_for_mp(session: Session, mp: AppRead) -> list[ArticleRead]:
    """The articles this Mini Program may open: those of the OAs linked to it."""
    oa_ids = repository.linked_oa_ids(session, mp.id)
    rows = repository.list_articles_of_oas(session, mp.workspace_id, oa_ids)
    apps = workspaces.get_apps_by_id(session, oa_ids)
    return [_article_read(r, apps[r.oa_app_id].appid) for r in rows]


def record_article_open(
    session: Session, mp: AppRead, member_id: int, article_id: int, open_id: str | None
) -> ArticleOpened:
    """`mp.page_view` with `from=article&id=…` on the member's timeline; the same open again
    (same open_id, or within a minute without one) is not counted twice."""
    row = session.get(Article, article_id)
    if row is None or row.workspace_id != mp.workspace_id:
        raise errors.ARTICLE_NOT_FOUND(f"no article {article_id}")
    if row.oa_app_id not in repository.linked_oa_ids(session, mp.id):
        raise errors.ARTICLE_OA_NOT_LINKED(
            "the Mini Program opens only articles of OAs linked to it"
        )
    now = clock.now()
    seen = repository.article_open_seen(
        session,
        identity.events_table(),
        workspace_id=mp.workspace_id,
        member_id=member_id,
        mp_app_id=mp.id,
        article_id=article_id,
        open_id=open_id,
        since=now - ARTICLE_OPEN_DEDUPE,
    )
    if seen:
        return ArticleOpened(article_id=row.id, url=row.url, recorded=False)
    props: dict[str, Any] = {"from": "article", "article_id": row.id, "path": row.url[:256]}
    if open_id is not None:
        props["open_id"] = open_id
    identity.record_event(
        session, mp.workspace_id, member_id, "mp.page_view", now, app_id=mp.id, props=props
    )
    return ArticleOpened(article_id=row.id, url=row.url, recorded=True)
