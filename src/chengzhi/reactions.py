"""Cross-domain reactions, registered explicitly in one place at start-up.

A reaction is what one domain does when another domain's data changes, without the changing domain knowing
about it. Nothing is registered by importing a module: `install()` registers them all (idempotent), and is called
by the application factory (`chengzhi.app.create_app`), the command line (`chengzhi.cli`), the test fixtures and
the benchmarks. docs/architecture.md lists them (tests/test_architecture.py keeps that list and this one equal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chengzhi.credit import cases as credit_cases
from chengzhi.identity import service as identity_service
from chengzhi.identity import sharing as identity_sharing
from chengzhi.jobs import service as jobs
from chengzhi.knowledge import service as knowledge_service
from chengzhi.knowledge import vectors as knowledge_vectors
from chengzhi.metrics import exclusions as metrics_exclusions
from chengzhi.metrics import facts
from chengzhi.notify import outbox as notify_outbox
from chengzhi.notify import service as notify
from chengzhi.open311 import accounts as open311_accounts
from chengzhi.open311 import jobs as open311_jobs
from chengzhi.open311 import outbox
from chengzhi.open311 import request_updates as open311_updates
from chengzhi.opendata import platform as opendata_platform
from chengzhi.opendata import tablecheck as opendata_tables
from chengzhi.org import sessions as org_sessions
from chengzhi.org import signals as org_signals
from chengzhi.outbound import record as outbound_record
from chengzhi.participate import service as participate_service
from chengzhi.participate import topics
from chengzhi.requests import retention as requests_retention
from chengzhi.routing import classifier_models, rules
from chengzhi.routing import jobs as routing_jobs
from chengzhi.routing import service as routing_service
from chengzhi.warning import alerts as warning_alerts
from chengzhi.warning import live as warning_live
from chengzhi.warning import posts as warning_posts
from chengzhi.warning import service as warning_service
from chengzhi.webhooks import outbox as webhooks_outbox
from chengzhi.webhooks import service as webhooks


def forget_copies(session: Session, expired: Sequence[requests_retention.Expired]) -> None:
    """Retention: each domain removes its own copies of the anonymised requests' personal data."""
    ids = [e.request_id for e in expired]
    notify.forget_requests(session, ids)
    routing_service.forget_requests(
        session, {e.request_id: (e.title_before, e.text_before, e.contact_name) for e in expired}
    )
    knowledge_service.forget_requests(session, ids)
    warning_service.forget_requests(session, {e.request_id: e.title for e in expired})
    open311_updates.forget_requests(session, {e.request_id: e.contact_name for e in expired})
    open311_accounts.forget_requests(session, ids)
    participate_service.forget_requests(session, {e.request_id: e.contact_name for e in expired})
    outbound_record.forget_references(session, [e.tracking_number for e in expired])
    identity_sharing.forget_requests(session, ids)
    metrics_exclusions.forget_requests(session, {e.request_id: e.contact_name for e in expired})


# Retention by age, at every run of the job, of what is kept apart from any request.
PRUNE_BY_AGE: tuple[requests_retention.Prune, ...] = (
    outbound_record.prune,
    identity_service.prune_codes,
    org_sessions.prune,
    participate_service.prune_votes,
    warning_posts.prune,
)


def _install_retention() -> None:
    requests_retention.on_anonymise(forget_copies)
    for prune in PRUNE_BY_AGE:
        requests_retention.on_cutoff(prune)


def _remove_retention() -> None:
    requests_retention.off_anonymise(forget_copies)
    for prune in PRUNE_BY_AGE:
        requests_retention.off_cutoff(prune)


@dataclass(frozen=True)
class Reaction:
    name: str
    when: str  # what happens in which domain
    then: str  # what the reacting domain does
    install: Callable[[], None]
    remove: Callable[[], None]


