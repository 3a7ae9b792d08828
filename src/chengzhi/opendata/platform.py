"""The platform's own data, published by a periodic job: every request as an anonymised row (the days up to
yesterday, appended once each), and the three rates of each unit under the city per month (rebuilt when new days
arrive), as two datasets of the city open without conditions. Both come from metrics' published read API, so
that anyone can recompute the published rates from the published rows."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import NotFound
from chengzhi.jobs.service import last_result
from chengzhi.metrics import published
from chengzhi.opendata import datastore, docs, service
from chengzhi.opendata.models import Dataset, DatasetStatus, OpenLevel, Resource, new_id
from chengzhi.opendata.resources import refresh_quality
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, RoleGrant, city_unit

REQUESTS = "city-requests"
RATES = "city-three-rates"


def _city(session: Session) -> Unit | None:
    try:
        return city_unit(session)
    except NotFound:
        return None


def platform_actor(city: Unit) -> Actor:
    """The job acts as a data publisher of the city (no user: history rows name no one)."""
    return Actor(
        user_id=None, username="platform", grants=(RoleGrant(Role.data_publisher, city.id, city.path),)
    )


def _dataset(
    session: Session,
    actor: Actor,
    city: Unit,
    name: str,
    title: str,
    title_en: str,
    notes: str,
    frequency: str,
) -> Dataset:
    ds = service.find_dataset(session, name)
    if ds is not None:
        return ds
    data = service.DatasetInput(
        name=name,
        title=title,
        title_en=title_en,
        notes=notes,
        unit_id=city.id,
        open_level=OpenLevel.unconditional,
        license_id="cc-by-4.0",
        frequency=frequency,
        themes=["government", "regions"],
        tags=["12345", "接诉即办"],
        spatial_unit_id=city.id,
        contact_name="12345",
    )
    return service.create_dataset(session, actor, data)


def _table_resource(session: Session, ds: Dataset, name: str, fields: list[dict[str, Any]]) -> Resource:
    if ds.resources:
        return ds.resources[0]
    res = Resource(id=new_id(), dataset_id=ds.id, position=0, name=name, format="CSV", fields=[], quality={})
    ds.resources.append(res)
    session.flush()
    datastore.create_table(session.connection(), res, fields)
    return res


def publish_platform_data(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Appends the requests of the days not yet published (up to yesterday) and rebuilds the monthly rates."""
    city = _city(session)
    if city is None:
        return {"skipped": "no city"}
    zone = ZoneInfo(settings.timezone)
    yesterday = now.astimezone(zone).date() - dt.timedelta(days=1)
    first, last = published.request_days(session)
    if first is None or last is None:
        return {"skipped": "no requests"}
    actor = platform_actor(city)
    requests_ds = _dataset(
        session,
        actor,
        city,
        REQUESTS,
        "12345 诉求明细（匿名）",
        "12345 requests (anonymised)",
        "每件诉求一行：受理日期与小时、渠道、类别、区和街道、状态、是否按时响应、是否超期、是否解决、是否满意。"
        "不含诉求内容、联系方式、地址和编号。",
        "daily",
    )
    table = _table_resource(session, requests_ds, "requests", published.REQUEST_FIELDS)
    done = session.scalar(select(func.max(datastore.table_for(table).c["c1"])))
    through = min(last, yesterday)
    if done is not None and done >= through:
        return {"requests_added": 0, "through": done.isoformat()}
    added = datastore.append(
        session.connection(), table, published.anonymised_requests(session, done, through, zone)
    )
    table.modified_at = now
    rates_ds = _dataset(
        session,
        actor,
        city,
        RATES,
        "12345 三率（按单位、按月）",
        "12345 three rates (by unit and month)",
        "响应率、解决率、满意率及其分子分母，按市级以下各单位和月份统计，可由诉求明细数据集重新计算。",
        "daily",
    )
    rates = _table_resource(session, rates_ds, "three-rates", published.RATE_FIELDS)
    datastore.create_table(session.connection(), rates, published.RATE_FIELDS)
    datastore.append(session.connection(), rates, published.monthly_rates(session, city, first, through))
    rates.modified_at = now
    for ds in (requests_ds, rates_ds):
        ds.version += 1
        refresh_quality(ds, now)
        if ds.status != DatasetStatus.published:
            service.publish_dataset(session, actor, ds, now=now)
        else:
            service.record_version(session, ds, "refreshed", actor, ["resources"], now=now)
    return {"requests_added": added, "through": through.isoformat(), "rate_rows": rates.row_count}


QUALITY_BATCH = 500


def recheck_quality(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The scheduled quality check: re-scores the next batch of published datasets (freshness against their
    frequency changes with time alone), going round the catalogue by id, a batch per run."""
    previous = last_result(session, "opendata_quality") or {}
    after = str(previous.get("after") or "")
    batch = list(
        session.scalars(
            select(Dataset)
            .where(Dataset.status == DatasetStatus.published, Dataset.id > after)
            .order_by(Dataset.id)
            .limit(QUALITY_BATCH)
        )
    )
    for ds in batch:
        before = (ds.quality or {}).get("score")
        if refresh_quality(ds, now).get("score") != before:
            docs.store(session, ds)
    # Datasets without a ready package dict (written before the table existed): built a batch at a time.
    rebuilt = docs.store_all(session, docs.missing(session, QUALITY_BATCH))
    return {
        "checked": len(batch),
        "docs_built": rebuilt,
        "after": batch[-1].id if len(batch) == QUALITY_BATCH else "",
    }
