"""Categories and the extra questions they ask (Open311 attribute definitions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, select
from sqlalchemy.orm import Session

from chengzhi.categories.models import STAGES, Category, HandlerKind, Priority
from chengzhi.categories.timelimits import parse_limit
from chengzhi.errors import Conflict, Invalid, NotFound
from chengzhi.generations import GenerationCache, attach_copy, cached_copy

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


def validate_time_limits(limits: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for stage, value in (limits or {}).items():
        if stage not in STAGES:
            raise Invalid("invalid_time_limit", value=f"{stage}={value}")
        try:
            clean[stage] = str(parse_limit(str(value)))
        except ValueError:
            raise Invalid("invalid_time_limit", value=value) from None
    return clean


def validate_attribute_definitions(attributes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    clean = []
    seen: set[str] = set()
    for order, raw in enumerate(attributes or [], start=1):
        code = str(raw.get("code", "")).strip()
        datatype = raw.get("datatype", "string")
        if not code or code in seen:
            raise Invalid("attribute_invalid", code=code or "?", details="code missing or repeated")
        if datatype not in DATATYPES:
            raise Invalid(
                "attribute_invalid", code=code, details=f"datatype must be one of {', '.join(DATATYPES)}"
            )
        raw_values = raw.get("values") or []
        if not isinstance(raw_values, list) or not all(
            isinstance(v, dict) and "key" in v for v in raw_values
        ):
            raise Invalid("attribute_invalid", code=code, details="values must be a list of {key, name}")
        values = [{"key": str(v["key"]), "name": str(v.get("name", v["key"]))} for v in raw_values]
        raw_order = raw.get("order")
        if raw_order is None:
            raw_order = order
        if (
            isinstance(raw_order, bool)
            or not isinstance(raw_order, int | str)
            or not str(raw_order).isdigit()
        ):
            raise Invalid("attribute_invalid", code=code, details="order must be a whole number")
        if datatype.endswith("valuelist") and not values:
            raise Invalid("attribute_invalid", code=code, details="a value list needs values")
        seen.add(code)
        clean.append(
            {
                "code": code,
                "variable": bool(raw.get("variable", True)),
                "datatype": datatype,
                "required": bool(raw.get("required", False)),
                "datatype_description": str(raw.get("datatype_description", "")),
                "order": int(raw_order),
                "description": str(raw.get("description", code)),
                "values": values,
            }
        )
    return clean


def validate_answers(
    category: Category, answers: dict[str, Any], *, enforce_required: bool = True
) -> dict[str, Any]:
    """Check a request's answers against its category's questions; returns the cleaned answers.

    `enforce_required=False` is for historical records: the old system never asked today's questions.
    """
    clean: dict[str, Any] = {}
    definitions = {a["code"]: a for a in category.attributes or []}
    for code in answers or {}:
        if code not in definitions:
            raise Invalid("attribute_invalid", code=code, details="this category does not ask it")
    for code, definition in definitions.items():
        value = (answers or {}).get(code)
        if value in (None, "", []):
            if enforce_required and definition.get("required") and definition.get("variable", True):
                raise Invalid("attribute_required", code=code)
            continue
        datatype = definition["datatype"]
        keys = {v["key"] for v in definition.get("values", [])}
        if datatype == "number":
            try:
                clean[code] = float(value)
            except (TypeError, ValueError):
                raise Invalid("attribute_invalid", code=code, details="a number is expected") from None
        elif datatype == "datetime":
            try:
                clean[code] = dt.datetime.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise Invalid(
                    "attribute_invalid", code=code, details="an ISO 8601 datetime is expected"
                ) from None
        elif datatype == "singlevaluelist":
            if isinstance(value, list) or str(value) not in keys:
                raise Invalid("attribute_invalid", code=code, details=f"one of {', '.join(sorted(keys))}")
            clean[code] = str(value)
        elif datatype == "multivaluelist":
            items = [str(v) for v in (value if isinstance(value, list) else [value])]
            if not set(items) <= keys:
                raise Invalid(
                    "attribute_invalid", code=code, details=f"values among {', '.join(sorted(keys))}"
                )
            clean[code] = items
        else:
            if not isinstance(value, str | int | float):
                raise Invalid("attribute_invalid", code=code, details="text is expected")
            clean[code] = str(value)[:4000]
    return clean


def create_category(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    handler_kind: HandlerKind,
    handler_function: str | None = None,
    group_zh: str = "",
    group_en: str = "",
    description: str = "",
    keywords: str = "",
    default_priority: Priority = Priority.normal,
    time_limits: dict[str, str] | None = None,
    attributes: list[dict[str, Any]] | None = None,
    service_type: str = "realtime",
) -> Category:
    if session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise Conflict("code_taken", code=code)
    if handler_kind == HandlerKind.department and not handler_function:
        raise Invalid("validation_failed", details="a department category needs handler_function")
    if service_type not in ("realtime", "batch", "blackbox"):
        raise Invalid("validation_failed", details="service_type must be realtime, batch or blackbox")
    category = Category(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        group_zh=group_zh,
        group_en=group_en,
        description=description,
        keywords=keywords,
        handler_kind=handler_kind,
        handler_function=handler_function,
        default_priority=default_priority,
        time_limits=validate_time_limits(time_limits or {}),
        attributes=validate_attribute_definitions(attributes or []),
        service_type=service_type,
    )
    session.add(category)
    session.flush()
    return category


def update_category(session: Session, category: Category, **changes: Any) -> Category:
    if "time_limits" in changes:
        changes["time_limits"] = validate_time_limits(changes["time_limits"])
    if "attributes" in changes:
        changes["attributes"] = validate_attribute_definitions(changes["attributes"])
    for name, value in changes.items():
        setattr(category, name, value)
    session.flush()
    return category


# Built once (every submission with a category reads one): building a statement costs more than running it.
_CATEGORY_BY_ID = select(Category).where(Category.id == bindparam("ref"))
_CATEGORY_BY_CODE = select(Category).where(Category.code == bindparam("ref"))


def get_category(session: Session, ref: int | str) -> Category:
    query = _CATEGORY_BY_ID if isinstance(ref, int) else _CATEGORY_BY_CODE
    category = session.scalar(query, {"ref": ref})
    if category is None:
        raise NotFound("category_not_found", ref=ref)
    return category


_ACTIVE_BY_CODE: GenerationCache[Category] = GenerationCache("categories", maxsize=5_000)


def category_for_intake(session: Session, code: str) -> Category:
    """`get_category` by code for intake, from memory until a category changes anywhere (chengzhi/generations.py)."""
    return attach_copy(session, category_copy_for_intake(session, code))


def category_copy_for_intake(session: Session, code: str) -> Category:
    """`category_for_intake`'s cached copy itself, to be read only (never changed nor added to a session)."""
    return cached_copy(_ACTIVE_BY_CODE, session, code, lambda: get_category(session, code))


