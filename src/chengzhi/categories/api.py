"""REST API of categories: anyone may read them; admins create and change them."""

from __future__ import annotations

from fastapi import APIRouter

from chengzhi.categories import schemas
from chengzhi.categories import service as svc
from chengzhi.categories.models import Category
from chengzhi.deps import ActorDep, LanguageDep, SessionDep
from chengzhi.org.models import Role
from chengzhi.org.service import require_role

router = APIRouter(prefix="/api/v1", tags=["categories"])


def category_public(category: Category, lang: str) -> schemas.CategoryPublic:
    return schemas.CategoryPublic(
        id=category.id,
        code=category.code,
        name=category.name(lang),
        name_zh=category.name_zh,
        name_en=category.name_en,
        group=category.group_en if lang == "en" else category.group_zh,
        description=category.description,
        keywords=category.keywords,
        handler_kind=category.handler_kind,
        handler_function=category.handler_function,
        default_priority=category.default_priority,
        time_limits=category.time_limits or {},
        attributes=category.attributes or [],
        service_type=category.service_type,
        active=category.active,
    )


@router.get("/categories", response_model=list[schemas.CategoryPublic], summary="Active categories")
def list_categories(session: SessionDep, lang: LanguageDep) -> list[schemas.CategoryPublic]:
    return [category_public(c, lang) for c in svc.list_categories(session)]


@router.get("/categories/{code}", response_model=schemas.CategoryPublic, summary="One category")
def read_category(code: str, session: SessionDep, lang: LanguageDep) -> schemas.CategoryPublic:
    return category_public(svc.get_category(session, code), lang)


@router.post("/categories", status_code=201, response_model=schemas.CategoryPublic, summary="Create (admin)")
def create_category(
    body: schemas.CategoryCreate, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> schemas.CategoryPublic:
    require_role(actor, Role.admin)
    data = body.model_dump()
    data["attributes"] = [a.model_dump() for a in body.attributes]
    category = svc.create_category(session, **data)
    session.commit()
    return category_public(category, lang)


@router.patch("/categories/{code}", response_model=schemas.CategoryPublic, summary="Change (admin)")
def update_category(
    code: str, body: schemas.CategoryUpdate, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> schemas.CategoryPublic:
    require_role(actor, Role.admin)
    category = svc.get_category(session, code)
    changes = body.model_dump(exclude_none=True)
    if body.attributes is not None:
        changes["attributes"] = [a.model_dump() for a in body.attributes]
    svc.update_category(session, category, **changes)
    session.commit()
    return category_public(category, lang)
