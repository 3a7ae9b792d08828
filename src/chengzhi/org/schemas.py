"""API schemas of the organisation domain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chengzhi.db import MAX_ID
from chengzhi.org.models import Role, UnitKind


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)
    one_time_code: str | None = Field(
        default=None, max_length=20, description="A code of the staff second factor (TOTP or recovery code)"
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: dt.datetime


class SessionPublic(BaseModel):
    csrf_token: str
    username: str


class RolePublic(BaseModel):
    role: Role
    unit_id: int
    unit_name: str


class MePublic(BaseModel):
    id: int
    username: str
    display_name: str
    roles: list[RolePublic]


class UnitPublic(BaseModel):
    id: int
    code: str
    name: str
    name_zh: str
    name_en: str
    kind: UnitKind
    parent_id: int | None
    path: str
    function: str | None
    has_area: bool


class UnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    kind: UnitKind
    parent_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    function: str | None = Field(default=None, max_length=60)
    area: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon (lon, lat)"
    )


class AreaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area: dict[str, Any] = Field(description="GeoJSON Polygon, MultiPolygon, or a Feature of one")


class RoleGrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    unit_id: int = Field(ge=1, le=MAX_ID)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_.\-@]+$")
    display_name: str = Field(min_length=1, max_length=120)
    password: str = Field(min_length=10, max_length=200)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=200)
    roles: list[RoleGrantBody] = Field(default_factory=list)


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    active: bool
    roles: list[RolePublic]


class SessionInfo(BaseModel):
    """A signed-in browser, as its user and administrators see it."""

    id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    user_agent: str
    ip_prefix: str
    method: str
    second_factor: str | None
    current: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=10, max_length=200)


class SessionsEnded(BaseModel):
    ended: int
