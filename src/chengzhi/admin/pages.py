"""The admin pages' router: /staff/admin and its units, categories, users (and their sessions), category models and Open311 clients pages."""

from __future__ import annotations

from fastapi import APIRouter

from chengzhi.admin import categories, models, open311_clients, units, user_access, users

router = APIRouter(include_in_schema=False)
router.include_router(units.router)
router.include_router(categories.router)
router.include_router(users.router)
router.include_router(user_access.router)
router.include_router(models.router)
router.include_router(open311_clients.router)
