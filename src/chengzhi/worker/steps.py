"""What other domains do with each batch of freshly triaged requests, in the batch's transaction.

The triage worker is where new domains hook into intake (hot-issue assignment, knowledge suggestions,
notifications...). A domain offers a function `(session, settings, requests, now) -> None` in one of its public
modules and adds one line to `AFTER_TRIAGE` here; the worker calls them in this order after routing's triage,
automatic dispatch and the metrics facts of the batch. The requests are handed over as objects: a step reads their
attributes and writes its own domain's tables only. A step must be idempotent per request (at least once: a batch
that fails is retried request by request) and quick (it runs inside the batch's transaction); slow work (an
embedding, a message to send) goes to the domain's own queue or outbox, written here and done later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.notify import service as notify
from chengzhi.requests.models import Request
from chengzhi.warning import alerts, labels, live
from chengzhi.webhooks import service as webhooks

AfterTriageFn = Callable[[Session, Settings, Sequence["Request"], dt.datetime], None]
WarmFn = Callable[[Session, Settings], None]


@dataclass(frozen=True)
class AfterTriage:
    name: str
    what: str  # one line for docs/architecture.md
    run: AfterTriageFn
    # Loads what the step reads from files (a model) before the batch's transaction begins (worker/intake.warm).
    warm: WarmFn | None = None


AFTER_TRIAGE: tuple[AfterTriage, ...] = (
    AfterTriage(
        "hot-issues",
        "warning places each request into a hot issue or opens a candidate issue (warning/live.py)",
        live.place_requests,
    ),
    AfterTriage(
        "text-labels",
        "warning labels each request's sentiment and message type when a text model exists (warning/labels.py)",
        labels.label_requests,
        labels.warm,
    ),
    AfterTriage(
        "sensitive-words",
        "warning raises an alert for a request containing a word of the sensitive-word list (warning/alerts.py)",
        alerts.check_words,
    ),
    AfterTriage(
        "notify-received",
        "notify writes the resident's acknowledgement with the tracking number (sent by its job)",
        notify.notify_received,
    ),
    AfterTriage(
        "webhooks-created",
        "webhooks writes a request.created delivery per subscriber (posted by its job)",
        webhooks.request_created,
    ),
)
