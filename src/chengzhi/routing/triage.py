"""What intake reads from a request's text, in one place: urgency, the place it names (when it has no map point),
the active category model's suggestion, and its entry in the duplicates index. `requests/service.py` calls `analyse` before the request is written and
`record` after, in the same transaction; `routing_suggestion` is what the dispatcher is shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories
from chengzhi.categories.models import Category
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.i18n import N_, Listed, Named, Phrase, Sentences, quoted
from chengzhi.requests.models import Request
from chengzhi.routing import classifier, duplicates_index, places, urgency
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_models import CategoryCorrection
from chengzhi.routing.duplicates_index import Profile as Profile  # the worker collects them
from chengzhi.routing.rules import RoutingSuggestion, suggest_unit
from chengzhi.routing.triage_models import RequestTriage


@dataclass(frozen=True)
class Classified:
    """The active model's top 3 for the text, kept to the labels that are active categories of this city."""

    version: int
    top: list[tuple[Category, float]]
    sure: bool  # the first choice reached its category's threshold (the model's target precision)

    @property
    def first(self) -> Category:
        return self.top[0][0]

    def as_rows(self) -> list[dict[str, object]]:
        return [{"code": c.code, "probability": round(p, 4)} for c, p in self.top]


@dataclass(frozen=True)
class Found:
    urgency: urgency.Urgency
    placed: places.Placed | None  # None: the request has a map point, so the text is not used to place it
    classified: Classified | None = None  # None: no active model, unusable text, or no label is a category

    @property
    def urgent(self) -> bool:
        return self.urgency.urgent


WARM_TEXT = "幸福小区3号楼门口的路灯不亮了，请尽快修理。"
_warmed: set[str] = set()  # databases whose text tools this process has loaded


def warm(session: Session, settings: Settings) -> None:
    """What triage loads on first use, loaded outside any write transaction: the worker calls it before each
    batch, so that a batch never imports a library or reads a model file while it holds SQLite's one write lock
    (seconds on a busy machine: scipy for the duplicates signatures, jieba's dictionary, the places dictionary).
    The first call per database analyses a sample text; later calls only notice a newly activated model."""
    classifier.active_model(session, settings)
    key = str(session.get_bind().engine.url)
    if key in _warmed:
        return
    analyse(session, settings, "", WARM_TEXT, has_point=False)
    duplicates_index.make_profile(0, "", WARM_TEXT, utcnow(), None, None, None, None)
    _warmed.add(key)


def classify(session: Session, settings: Settings, words: str) -> Classified | None:
    """The active category model's suggestion; None without an active model or with text it cannot read."""
    active = classifier.active_model(session, settings)
    if active is None:
        return None
    version, model = active
    try:
        if not textpipe.normalise(words):
            return None
        suggestion = model.suggest([words])[0]
    except textpipe.TextError:
        return None
    codes = [p.label for p in suggestion.top]
    by_code = categories.active_categories_by_code(session, codes)
    top = [(by_code[p.label], p.probability) for p in suggestion.top if p.label in by_code]
    if not top:
        return None
    # Sure only if the model's own first choice is a category here (not one skipped above).
    sure = suggestion.auto and top[0][0].code == codes[0]
    return Classified(version, top, sure)


def words_of(title: str, text: str) -> str:
    """The words triage reads: the title (when it is not the start of the text) and the text."""
    return f"{title}。{text}" if title and not text.startswith(title) else text


def is_urgent(settings: Settings, title: str, text: str) -> bool:
    """Urgency alone, for the worker's emergency lane (a few milliseconds; no database)."""
    return urgency.analyse(
        words_of(title, text), urgency.terms_for(settings.urgency_terms_path or None)
    ).urgent


def analyse(
    session: Session,
    settings: Settings,
    title: str,
    text: str,
    *,
    has_point: bool,
    classify_text: bool = True,
) -> Found:
    """Never raises for text (bad text is recorded as such); a broken terms file does raise (an operator error
    that must be seen, not hidden)."""
    terms = urgency.terms_for(settings.urgency_terms_path or None)
    words = words_of(title, text)
    found_urgency = urgency.analyse(words, terms)
    placed = None if has_point else places.locate(session, f"{title}。{text}" if title else text)
    classified = classify(session, settings, words) if classify_text else None
    return Found(found_urgency, placed, classified)


def record(
    session: Session, request: Request, found: Found, *, to_index: list[Profile] | None = None
) -> RequestTriage | None:
    """Saves what was found (if anything) and indexes the request for duplicate finding; returns the row added.
    With `to_index`, the request's duplicates profile is added to that list instead, for `index_batch`."""
    placed = found.placed
    classified = found.classified
    note = found.urgency.note or (placed.note if placed else None)
    row = None
    if found.urgent or note or (placed is not None and placed.matches) or classified is not None:
        row = RequestTriage(
            request_id=request.id,
            place_lat=placed.lat if placed else None,
            place_lon=placed.lon if placed else None,
            place_unit_id=placed.unit_id if placed else None,
            place_matches=[m.as_dict() for m in placed.matches] if placed else [],
            urgent=found.urgent,
            urgency_matches=[m.as_dict() for m in found.urgency.matches],
            text_note=note,
            model_version=classified.version if classified else None,
            category_suggestions=classified.as_rows() if classified else None,
            category_sure=classified.sure if classified else False,
        )
        session.add(row)
    item = duplicates_index.profile(session, request, placed=placed)
    if to_index is None:
        duplicates_index.index_request(session, item)
    else:
        to_index.append(item)
    return row


