"""The console router of vendor finance's pages and the partner's withdrawal pages."""

from __future__ import annotations

from fastapi import APIRouter

from partnercenter.ledger.finance.vendor_views import router as vendor_router
from partnercenter.ledger.finance.withdrawal_views import router as withdrawal_router

router = APIRouter()
router.include_router(vendor_router)
router.include_router(withdrawal_router)
