"""The blind index of members' profiles: keyed hashes of a display name's and a remark's
character pairs, so that a search finds "小明" in "王小明" without the database holding text."""

from __future__ import annotations

import unicodedata

from sqlalchemy.orm import Session

from siyu.core.crypto import hasher
from siyu.identity import repository

TERM_CONTEXT = "member.profile"
MAX_TERMS = 400  # a 32-character name and a 200-character remark make at most ~230 pairs


def _normal(text: str) -> str:
    """What a search compares: NFKC (full-width letters and digits), case-folded, no spaces."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _pairs(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _digest(kind: str, piece: str) -> str:
    return hasher().digest(f"{kind}:{piece}", TERM_CONTEXT)


def profile_terms(*texts: str) -> set[str]:
    """The keyed hashes a profile is found by: each pair of adjacent characters, and each text
    whole (so that a one-character name is found too)."""
    terms: set[str] = set()
    for text in texts:
        normal = _normal(text)
        if not normal:
            continue
        terms.add(_digest("whole", normal))
        terms |= {_digest("pair", p) for p in _pairs(normal)}
    return set(list(terms)[:MAX_TERMS]) if len(terms) > MAX_TERMS else terms


def query_terms(query: str) -> list[str]:
    """The hashes a member must hold to match `query` (empty when there is nothing to find)."""
    normal = _normal(query)
    if not normal:
        return []
    if len(normal) == 1:
        return [_digest("whole", normal)]
    return sorted({_digest("pair", p) for p in _pairs(normal)})


def find_by_profile(session: Session, workspace_id: int, query: str, limit: int) -> list[int]:
    terms = query_terms(query)
    if not terms:
        return []
    return repository.member_ids_with_terms(session, workspace_id, terms, limit)
