"""The demo city (`chengzhi demo`): organisation, areas, categories, staff and a year of requests.

Everything is made with the platform's own services (`create_unit`, `create_category`, `create_user`,
`submit_request`, `dispatch_request`, ...), so every history is legal by construction and the projections are what
the event log says. The same seed and the same `now` give the same city and the same requests (tracking numbers
aside: they are random by design).

After intake, histories are simulated in time order across all requests (a heap of per-request stories, each a
generator that says when it acts next), so that a duplicate is merged into a request that is still open at that
moment, and overdue stages are flagged when the periodic job would have flagged them.

The parts: `city` (organisation, areas, categories, accounts), `plans` (each request's arrival, kind of history,
category, place and words), `simulation` (the histories), `staging` (the way to a server database); this module is
the entry point.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.categories.models import Category
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, transaction, utcnow
from chengzhi.demo import warning as demo_warning
from chengzhi.demo.audit import record_demo_views
from chengzhi.demo.city import DEMO_PASSWORD, build_city
from chengzhi.demo.credit import make_credit
from chengzhi.demo.identity import verify_and_share
from chengzhi.demo.knowledge import add_articles
from chengzhi.demo.opendata import publish_demo_data
from chengzhi.demo.participation import subscribe_webhook, take_part
from chengzhi.demo.plans import make_plans
from chengzhi.demo.publications import publish_demo
from chengzhi.demo.simulation import Simulation
from chengzhi.demo.staging import generate_through_staging
from chengzhi.migrate import upgrade
from chengzhi.org.models import Unit, UnitKind, User
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.routing import registry, rules
from chengzhi.routing.classifier_features import ClassifierError
from chengzhi.worker import intake as triage_intake
from chengzhi.worker.runner import drain

log = logging.getLogger(__name__)
T = TypeVar("T")


def _count_units(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Unit)) or 0)


def summarise(session: Session) -> dict[str, Any]:
    """Counts of what the database holds (units by kind, categories, users, requests by status, events)."""
    kinds = dict(session.execute(select(Unit.kind, func.count()).group_by(Unit.kind)).all())
    statuses = dict(session.execute(select(Request.status, func.count()).group_by(Request.status)).all())
    actions = dict(
        session.execute(select(RequestEvent.action, func.count()).group_by(RequestEvent.action)).all()
    )
    return {
        "units": {kind.value: int(kinds.get(kind, 0)) for kind in UnitKind},
        "categories": int(session.scalar(select(func.count()).select_from(Category)) or 0),
        "users": int(session.scalar(select(func.count()).select_from(User)) or 0),
        "requests": int(sum(statuses.values())),
        "requests_by_status": {k: int(v) for k, v in sorted(statuses.items())},
        "events": int(sum(actions.values())),
        "events_by_action": {k: int(v) for k, v in sorted(actions.items())},
    }


def generate_demo_city(
    settings: Settings,
    seed: int = 12345,
    n_requests: int = 6000,
    if_empty: bool = False,
    now: dt.datetime | None = None,
    train_model: bool = False,
    text_data: Path | None = None,
    staged: bool = False,
) -> dict[str, Any]:
    """Build the demo city in `settings.database_url` and return a JSON-able summary.

    With `train_model`, a category model is then trained from the city's requests and activated (as a city does
    with `chengzhi model train --from-db --activate`), so that new requests get the model's suggestion and those
    it is sure of are dispatched automatically.

    A sentiment and type model is trained first from `text_data` (a labelled CSV, see `chengzhi hot train-text`)
    unless one exists; the alerts of the city's history are raised at the end.

    With `if_empty`, a database that already has units is left alone. The same `seed` and `now` give the same
    data. Everything is written in one transaction: a failure leaves the database as it was.

    A server database (PostgreSQL) gets the city through a staging SQLite file: the histories take some 15
    statements per request, which cost a network round trip each on a server and nothing in-process; the
    finished rows are then copied over in a few bulk inserts. With `staged`, SQLite too: a server already running
    on the database (`make run` serves first) keeps working on it meanwhile and waits only for the copy.
    """
    if settings.environment == "production":
        raise RuntimeError("the demo city has published passwords: it is not generated in production")
    upgrade(settings.database_url)
    with get_sessionmaker(settings.database_url)() as session:
        existing = _count_units(session)
        occupied = [
            model.__tablename__
            for model in (Category, User, Request)
            if session.scalar(select(func.count()).select_from(model))
        ]
    if existing:
        if if_empty:
            return {
                "created": False,
                "reason": "the database already has units; nothing was generated",
                "units": existing,
            }
        raise RuntimeError("the database already has units: the demo city goes into an empty database")
    if occupied:
        raise RuntimeError(f"{', '.join(occupied)} not empty: the demo city goes into an empty database")
    now = (now or utcnow()).astimezone(dt.UTC)
    started = time.perf_counter()
    # Before the requests come in: the triage worker labels them as it places them.
    text_model = demo_warning.train_text_model(settings, text_data)
    if settings.is_sqlite and not staged:
        summary = _generate(settings, get_sessionmaker(settings.database_url), seed, n_requests, now)
    else:
        summary = generate_through_staging(
            settings, lambda staging, factory: _generate(staging, factory, seed, n_requests, now)
        )
    # Open data last, on the database itself (its tables are made per resource, outside the staging copy).
    publishing = time.perf_counter()
    summary["opendata"] = _on_target(
        settings, lambda session: publish_demo_data(session, settings, seed, now)
    )
    summary["seconds"]["opendata"] = round(time.perf_counter() - publishing, 2)
    summary["text_model"] = text_model
    summary["outside_posts"] = _on_target(settings, lambda s: demo_warning.add_posts(s, settings, now))
    summary["alerts"] = _on_target(settings, lambda s: demo_warning.raise_alerts(s, settings, now))
    if train_model:
        training = time.perf_counter()
        summary["model"] = _train_model(settings)
        summary["seconds"]["model"] = round(time.perf_counter() - training, 2)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 2)
    log.info("demo city generated: %s requests in %.1f s", summary["requests"], time.perf_counter() - started)
    return summary


def _on_target(settings: Settings, step: Callable[[Session], T], attempts: int = 6) -> T:
    """One step on the database itself, in a transaction of its own. A server running on the same SQLite database
    (`make run`) may hold the write lock past the busy timeout while its jobs catch up on the city just copied in:
    the step is then tried again (the failed attempt rolled back) rather than lost."""
    for attempt in range(attempts):
        try:
            with transaction(get_sessionmaker(settings.database_url)) as session:
                return step(session)
        except OperationalError as error:
            if not settings.is_sqlite or "locked" not in str(error) or attempt == attempts - 1:
                raise
            log.info("demo: the database is busy, trying again (%s)", attempt + 1)
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def _train_model(settings: Settings) -> dict[str, Any]:
    """The demo's first category model, trained from its requests and activated; or why there is none."""
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            row = registry.train_from_db(session, settings=settings, activate=True, note="demo", actor="demo")
            facts = registry.describe(row)
    except ClassifierError as error:
        return {"trained": False, "reason": str(error)}
    keys = ("version", "data_rows", "labels", "macro_f1", "accuracy", "auto_dispatch_share", "left_out")
    return {"trained": True, **{k: facts[k] for k in keys}}


