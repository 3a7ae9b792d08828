"""What the triage worker does for a batch of new requests, in the batch's one transaction.

Idempotent per request: a request no longer `triage_pending` was done by an earlier attempt whose outbox rows
survived (at least once), and is skipped.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.metrics import facts
from chengzhi.requests import service as requests_service
from chengzhi.requests.queue import TriageTask
from chengzhi.routing import triage
from chengzhi.worker.steps import AFTER_TRIAGE


def warm(session: Session, settings: Settings) -> None:
    """Before each batch, outside its transaction: the models the batch reads (the category model, the steps'
    files). On SQLite a batch holds the database's one write lock; a model read inside it (the first batch, or
    after a new model is activated) would keep every other writer waiting for seconds."""
    triage.warm(session, settings)
    for step in AFTER_TRIAGE:
        if step.warm is not None:
            step.warm(session, settings)


def process(session: Session, settings: Settings, tasks: list[TriageTask], now: dt.datetime) -> None:
    requests = requests_service.pending_triage(session, [t.request_id for t in tasks])
    keep_priority = {t.request_id for t in tasks if t.keep_priority}
    done: list[int] = []
    to_index: list[triage.Profile] = []
    for request in requests:
        importing = request.channel == "import"
        # A title intake cut from the text is not words of its own (the place would be read twice).
        title = "" if request.text.startswith(request.title) else request.title
        found = triage.analyse(
            session,
            settings,
            title,
            request.text,
            has_point=request.lat is not None,
            classify_text=not importing,  # history comes with its own categories
        )
        if found.urgent and request.id not in keep_priority:
            requests_service.make_emergency(session, request)
        stored = triage.record(session, request, found, to_index=to_index)
        if settings.auto_dispatch and not importing:
            requests_service.auto_dispatch(session, request, found, stored, settings, now)
        requests_service.triage_done(session, request, now)
        done.append(request.id)
    triage.index_batch(session, to_index)
    session.flush()
    facts.refresh(session.connection(), done)
    for step in AFTER_TRIAGE:  # other domains' steps (worker/steps.py)
        step.run(session, settings, requests, now)
