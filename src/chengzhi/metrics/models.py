"""One row of facts per request, derived from its event log, and the exclusions from the three rates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Column, Date, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class RequestFact(Base):
    """What the dashboards count about one request; rebuilt from its events at every new event (facts.py).

    `lead_l1..lead_l4` are the ids on the lead unit's path (city, district, street, community; departments sit at
    level 2 or 3): a unit's subtree is `lead_l<depth> = unit id`, one indexed equality on both databases.
    `area_*` are the territorial units containing the request's point.
    """

    __tablename__ = "request_facts"
    __table_args__ = (
        Index("ix_request_facts_day", "received_day"),
        Index("ix_request_facts_l2_day", "lead_l2", "received_day"),
        Index("ix_request_facts_l3_day", "lead_l3", "received_day"),
        Index("ix_request_facts_l4_day", "lead_l4", "received_day"),
        Index("ix_request_facts_refreshed_at", "refreshed_at"),
    )

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), primary_key=True, autoincrement=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_day: Mapped[dt.date] = mapped_column(Date)  # in the city's time zone
    received_week: Mapped[dt.date] = mapped_column(Date)  # its Monday
    received_month: Mapped[dt.date] = mapped_column(Date)  # its first day
    channel: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    lead_unit_id: Mapped[int | None] = mapped_column(Integer)
    lead_l1: Mapped[int | None] = mapped_column(Integer)
    lead_l2: Mapped[int | None] = mapped_column(Integer)
    lead_l3: Mapped[int | None] = mapped_column(Integer)
    lead_l4: Mapped[int | None] = mapped_column(Integer)
    area_district_id: Mapped[int | None] = mapped_column(Integer)
    area_street_id: Mapped[int | None] = mapped_column(Integer)
    area_community_id: Mapped[int | None] = mapped_column(Integer)
    dispatched: Mapped[bool] = mapped_column(Boolean, default=False)
    response_due: Mapped[bool] = mapped_column(Boolean, default=False)
    responded_on_time: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    satisfied: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded: Mapped[str | None] = mapped_column(String(20))
    returns: Mapped[int] = mapped_column(Integer, default=0)
    reopenings: Mapped[int] = mapped_column(Integer, default=0)
    co_handled: Mapped[bool] = mapped_column(Boolean, default=False)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    merged: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_stage: Mapped[str | None] = mapped_column(String(20))
    ever_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seconds spent in each stage (the first time through it); None where the stage was not reached.
    wait_s: Mapped[float | None] = mapped_column(Float)  # received -> first dispatch
    sign_s: Mapped[float | None] = mapped_column(Float)
    contact_s: Mapped[float | None] = mapped_column(Float)
    reply_s: Mapped[float | None] = mapped_column(Float)
    review_s: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetricExclusion(Base):
    """A request taken out of the three rates' denominators, with the reason. Rows are only ever inserted;
    the newest row of a request counts (reason "none" puts it back)."""

    __tablename__ = "metric_exclusions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))  # refused_to_rate, unreasonable, none
    note: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# What the daily roll-up counts, one column `n_<measure>` each (the predicates are metrics.measures.MEASURES).
ROLLUP_MEASURES = (
    "received",
    "dispatched",
    "response_denominator",
    "response_numerator",
    "response_pending",
    "follow_up_denominator",
    "resolution_numerator",
    "satisfaction_numerator",
    "excluded",
    "open",
    "overdue",
    "ever_overdue",
    "returned",
    "reopened",
    "co_handled",
    "extended",
    "merged",
    "closed",
    "status_received",
    "status_dispatched",
    "status_signed",
    "status_contacted",
    "status_replied",
    "status_reviewed",
    "status_closed",
    "status_returned",
    "status_reopened",
)
ROLLUP_STAGES = ("wait", "sign", "contact", "reply", "review")

# One row per received day and lead unit (lead_key 0: not dispatched), summed from request_facts
# (metrics/rollup.py); the dashboards read it instead of the facts when no category or channel filter applies.
metric_daily = Table(
    "metric_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("lead_key", Integer, primary_key=True, autoincrement=False),
    Column("lead_l1", Integer),
    Column("lead_l2", Integer),
    Column("lead_l3", Integer),
    Column("lead_l4", Integer),
    *[Column(f"n_{m}", Integer, nullable=False) for m in ROLLUP_MEASURES],
    *[Column(f"sum_{s}_s", Float, nullable=False) for s in ROLLUP_STAGES],
    *[Column(f"cnt_{s}", Integer, nullable=False) for s in ROLLUP_STAGES],
    Column("returns_sum", Integer, nullable=False),
    Column("reopenings_sum", Integer, nullable=False),
    Index("ix_metric_daily_l2_day", "lead_l2", "day"),
    Index("ix_metric_daily_l3_day", "lead_l3", "day"),
)

# When each received day was last summed into metric_daily.
metric_days = Table(
    "metric_days",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("rolled_at", UTCDateTime, nullable=False),
)

# One row per received day, category, channel and level-2 unit (district or city department; 0: none): what
# the dashboards read for category and channel figures of the city and of a district.
metric_daily_cat = Table(
    "metric_daily_cat",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("category_key", Integer, primary_key=True, autoincrement=False),
    Column("channel", String(20), primary_key=True),
    Column("lead_l2_key", Integer, primary_key=True, autoincrement=False),
    Column("lead_l1", Integer),
    *[Column(f"n_{m}", Integer, nullable=False) for m in ROLLUP_MEASURES],
    *[Column(f"sum_{s}_s", Float, nullable=False) for s in ROLLUP_STAGES],
    *[Column(f"cnt_{s}", Integer, nullable=False) for s in ROLLUP_STAGES],
    Column("returns_sum", Integer, nullable=False),
    Column("reopenings_sum", Integer, nullable=False),
)

# Stage-time histograms for the 90th percentiles over long spans (metrics/rollup.py sums them, service.py reads
# them). Bucket 0 holds times under HIST_FLOOR seconds; bucket k (1..HIST_TOP) holds
# [HIST_FLOOR * 2^((k-1)/HIST_STEPS), HIST_FLOOR * 2^(k/HIST_STEPS)); bucket HIST_TOP + 1 everything from
# HIST_FLOOR * 2^(HIST_TOP/HIST_STEPS) s (about 364 days) on.
HIST_FLOOR = 60.0
HIST_STEPS = (
    8  # buckets per doubling: a bucket's geometric middle is within 2^(1/16) - 1 = 4.4 % of any value in it
)
HIST_TOP = 19 * HIST_STEPS
HIST_BUCKETS = HIST_TOP + 2
HIST_COLUMNS = tuple(f"h{k:03d}" for k in range(HIST_BUCKETS))

HIST_ALL_CHANNELS = "*"

# One row per grain ("d": a received day, "m": a received month, its first day), level-2 unit (0: none), channel
# (HIST_ALL_CHANNELS: all of them) and stage, with the number of requests per bucket: the city's and a level-2
# unit's percentiles over any span (of all channels or one) sum the months wholly inside it and the days outside.
metric_stage_hist = Table(
    "metric_stage_hist",
    Base.metadata,
    Column("grain", String(1), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("lead_l2_key", Integer, primary_key=True, autoincrement=False),
    Column("channel", String(20), primary_key=True),
    Column("stage", String(10), primary_key=True),
    Column("lead_l1", Integer),
    *[Column(name, Integer, nullable=False) for name in HIST_COLUMNS],
)