def index_batch(session: Session, items: list[Profile]) -> None:
    """Indexes the profiles `record` collected, in two statements for the whole batch."""
    if items:
        duplicates_index.index_requests(session, items)


def note_category_decision(
    session: Session, request: Request, before: int | None, actor_id: int | None
) -> CategoryCorrection | None:
    """A person set the request's category (at dispatch). The change from another category is already a
    correction (the listener in classifier_models.py); it, or a first category other than the model's first
    choice, is linked to the model's suggestion and version, so that the next training and the model's error
    count both see it."""
    # Looked for before any query (which would flush it out of `session.new`).
    pending = next(
        (
            c
            for c in session.new
            if isinstance(c, CategoryCorrection)
            and c.request_id == request.id
            and c.to_category_id == request.category_id
        ),
        None,
    )
    triage = triage_of(session, request)
    suggested = model_category(session, triage)
    if (
        pending is None
        and before is None
        and suggested is not None
        and suggested[0].id != request.category_id
    ):
        pending = CategoryCorrection(
            request_id=request.id, from_category_id=None, to_category_id=request.category_id, at=utcnow()
        )
        session.add(pending)
    if pending is not None:
        pending.actor_id = actor_id
        if suggested is not None and triage is not None:
            pending.suggested_category_id = suggested[0].id
            pending.model_version = triage.model_version
    return pending


def triage_of(session: Session, request: Request) -> RequestTriage | None:
    return session.get(RequestTriage, request.id)


def stored_suggestions(
    session: Session, request_ids: Sequence[int]
) -> list[tuple[int, list[dict[str, Any]]]]:
    """(request id, the model's top 3 stored at intake) of those of `request_ids` that have one, in one query
    (the staff list shows the model's first choice for requests without a category)."""
    if not request_ids:
        return []
    query = select(RequestTriage.request_id, RequestTriage.category_suggestions).where(
        RequestTriage.request_id.in_(request_ids), RequestTriage.category_suggestions.is_not(None)
    )
    return [(request_id, suggestions or []) for request_id, suggestions in session.execute(query)]


def stored_top(session: Session, triage: RequestTriage | None) -> list[tuple[Category, float]]:
    """The model's top 3 stored at intake, as (category, probability), kept to categories still active."""
    stored = (triage.category_suggestions or []) if triage is not None else []
    if not stored:
        return []
    codes = [str(g.get("code")) for g in stored]
    by_code = categories.active_categories_by_code(session, codes)
    return [
        (by_code[str(g.get("code"))], float(g.get("probability") or 0.0))
        for g in stored
        if g.get("code") in by_code
    ]


def model_category(session: Session, triage: RequestTriage | None) -> tuple[Category, float] | None:
    """The model's first choice stored at intake, if it is still an active category."""
    if triage is None or not triage.category_suggestions:
        return None
    first = triage.category_suggestions[0]
    category = categories.active_category_by_code(session, str(first.get("code")))
    return (category, float(first.get("probability") or 0.0)) if category is not None else None


def routing_suggestion(
    session: Session,
    request: Request,
    settings: Settings | None = None,
    *,
    category: Category | None = None,
) -> RoutingSuggestion:
    """The core's rules from the map point or, without one, from the place the text names; an emergency found
    at intake comes first in the reason. Without a category (given, or the request's own), the category model's
    first choice stands in for it, and the reason says so."""
    return suggestion_with(session, request, triage_of(session, request), category=category)


def suggestion_with(
    session: Session, request: Request, triage: RequestTriage | None, *, category: Category | None = None
) -> RoutingSuggestion:
    """`routing_suggestion` with the request's triage row given (intake holds it, not yet written)."""
    category = category or request.category
    guessed: tuple[Category, float] | None = None
    if category is None:
        guessed = model_category(session, triage)
        category = guessed[0] if guessed else None
    suggestion: RoutingSuggestion | None = None
    if request.lat is None or request.lon is None:
        suggestion = places.suggestion_from_text(session, category, triage)
    if suggestion is None:
        suggestion = suggest_unit(session, category, request.lat, request.lon)
        if (request.lat is None or request.lon is None) and triage is not None and triage.place_matches:
            said = Listed(quoted(str(m.get("text"))) for m in triage.place_matches)
            suggestion = RoutingSuggestion(
                suggestion.unit_id,
                Sentences(
                    Phrase(N_("The text names %(said)s, but none of them can be placed."), said=said),
                    suggestion.why,
                ),
                suggestion.located,
            )
    if guessed is not None:
        name, percent = guessed[0], round(guessed[1] * 100)
        suggestion = RoutingSuggestion(
            suggestion.unit_id,
            Sentences(
                Phrase(
                    N_("No category yet: the model suggests '%(category)s' (%(percent)s%%)."),
                    category=Named(name.name_zh, name.name_en),
                    percent=percent,
                ),
                suggestion.why,
            ),
            suggestion.located,
        )
    if triage is not None and triage.urgent:
        said_words = dict.fromkeys(str(m.get("text")) for m in triage.urgency_matches or [])
        suggestion = RoutingSuggestion(
            suggestion.unit_id,
            Sentences(
                Phrase(
                    N_("Emergency: the text says %(said)s; emergency time limits apply."),
                    said=Listed(quoted(s) for s in said_words),
                ),
                suggestion.why,
            ),
            suggestion.located,
        )
    return suggestion
