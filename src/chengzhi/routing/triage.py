"""What intake reads from a request's text, in one place: urgency, the place it names (when it has no map point),
and its entry in the duplicates index. `requests/service.py` calls `analyse` before the request is written and
`record` after, in the same transaction; `routing_suggestion` is what the dispatcher is shown."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests.models import Request
from chengzhi.routing import duplicates, places, urgency
from chengzhi.routing.rules import RoutingSuggestion, suggest_unit
from chengzhi.routing.triage_models import RequestTriage


@dataclass(frozen=True)
class Found:
    urgency: urgency.Urgency
    placed: places.Placed | None  # None: the request has a map point, so the text is not used to place it

    @property
    def urgent(self) -> bool:
        return self.urgency.urgent


def analyse(session: Session, settings: Settings, title: str, text: str, *, has_point: bool) -> Found:
    """Never raises for text (bad text is recorded as such); a broken terms file does raise (an operator error
    that must be seen, not hidden)."""
    terms = urgency.terms_for(settings.urgency_terms_path or None)
    words = f"{title}。{text}" if title and not text.startswith(title) else text
    found_urgency = urgency.analyse(words, terms)
    placed = None if has_point else places.locate(session, f"{title}。{text}" if title else text)
    return Found(found_urgency, placed)


def record(session: Session, request: Request, found: Found) -> None:
    """Saves what was found (if anything) and indexes the request for duplicate finding."""
    placed = found.placed
    note = found.urgency.note or (placed.note if placed else None)
    if found.urgent or note or (placed is not None and placed.matches):
        session.add(
            RequestTriage(
                request_id=request.id,
                place_lat=placed.lat if placed else None,
                place_lon=placed.lon if placed else None,
                place_unit_id=placed.unit_id if placed else None,
                place_matches=[m.as_dict() for m in placed.matches] if placed else [],
                urgent=found.urgent,
                urgency_matches=[m.as_dict() for m in found.urgency.matches],
                text_note=note,
            )
        )
    duplicates.index_request(session, duplicates.profile(session, request, placed=placed))


def triage_of(session: Session, request: Request) -> RequestTriage | None:
    return session.get(RequestTriage, request.id)


def routing_suggestion(
    session: Session, request: Request, settings: Settings | None = None
) -> RoutingSuggestion:
    """The core's rules from the map point or, without one, from the place the text names; an emergency found
    at intake comes first in the reason."""
    triage = triage_of(session, request)
    suggestion: RoutingSuggestion | None = None
    if request.lat is None or request.lon is None:
        suggestion = places.suggestion_from_text(session, request.category, triage)
    if suggestion is None:
        suggestion = suggest_unit(session, request.category, request.lat, request.lon)
        if (request.lat is None or request.lon is None) and triage is not None and triage.place_matches:
            said_zh = "、".join(f"“{m.get('text')}”" for m in triage.place_matches)
            said_en = ", ".join(f"'{m.get('text')}'" for m in triage.place_matches)
            suggestion = RoutingSuggestion(
                suggestion.unit_id,
                f"文字中提到{said_zh}，但无法确定其位置。" + suggestion.reason_zh,
                f"The text names {said_en}, but none of them can be placed. " + suggestion.reason_en,
                suggestion.located,
            )
    if triage is not None and triage.urgent:
        said = [str(m.get("text")) for m in triage.urgency_matches or []]
        zh = "紧急：文中有" + "、".join(f"“{s}”" for s in dict.fromkeys(said)) + "，按紧急时限办理。"
        en = "Emergency: the text says " + ", ".join(f"'{s}'" for s in dict.fromkeys(said))
        suggestion = RoutingSuggestion(
            suggestion.unit_id,
            zh + suggestion.reason_zh,
            en + "; emergency time limits apply. " + suggestion.reason_en,
            suggestion.located,
        )
    return suggestion
