"""The API of shared verified details, for units that handle requests in their own systems: which details the
resident shares (names only), showing them (recorded in the access log), and who saw them. The same rules as the
page (`sharing.may_see`): the people who see the request's contact details."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from chengzhi.deps import LanguageDep, SessionDep, UserDep
from chengzhi.errors import Forbidden
from chengzhi.identity import sharing
from chengzhi.org.service import Actor
from chengzhi.requests import service as requests_service
from chengzhi.requests.models import Request

router = APIRouter(prefix="/api/v1", tags=["identity"])
Number = Annotated[str, Path(min_length=1, max_length=20)]


class SharedDetails(BaseModel):
    has_account: bool
    offered: list[str]  # "name", "phone", "email"
    details: dict[str, str]  # the values, only in the answer of a viewing (POST)
    identity_level: int


class DetailViewOut(BaseModel):
    at: dt.datetime
    viewer: str
    unit: str
    fields: list[str]


def _request(session: SessionDep, actor: Actor, number: str) -> Request:
    row = requests_service.get_request(session, actor, number)
    if not sharing.may_see(session, actor, row):
        raise Forbidden("forbidden_role", roles="operator, handler, supervisor")
    return row


def _out(shared: sharing.Shared) -> SharedDetails:
    return SharedDetails(
        has_account=shared.resident_id is not None,
        offered=list(shared.offered),
        details=dict(shared.values),
        identity_level=shared.level,
    )


@router.get(
    "/requests/{number}/resident",
    response_model=SharedDetails,
    summary="Which verified details the resident shares (names only; nothing is recorded)",
)
def offered(number: Number, session: SessionDep, actor: UserDep) -> SharedDetails:
    return _out(sharing.offered(session, _request(session, actor, number)))


@router.post(
    "/requests/{number}/resident/view",
    response_model=SharedDetails,
    summary="Show the resident's shared verified details; the viewing is recorded",
)
def view(number: Number, session: SessionDep, actor: UserDep) -> SharedDetails:
    shared = sharing.view(session, actor, _request(session, actor, number))
    session.commit()
    return _out(shared)


@router.get(
    "/requests/{number}/resident/views",
    response_model=list[DetailViewOut],
    summary="Who saw the resident's shared details on this request",
)
def views(number: Number, session: SessionDep, actor: UserDep, lang: LanguageDep) -> list[DetailViewOut]:
    row = _request(session, actor, number)
    return [
        DetailViewOut(at=v.at, viewer=v.viewer, unit=v.unit, fields=list(v.fields))
        for v in sharing.views_of_request(session, row.id, lang)
    ]
