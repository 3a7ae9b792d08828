"""API schemas of the requests domain (Create/Public naming); SQLAlchemy models stay separate."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, StrictStr, model_validator

from chengzhi.db import MAX_ID

Phone = Field(default=None, max_length=20, pattern=r"^\+?[0-9][0-9 \-]{3,18}$")
# A row id as a client may give it: databases store 32-bit integers, so anything larger cannot exist.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
AttributeAnswer = (
    StrictStr
    | Annotated[int, Field(ge=-(10**15), le=10**15)]
    | FiniteFloat
    | list[Annotated[str, Field(max_length=200)]]
    | None
)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_text(data: Any) -> bool:
    """True if any string in `data` (keys included) holds a NUL or a lone surrogate (JSON allows "\\ud800"):
    no database stores them and no person types them. Iterative, since JSON may nest deeply."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


class Body(BaseModel):
    """A request body: unknown fields are refused, and so is text that cannot be stored."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if _unstorable_text(data):
            raise ValueError("text must not contain NUL (U+0000) characters or lone surrogates")
        return data


class RequestCreate(Body):
    text: str = Field(
        min_length=1, max_length=4000, description="What the resident asks for, in their words."
    )
    title: str = Field(default="", max_length=200)
    category: str | None = Field(
        default=None, max_length=40, description="Category code; optional at intake."
    )
    channel: Literal["web", "phone", "app", "email"] = "web"
    priority: Literal["emergency", "high", "normal", "low"] | None = None
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    address: str | None = Field(default=None, max_length=300)
    contact_name: str | None = Field(default=None, max_length=120)
    contact_phone: str | None = Phone
    contact_email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    attributes: dict[Annotated[str, Field(max_length=60)], AttributeAnswer] = Field(
        default_factory=dict,
        max_length=50,
        description="Answers to the category's extra questions, by question code.",
    )
    consent: bool = Field(
        default=True, description="The resident agrees that their contact details are used to handle it."
    )


class UnitRef(BaseModel):
    id: int
    code: str
    name: str
    kind: str


class CategoryRef(BaseModel):
    code: str
    name: str


class ContactPublic(BaseModel):
    name: str | None
    phone: str | None
    email: str | None
    masked: bool


class PhotoPublic(BaseModel):
    id: int
    content_type: str
    size: int
    width: int
    height: int
    url: str
    by_staff: bool = False
    public: bool = False
    public_url: str | None = Field(
        default=None, description="Where anyone may fetch it, once staff have published it (moderation)."
    )


class CategoryGuess(BaseModel):
    code: str
    name: str
    probability: float


class RoutingPublic(BaseModel):
    unit: UnitRef | None
    reason: str
    # The active category model's top 3 at intake (empty without a model), its version, and whether its first
    # choice reached the category's threshold (the request was then dispatched automatically, if allowed).
    category_suggestions: list[CategoryGuess] = []
    model_version: int | None = None
    sure: bool = False


class EventPublic(BaseModel):
    seq: int
    action: str
    action_name: str
    at: dt.datetime
    actor: str | None
    unit: str | None
    note: str | None
    payload: dict[str, Any]


class RequestPublic(BaseModel):
    id: int
    tracking_number: str
    title: str
    text: str
    channel: str
    category: CategoryRef | None
    priority: str
    status: str
    status_name: str
    being_triaged: bool = Field(
        default=False,
        description="True until the triage worker has read the request (urgency, place, category, automatic "
        "dispatch); usually for less than a few seconds after intake.",
    )
    lat: float | None
    lon: float | None
    address: str | None
    contact: ContactPublic
    lead_unit: UnitRef | None
    co_units: list[UnitRef]
    issue_id: int | None
    received_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    deadlines: dict[str, str]
    overdue: bool
    ever_overdue: bool
    extension_pending: bool
    reply: str | None
    replied_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolved: bool | None
    satisfaction: int | None
    reopen_count: int
    return_count: int
    attributes: dict[str, Any]
    photos: list[PhotoPublic] = []
    allowed_actions: list[str] = []
    routing: RoutingPublic | None = None
    events: list[EventPublic] | None = None


class RequestCreated(BaseModel):
    request: RequestPublic
    photo_token: str | None = Field(
        default=None,
        description="For an anonymous submitter: send as X-Photo-Token to attach photos (2 hours).",
    )


class RequestPage(BaseModel):
    items: list[RequestPublic]
    next_cursor: int | None = Field(
        description="Pass as `before` to get the next page; null on the last page."
    )


class DispatchBody(Body):
    lead_unit_id: Id
    co_unit_ids: list[Id] = Field(default_factory=list, max_length=20)
    category: str | None = Field(default=None, max_length=40, description="Confirm or correct the category.")
    note: str | None = Field(default=None, max_length=2000)


class NoteBody(Body):
    note: str | None = Field(default=None, max_length=4000)


class RequiredNoteBody(Body):
    note: str = Field(min_length=1, max_length=4000)


class ReasonBody(Body):
    reason: str = Field(min_length=1, max_length=2000)


class TextBody(Body):
    text: str = Field(min_length=1, max_length=8000)


class ReviewBody(Body):
    resolved: bool
    satisfaction: int = Field(ge=1, le=5, description="1 very unsatisfied … 5 very satisfied")
    comment: str | None = Field(default=None, max_length=2000)


class ExtensionBody(Body):
    days: int = Field(ge=1, le=60, description="Working days asked for.")
    reason: str = Field(min_length=1, max_length=2000)


class DecisionBody(Body):
    note: str | None = Field(default=None, max_length=2000)


class CoHandleBody(Body):
    unit_ids: list[Id] = Field(min_length=1, max_length=20)
    note: str | None = Field(default=None, max_length=2000)


class MergeBody(Body):
    into: str = Field(
        min_length=1, max_length=20, description="Id or tracking number of the request to merge into."
    )
    note: str | None = Field(default=None, max_length=2000)


class TrackBody(Body):
    tracking_number: str = Field(min_length=6, max_length=20)
    phone_last4: str = Field(pattern=r"^[0-9]{4}$")


class TrackReviewBody(TrackBody, ReviewBody):
    pass


class TrackReopenBody(TrackBody, ReasonBody):
    pass
