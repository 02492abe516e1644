"""The native API (``/api/v1``): signed with AK/SK, described by its OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
