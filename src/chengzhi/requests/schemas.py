"""API schemas of the requests domain (Create/Public naming); SQLAlchemy models stay separate."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Phone = Field(default=None, max_length=20, pattern=r"^\+?[0-9][0-9 \-]{3,18}$")


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    attributes: dict[str, str | float | int | list[str] | None] = Field(
        default_factory=dict, description="Answers to the category's extra questions, by question code."
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


class RoutingPublic(BaseModel):
    unit: UnitRef | None
    reason: str


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


class DispatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_unit_id: int
    co_unit_ids: list[int] = Field(default_factory=list, max_length=20)
    category: str | None = Field(default=None, max_length=40, description="Confirm or correct the category.")
    note: str | None = Field(default=None, max_length=2000)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=4000)


class RequiredNoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=4000)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class TextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=8000)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolved: bool
    satisfaction: int = Field(ge=1, le=5, description="1 very unsatisfied … 5 very satisfied")
    comment: str | None = Field(default=None, max_length=2000)


class ExtensionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=1, le=60, description="Working days asked for.")
    reason: str = Field(min_length=1, max_length=2000)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class CoHandleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_ids: list[int] = Field(min_length=1, max_length=20)
    note: str | None = Field(default=None, max_length=2000)


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(
        min_length=1, max_length=20, description="Id or tracking number of the request to merge into."
    )
    note: str | None = Field(default=None, max_length=2000)


class TrackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_number: str = Field(min_length=6, max_length=20)
    phone_last4: str = Field(pattern=r"^[0-9]{4}$")


class TrackReviewBody(TrackBody, ReviewBody):
    pass


class TrackReopenBody(TrackBody, ReasonBody):
    pass
