"""REST API of early warning under /api/v1/warning: the ranked hot issues of the viewer's unit (JSON or a CSV
download), one issue with its requests, and the staff's decisions (rename, merge, split)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep, UserDep
from chengzhi.org.service import require_role
from chengzhi.security.cells import safe_cell
from chengzhi.warning import hot, request_merge, service

router = APIRouter(prefix="/api/v1/warning", tags=["warning"])

IssueId = Annotated[int, Path(ge=1, le=MAX_ID)]
UnitQ = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Unit id (default: your own unit)")]
CSV_HEADERS = (
    "rank",
    "id",
    "heat",
    "name",
    "place_or_group",
    "messages",
    "people",
    "supports",
    "first_at",
    "last_at",
    "top_words",
    *(f"term_{name}" for name in hot.HEAT_TERMS),
)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _rows(views: list[service.HotIssueView]) -> list[list[Any]]:
    return [
        [
            v.rank,
            v.id,
            round(v.heat, 2),
            v.name,
            v.place_or_group,
            v.messages,
            v.people,
            v.supports,
            v.first_at.isoformat() if v.first_at else "",
            v.last_at.isoformat() if v.last_at else "",
            "、".join(v.top_words),
            *(round(v.contributions.get(name, 0.0), 2) for name in hot.HEAT_TERMS),
        ]
        for v in views
    ]


def _download(views: list[service.HotIssueView], fmt: str) -> Response:
    """The list as CSV (UTF-8 with BOM) or XLSX; every cell through `safe_cell` (names come from residents' words:
    text that a spreadsheet would run as a formula is neutralised)."""
    rows = [[safe_cell(v) for v in row] for row in _rows(views)]
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("hot_issues")
        sheet.append(list(CSV_HEADERS))
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        content: str | bytes = buffer.getvalue()
        media = XLSX
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_HEADERS)
        writer.writerows(rows)
        content, media = "\ufeff" + text.getvalue(), "text/csv; charset=utf-8"
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="hot_issues.{fmt}"'}
    )


@router.get("/hot-issues", response_model=None)
def list_hot_issues(
    session: SessionDep,
    settings: SettingsDep,
    actor: UserDep,
    unit: UnitQ = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    format: Annotated[
        Literal["json", "csv", "xlsx"], Query(description="json, or a csv or xlsx download")
    ] = "json",
) -> dict[str, Any] | Response:
    """The hottest issues of the unit's subtree, each with its heat terms (contributions in points of heat)."""
    scope = service.viewer_unit(session, actor, unit)
    views = service.hot_issues(session, settings, scope, utcnow(), limit=limit)
    if format in ("csv", "xlsx"):
        return _download(views, format)
    return {
        "unit": scope.id,
        "heat_weights": hot.HeatWeights().as_dict() | dict(settings.warning_heat_weights),
        "issues": [v.as_dict() for v in views],
    }


@router.get("/hot-issues/{issue_id}")
def get_hot_issue(
    issue_id: IssueId, session: SessionDep, actor: UserDep, unit: UnitQ = None
) -> dict[str, Any]:
    """One issue and its requests in the unit's subtree (newest first)."""
    scope = service.viewer_unit(session, actor, unit)
    issue = service.get_issue(session, scope, issue_id)
    members = service.issue_members(session, scope, issue_id)
    return {
        "id": issue.id,
        "name": issue.name,
        "name_locked": issue.name_locked,
        "place_or_group": issue.place_or_group,
        "top_words": issue.top_words,
        "merged_into": issue.merged_into_id,
        "requests": [
            {
                "id": m.request_id,
                "tracking_number": m.tracking_number,
                "title": m.title,
                "received_at": m.received_at.isoformat(),
                "similarity": m.similarity,
                "pinned": m.pinned,
            }
            for m in members
        ],
        "outside_posts": [p.as_dict() for p in service.issue_posts(session, scope, issue_id)],
    }


@router.get("/repeats")
def list_repeats(
    session: SessionDep,
    actor: UserDep,
    unit: UnitQ = None,
    at_least: Annotated[int, Query(ge=2, le=100)] = 3,
) -> dict[str, Any]:
    """Problems raised `at_least` times (default 3) from one place or by one person in the last 90 days."""
    scope = service.viewer_unit(session, actor, unit)
    found = service.repeats(session, scope, utcnow(), at_least=at_least)
    return {"unit": scope.id, "repeats": [r.as_dict() for r in found]}


class RenameIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class MergeIn(BaseModel):
    into: int = Field(ge=1, le=MAX_ID)


class SplitIn(BaseModel):
    request_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=1000)
    name: str | None = Field(default=None, max_length=200)


@router.post("/hot-issues/{issue_id}/rename")
def rename_hot_issue(
    issue_id: IssueId, body: RenameIn, session: SessionDep, actor: UserDep, unit: UnitQ = None
) -> dict[str, Any]:
    scope = service.viewer_unit(session, actor, unit)
    issue = service.rename_issue(session, actor, scope, issue_id, body.name)
    session.commit()
    return {"id": issue.id, "name": issue.name, "name_locked": issue.name_locked}


@router.post("/hot-issues/{issue_id}/merge")
def merge_hot_issue(
    issue_id: IssueId, body: MergeIn, session: SessionDep, actor: UserDep, unit: UnitQ = None
) -> dict[str, Any]:
    """Moves every request of this issue into issue `into` and closes this one."""
    scope = service.viewer_unit(session, actor, unit)
    target = service.merge_issues(session, actor, scope, issue_id, body.into)
    session.commit()
    return {"id": target.id, "name": target.name, "messages": target.message_count}


class MergeRequestsIn(BaseModel):
    primary: int = Field(ge=1, le=MAX_ID, description="The request the others are merged into (its id)")
    request_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=request_merge.MAX_REQUESTS, description="The requests to merge into it"
    )
    note: str | None = Field(default=None, max_length=2000)


@router.post("/hot-issues/{issue_id}/merge-requests")
def merge_hot_issue_requests(
    issue_id: IssueId, body: MergeRequestsIn, session: SessionDep, actor: UserDep, unit: UnitQ = None
) -> dict[str, Any]:
    """Dispatchers: merges requests of this hot issue into the primary's workflow issue, each by the workflow's
    usual merge step, all or none (refused for a primary or request not in the issue, closed, out of scope)."""
    require_role(actor, request_merge.MERGE_ROLE)
    scope = service.viewer_unit(session, actor, unit)
    done = request_merge.merge_requests(
        session, actor, scope, issue_id, body.primary, body.request_ids, body.note
    )
    session.commit()
    return done.as_dict()


@router.post("/hot-issues/{issue_id}/split", status_code=201)
def split_hot_issue(
    issue_id: IssueId, body: SplitIn, session: SessionDep, actor: UserDep, unit: UnitQ = None
) -> dict[str, Any]:
    """Moves the given requests of this issue into a new issue."""
    scope = service.viewer_unit(session, actor, unit)
    new = service.split_issue(session, actor, scope, issue_id, body.request_ids, body.name)
    session.commit()
    return {"id": new.id, "name": new.name, "messages": new.message_count}
