"""What the heat index and the alerts read of hot issues: requests (their memberships) and outside posts, as rows
of one shape."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Integer, Subquery, literal, null, select, union_all

from chengzhi.warning.models import HotIssueMember, OutsidePost


def contributions(since: dt.datetime) -> Subquery:
    """What the heat index and the alerts read of hot issues since `since`: one row per request (its membership)
    and one per outside post (`outside` = 1), with the same columns: issue_id, person, supports, dislikes,
    received_at, area_unit_id, unit_path, negativity (the request's label, kept on its membership), outside."""
    M, P = HotIssueMember, OutsidePost
    requests_part = select(
        M.issue_id.label("issue_id"),
        M.person.label("person"),
        M.supports.label("supports"),
        literal(0).label("dislikes"),
        M.received_at.label("received_at"),
        M.area_unit_id.label("area_unit_id"),
        M.unit_path.label("unit_path"),
        M.negativity.label("negativity"),
        literal(0).label("outside"),
    ).where(M.received_at >= since)
    posts_part = select(
        P.issue_id,
        P.person,
        P.likes,
        P.dislikes,
        P.received_at,
        null().cast(Integer),
        P.unit_path,
        null().cast(Float),
        literal(1),
    ).where(P.issue_id.is_not(None), P.received_at >= since)
    return union_all(requests_part, posts_part).subquery("contributions")
