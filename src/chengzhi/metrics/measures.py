"""What the dashboards count: each measure as a predicate on `request_facts`, and the stage-time columns.

The roll-ups (rollup.py) sum these predicates per day; the figures and drill-down lists (rates.py, drill.py) filter
by the same ones, so a number and its list cannot disagree. docs/metrics.md defines each measure.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, true

from chengzhi.metrics.models import RequestFact as F
from chengzhi.requests.workflow import OPEN_STATUSES, Status

STAGES = ("wait", "sign", "contact", "reply", "review")
STAGE_COLUMNS = {
    "wait": F.wait_s,
    "sign": F.sign_s,
    "contact": F.contact_s,
    "reply": F.reply_s,
    "review": F.review_s,
}

_in_response = and_(F.response_due.is_(True), func.coalesce(F.excluded, "") != "unreasonable")
_in_follow_up = and_(F.reviewed.is_(True), F.excluded.is_(None))

# measure -> the requests it counts (docs/metrics.md defines each)
MEASURES: dict[str, ColumnElement[bool]] = {
    "received": true(),
    "dispatched": F.dispatched.is_(True),
    "response_denominator": _in_response,
    "response_numerator": and_(_in_response, F.responded_on_time.is_(True)),
    "response_pending": and_(F.dispatched.is_(True), F.response_due.is_(False)),
    "follow_up_denominator": _in_follow_up,
    "resolution_numerator": and_(_in_follow_up, F.resolved.is_(True)),
    "satisfaction_numerator": and_(_in_follow_up, F.satisfied.is_(True)),
    "excluded": F.excluded.is_not(None),
    "open": F.status.in_([s.value for s in OPEN_STATUSES]),
    "overdue": F.overdue_stage.is_not(None),
    "ever_overdue": F.ever_overdue.is_(True),
    "returned": F.returns > 0,
    "reopened": F.reopenings > 0,
    "co_handled": F.co_handled.is_(True),
    "extended": F.extended.is_(True),
    "merged": F.merged.is_(True),
    "closed": F.status == Status.closed.value,
}
for _status in Status:
    MEASURES[f"status_{_status.value}"] = F.status == _status.value
