"""Console pages of the vendor's administration and of the audit log, in one router."""

from __future__ import annotations

from fastapi import APIRouter

from partnercenter.admin import (
    audit_views,
    calendar_views,
    partner_views,
    staff_views,
    user_views,
)

router = APIRouter()
for _module in (partner_views, staff_views, user_views, audit_views, calendar_views):
    router.include_router(_module.router)
