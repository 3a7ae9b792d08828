"""A dispatcher merges requests of a hot issue in the workflow in one step.

Grouping requests into hot issues is analysis and never touches the workflow; merging requests is a dispatcher's
decision. From a hot issue's page (or `POST /api/v1/warning/hot-issues/{id}/merge-requests`) a dispatcher picks the
primary request and ticks others of the issue; each is merged into the primary's workflow issue by the requests
domain's own step (`requests.service.merge_request`: the usual `merge` event, with its permission and scope checks),
all in the caller's transaction: every request is merged or none is.

Refused before anything is written, naming the requests: a primary or a request not in the issue (as the viewer's
scope sees it), a closed request, a request outside the dispatcher's scope. Requests already in the primary's
workflow issue are left as they are (reported as such).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.errors import Forbidden, Invalid
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, require_role
from chengzhi.requests import access as requests_access
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as requests_service
from chengzhi.requests.workflow import TRANSITIONS, Action, Status
from chengzhi.warning.models import HotIssueDecision, HotIssueMember
from chengzhi.warning.service import get_issue, issue_scope

MERGE_ROLE = Role.dispatcher
MAX_REQUESTS = 500
# The statuses the workflow merges from (every status but closed), read from the workflow itself.
MERGEABLE = frozenset(s.value for s in TRANSITIONS[Action.merge].sources if isinstance(s, Status))


@dataclass
class MergeChoice:
    """Whether the dispatcher may merge one request of the issue, and why not."""

    request_id: int
    offered: bool
    why_not: str = ""  # "closed" or "out_of_scope"
    workflow_issue_id: int | None = None  # the workflow issue it is merged in already, if any


@dataclass
class RequestsMerged:
    issue_id: int  # the hot issue
    workflow_issue_id: int  # the workflow issue the requests are merged in (the primary's)
    primary: str  # tracking numbers from here on
    merged: list[str] = field(default_factory=list)
    already: list[str] = field(
        default_factory=list
    )  # in the primary's workflow issue before: left as they were

    def as_dict(self) -> dict[str, Any]:
        return {
            "hot_issue": self.issue_id,
            "workflow_issue": self.workflow_issue_id,
            "primary": self.primary,
            "merged": self.merged,
            "already_merged": self.already,
        }


def _in_dispatch_scope(actor: Actor, paths: Sequence[str]) -> bool:
    # The workflow's own rule for a merge (requests.steps: a dispatcher covering a unit that holds the request).
    return any(actor.covers(path, MERGE_ROLE) for path in paths)


def merge_choices(session: Session, actor: Actor, request_ids: Sequence[int]) -> dict[int, MergeChoice]:
    """For the issue's page: which of these requests the actor may merge (open and in their scope as a
    dispatcher). Empty for anyone who is not a dispatcher."""
    if not actor.has_role(MERGE_ROLE) or not request_ids:
        return {}
    rows = {r.id: r for r in requests_queries.requests_by_ids(session, list(request_ids))}
    paths = requests_access.unit_paths_by_request(session, list(rows))
    found = {}
    for request_id, row in rows.items():
        why = (
            "closed"
            if row.status not in MERGEABLE
            else ("" if _in_dispatch_scope(actor, paths[request_id]) else "out_of_scope")
        )
        found[request_id] = MergeChoice(request_id, not why, why, row.issue_id)
    return found


def _refs(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items)


def merge_requests(
    session: Session,
    actor: Actor,
    unit: Unit,
    issue_id: int,
    primary_id: int,
    request_ids: Sequence[int],
    note: str | None = None,
) -> RequestsMerged:
    """Merges `request_ids` (requests of the hot issue) into the workflow issue of `primary_id` (one of them too).
    Adds and flushes; the caller commits (or rolls back: nothing is merged unless everything is)."""
    require_role(actor, MERGE_ROLE)
    issue = get_issue(session, unit, issue_id)
    others = [int(i) for i in dict.fromkeys(request_ids) if int(i) != primary_id]
    if primary_id < 1 or not others:
        raise Invalid("hot_merge_nothing")
    if len(others) >= MAX_REQUESTS:
        raise Invalid("hot_merge_too_many", limit=MAX_REQUESTS)
    wanted = [primary_id, *others]
    members = set(
        session.scalars(
            select(HotIssueMember.request_id).where(
                HotIssueMember.issue_id == issue.id,
                HotIssueMember.request_id.in_(wanted),
                issue_scope(unit),
            )
        )
    )
    if primary_id not in members:
        raise Invalid("hot_merge_primary_not_member", ref=primary_id)
    strangers = [i for i in others if i not in members]
    if strangers:
        raise Invalid("hot_merge_not_members", refs=_refs(strangers))
    # Lock the rows in id order (two dispatchers merging overlapping requests wait for each other, no deadlock).
    rows = {}
    for request_id in sorted(wanted):
        row = requests_queries.request_for_update(session, request_id=request_id)
        if row is not None:
            rows[request_id] = row
    if set(rows) != set(wanted):  # a request deleted since it was placed
        raise Invalid("hot_merge_not_members", refs=_refs(sorted(set(wanted) - set(rows))))
    closed = [rows[i].tracking_number for i in wanted if rows[i].status not in MERGEABLE]
    if closed:
        raise Invalid("hot_merge_closed", refs=_refs(closed))
    paths = requests_access.unit_paths_by_request(session, wanted)
    outside = [rows[i].tracking_number for i in wanted if not _in_dispatch_scope(actor, paths[i])]
    if outside:
        raise Forbidden("hot_merge_out_of_scope", refs=_refs(outside))

    primary = rows[primary_id]
    done = RequestsMerged(issue.id, 0, primary.tracking_number)
    for request_id in others:
        row = rows[request_id]
        if primary.issue_id is not None and row.issue_id == primary.issue_id:
            done.already.append(row.tracking_number)
            continue
        requests_service.merge_request(session, actor, row, primary, note)
        done.merged.append(row.tracking_number)
    done.workflow_issue_id = int(primary.issue_id or 0)
    session.add(
        HotIssueDecision(
            kind="merge_requests",
            issue_id=issue.id,
            detail={"primary": primary_id, "requests": others, "workflow_issue": done.workflow_issue_id},
            user_id=actor.user_id,
            note=note,
        )
    )
    session.flush()
    return done
