"""The native API (``/api/v1``): signed with AK/SK, described by its OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from partnercenter.billing.routes import router as billing_router
from partnercenter.customers.changes.routes import router as changes_router
from partnercenter.customers.intake.routes import router as intake_router
from partnercenter.customers.routes import router as customers_router
from partnercenter.identity.routes import router as identity_router
from partnercenter.incentives.routes import router as incentives_router
from partnercenter.ledger.routes import router as ledger_router
from partnercenter.members.routes import router as members_router
from partnercenter.opportunities.routes import router as opportunities_router
from partnercenter.vouchers.routes import router as vouchers_router

router = APIRouter(prefix="/api/v1")
router.include_router(identity_router)
router.include_router(members_router)
router.include_router(customers_router)
router.include_router(intake_router)
router.include_router(changes_router)
router.include_router(ledger_router)
router.include_router(billing_router)
router.include_router(incentives_router)
router.include_router(vouchers_router)
router.include_router(opportunities_router)