def _generate(
    settings: Settings, factory: sessionmaker[Session], seed: int, n_requests: int, now: dt.datetime
) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(f"chengzhi-demo:{seed}:city")
    tz = ZoneInfo(settings.timezone)
    try:
        with transaction(factory) as session:
            demo = build_city(session, rng)
            demo_warning.add_words(session)
            webhook = subscribe_webhook(session, settings, now)
            rules.invalidate()
            organised = time.perf_counter()
            plans = make_plans(seed, n_requests, now, demo.communities, tz)
            simulation = Simulation(session, settings, demo, now)
            simulation.articles = add_articles(session, demo, now)
            simulation.run(plans)
            credit = make_credit(session, demo, seed, now.astimezone(tz).date())
            identity = verify_and_share(session, demo, now)
        # The city's history was triaged when it came in: the triage worker reads it now, before anyone looks.
        triaged = time.perf_counter()
        drain(factory, settings, triage_intake.process, batch=500)
        with transaction(factory) as session:
            summary = summarise(session)
            # Publishing settings of the city itself do not hold back the demo's own notices.
            summary["publications"] = publish_demo(
                session, settings.model_copy(update={"publish_moderation": False}), demo, now
            )
            summary["participation"] = take_part(session, settings, demo, now)
            summary["webhook"] = webhook
            summary["contact_views"] = record_demo_views(session, now)
    finally:
        rules.invalidate()
    summary.update(
        credit,
        identity=identity,
        created=True,
        seed=seed,
        now=now.isoformat(),
        password=DEMO_PASSWORD,
        accounts=demo.accounts,
        scenarios=dict(sorted(Counter(p.scenario for p in plans).items())),
        seconds={
            "organisation": round(organised - started, 2),
            "requests": round(triaged - organised, 2),
            "triage": round(time.perf_counter() - triaged, 2),
        },
    )
    return summary