def list_categories(session: Session, include_inactive: bool = False) -> list[Category]:
    query = select(Category).order_by(Category.group_zh, Category.code)
    if not include_inactive:
        query = query.where(Category.active.is_(True))
    return list(session.scalars(query))


# ---------------------------------------------------------------- for routing

# code -> id of the active categories, read once per generation (every classified request looks its codes up).
_ACTIVE_IDS: GenerationCache[dict[str, int]] = GenerationCache("categories", maxsize=1)
_ACTIVE_CODES = select(Category.code, Category.id).where(Category.active)


def active_categories_by_code(session: Session, codes: list[str]) -> dict[str, Category]:
    """code -> category, of those of `codes` that are active categories. The codes come from memory; each category
    is the session's own object (`Session.get`: no query once the session holds it, as the worker's batch does)."""
    ids = _ACTIVE_IDS.get(
        session, "active", lambda: {code: id_ for code, id_ in session.connection().execute(_ACTIVE_CODES)}
    )
    found: dict[str, Category] = {}
    for code in codes:
        category_id = ids.get(code)
        category = session.get(Category, category_id) if category_id is not None else None
        if category is not None and category.active:  # withdrawn since the codes were read
            found[code] = category
    return found


def active_category_by_code(session: Session, code: str) -> Category | None:
    return session.scalar(select(Category).where(Category.code == code, Category.active))


def category_labels(session: Session) -> dict[int, tuple[str, str, str, str, str]]:
    """id -> (name_zh, name_en, group_zh, group_en, code) of every category."""
    query = select(
        Category.id, Category.name_zh, Category.name_en, Category.group_zh, Category.group_en, Category.code
    )
    return {row[0]: (row[1], row[2], row[3], row[4], row[5]) for row in session.execute(query)}


def category_codes(session: Session) -> dict[int, str]:
    """id -> code of every category."""
    return {category_id: code for category_id, code in session.execute(select(Category.id, Category.code))}


# ---------------------------------------------------------------- for open311 and metrics


def categories_by_id(session: Session, category_ids: Iterable[int]) -> dict[int, Category]:
    """The categories with these ids (ids without a category are left out)."""
    wanted = list(category_ids)
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Category).where(Category.id.in_(wanted)))}


def category_ids_by_code(session: Session, codes: Collection[str]) -> dict[str, int]:
    """The ids of the categories with these codes (the unknown codes are missing)."""
    query = select(Category.code, Category.id).where(Category.code.in_(codes))
    return {code: i for code, i in session.execute(query)}


# ---------------------------------------------------------------- for the admin pages and imports


def count_categories(session: Session) -> int:
    """All categories, active or not."""
    return session.scalar(select(func.count(Category.id))) or 0


def find_category(session: Session, code: str) -> Category | None:
    """The category of this code (active or not), or None."""
    return session.scalar(select(Category).where(Category.code == code))


# ---------------------------------------------------------------- for requests


def id_with_code(code: str) -> ScalarSelect[int]:
    """The id of the category with this code, as a subquery for another domain's filter (no row: no match)."""
    return select(Category.id).where(Category.code == code).scalar_subquery()
