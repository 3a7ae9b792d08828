"""API schemas of categories."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chengzhi.categories.models import HandlerKind, Priority


class AttributeValue(BaseModel):
    key: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=200)


class AttributeDefinition(BaseModel):
    code: str = Field(min_length=1, max_length=60)
    variable: bool = True
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"] = "string"
    required: bool = False
    datatype_description: str = ""
    order: int | None = None
    description: str = ""
    values: list[AttributeValue] = Field(default_factory=list)


class CategoryPublic(BaseModel):
    id: int
    code: str
    name: str
    name_zh: str
    name_en: str
    group: str
    description: str
    keywords: str
    handler_kind: HandlerKind
    handler_function: str | None
    default_priority: Priority
    time_limits: dict[str, str]
    attributes: list[dict[str, Any]]
    service_type: str
    active: bool


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")
    name_zh: str = Field(min_length=1, max_length=120)
    name_en: str = Field(min_length=1, max_length=120)
    group_zh: str = Field(default="", max_length=120)
    group_en: str = Field(default="", max_length=120)
    description: str = Field(default="", max_length=2000)
    keywords: str = Field(default="", max_length=500)
    handler_kind: HandlerKind
    handler_function: str | None = Field(default=None, max_length=60)
    default_priority: Priority = Priority.normal
    time_limits: dict[Literal["sign", "contact", "reply", "review"], str] = Field(
        default_factory=dict, description='Per stage: "30m", "2h", "3d" or "7wd" (working days).'
    )
    attributes: list[AttributeDefinition] = Field(default_factory=list)
    service_type: Literal["realtime", "batch", "blackbox"] = "realtime"


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_zh: str | None = Field(default=None, min_length=1, max_length=120)
    name_en: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    keywords: str | None = Field(default=None, max_length=500)
    default_priority: Priority | None = None
    time_limits: dict[Literal["sign", "contact", "reply", "review"], str] | None = None
    attributes: list[AttributeDefinition] | None = None
    active: bool | None = None