REACTIONS: tuple[Reaction, ...] = (
    Reaction(
        "metrics-facts",
        "a flush appends request events or exclusions (requests, metrics)",
        "metrics rewrites those requests' facts rows in the same transaction (after_flush)",
        facts.install,
        facts.uninstall,
    ),
    Reaction(
        "open311-outbox",
        "a flush adds a dispatch event to a unit with an active Open311 endpoint (requests)",
        "open311 adds a delivery row in the same transaction (before_flush); the delivery job sends it",
        outbox.register,
        outbox.unregister,
    ),
    Reaction(
        "notify-outbox",
        "a flush adds a dispatch, reply, reopen, overdue or supervision event (requests)",
        "notify writes the resident's and the unit staff's notifications in the same transaction (before_flush); "
        "the sending job sends them",
        notify_outbox.register,
        notify_outbox.unregister,
    ),
    Reaction(
        "webhooks-outbox",
        "a flush adds a dispatch, reply or close event (requests)",
        "webhooks writes a delivery per subscriber in the same transaction (before_flush); the delivery job "
        "posts them",
        webhooks_outbox.register,
        webhooks_outbox.unregister,
    ),
    Reaction(
        "classifier-corrections",
        "a stored request's category changes (requests)",
        "routing records a category correction in the same transaction, for retraining",
        classifier_models.install_correction_hook,
        classifier_models.remove_correction_hook,
    ),
    Reaction(
        "area-index-refresh",
        "units' areas change, after commit (org)",
        "routing drops this process's area index, rebuilt on next use",
        lambda: org_signals.on_areas_changed(rules.invalidate),
        lambda: org_signals.off_areas_changed(rules.invalidate),
    ),
    Reaction(
        "retention-copies",
        "the retention job anonymises requests closed long ago (requests)",
        "notify deletes their notifications, routing their duplicates index and text vectors and masks its triage "
        "facts, knowledge drops the questions of uses, warning the hot-issue members' titles and authors, open311 "
        "masks inbound update texts and deletes the app account ids kept on them, participate unlinks comments' authors and masks their texts (drops reports "
        "and follows), outbound deletes the recorded messages, identity unlinks the resident from detail views, "
        "metrics masks exclusion notes; at every run outbound, identity, org, participate and warning delete "
        "recorded messages, verification codes, ended sessions, topic votes and outside posts older than the "
        "cut-off; in the job's "
        "transaction",
        _install_retention,
        _remove_retention,
    ),
)


# Periodic jobs other domains contribute to the runner (jobs/service.py runs its own two: overdue and
# purge_idempotency), in the order they run: (name, job, commits in transactions of its own).
PERIODIC_JOBS: tuple[tuple[str, jobs.Job, bool], ...] = (
    ("duplicates_prune", routing_jobs.prune_duplicates, False),
    ("category_refine", routing_jobs.refine_categories, True),  # embeddings run outside any transaction
    ("open311_batch", open311_jobs.open311_batch, False),
    ("open311_deliver", open311_jobs.open311_deliver, True),  # remote calls must not hold a transaction
    ("open311_pull", open311_jobs.open311_pull, True),
    ("credit_nightly", credit_cases.nightly_job, False),  # once a day: regrade, end of publications
    ("opendata_platform", opendata_platform.publish_platform_data, False),
    ("opendata_quality", opendata_platform.recheck_quality, False),
    ("opendata_tables", opendata_tables.recheck_tables, False),  # a round of the tables' rows once a day
    ("knowledge_embed", knowledge_vectors.embed_job, True),  # the model runs outside any transaction
    # Nightly in effect (skips until 20 h have passed); groups while only reading, then writes in its own transaction.
    ("hot_recompute", warning_live.recompute_job, True),
    # Outside feeds (RSS/Atom) due to be read: downloaded outside any transaction, stored one feed at a time.
    ("warning_feeds", warning_posts.feeds_job, True),
    # Hot issues, repeats and bursts that cross their thresholds: alerts, told before notify_send runs.
    ("warning_alerts", warning_alerts.alerts_job, False),
    # Once a month (from CHENGZHI_FOCUS_PROPOSE_DAY): next month's focus topics proposed from the hot issues.
    (topics.PROPOSE_JOB, topics.propose_monthly, False),
    ("notify_send", notify.send_due, True),  # mail servers and gateways must not hold a transaction
    ("webhooks_deliver", webhooks.deliver, True),
    # Personal data of requests closed more than CHENGZHI_RETENTION_MONTHS ago (an indexed no-op most rounds).
    ("retention", requests_retention.anonymise_expired, False),
)


# Jobs that update the same rows and so must not run at the same time in two processes (one lock per group).
SHARED_LOCKS: dict[str, str] = {
    "opendata_platform": "opendata",
    "opendata_quality": "opendata",
    "opendata_tables": "opendata",
}


def install() -> None:
    for reaction in REACTIONS:
        reaction.install()
    for name, job, own_transactions in PERIODIC_JOBS:
        jobs.register(name, job, own_transactions=own_transactions, lock=SHARED_LOCKS.get(name))


def remove() -> None:
    """For tests that check a domain alone."""
    for reaction in REACTIONS:
        reaction.remove()
