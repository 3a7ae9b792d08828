"""API for dispatchers: the open requests and issues that may be the same problem as a request."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from chengzhi.deps import ActorDep, LanguageDep, SessionDep
from chengzhi.errors import Forbidden, NotAuthenticated
from chengzhi.requests import service as svc
from chengzhi.requests.schemas import CategoryRef
from chengzhi.routing import duplicates, duplicates_index

router = APIRouter(prefix="/api/v1", tags=["requests"])


class DuplicateCandidate(BaseModel):
    tracking_number: str = Field(description='Merge with POST /requests/{number}/merge {"into": this}.')
    title: str
    status: str
    status_name: str
    category: CategoryRef | None
    received_at: dt.datetime
    issue_id: int | None = Field(description="The issue it is part of; merging joins that issue.")
    issue_size: int | None = Field(description="How many requests the issue holds.")
    score: float = Field(description="0-1: text similarity, place and category combined.")
    text_similarity: float = Field(description="Jaccard similarity of the character shingles, 0-1.")
    distance_m: float | None = Field(description="Between the two points (map or text), if both have one.")
    category_relation: str = Field(description="same, related (same group), different or unknown.")
    reasons: list[str]


class DuplicatesPublic(BaseModel):
    tracking_number: str
    index: str
    candidates: list[DuplicateCandidate]


@router.get(
    "/requests/{ref}/duplicates",
    response_model=DuplicatesPublic,
    summary="Open requests and issues that may be the same problem",
)
def read_duplicates(
    ref: str,
    session: SessionDep,
    actor: ActorDep,
    lang: LanguageDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    min_score: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False)] = duplicates.MIN_SCORE,
) -> DuplicatesPublic:
    """Staff who may see the request; candidates are limited to the requests they may see too."""
    if actor.is_anonymous:
        raise NotAuthenticated()
    request = svc.get_request(session, actor, ref)
    if not actor.is_staff:
        raise Forbidden()
    found = duplicates.find_duplicates(session, actor, request, limit=limit, min_score=min_score)
    return DuplicatesPublic(
        tracking_number=request.tracking_number,
        index=duplicates_index.INDEX_NAME,
        candidates=[
            DuplicateCandidate(
                tracking_number=c.request.tracking_number,
                title=c.request.title,
                status=c.request.status,
                status_name=duplicates.status_name(c.request.status, lang),
                category=CategoryRef(code=c.request.category_code, name=c.request.category_name(lang) or "")
                if c.request.category_code
                else None,
                received_at=c.request.received_at,
                issue_id=c.request.issue_id,
                issue_size=c.issue_size,
                score=c.score,
                text_similarity=c.text_similarity,
                distance_m=c.distance_m,
                category_relation=c.category_relation,
                reasons=c.reasons(lang),
            )
            for c in found
        ],
    )
