"""The BSS v2-compatible partner API: the paths, fields, types and error codes of the vendor
cloud's original, so that its official SDK works here by changing only the endpoint and
the keys.

The face adds no business rules: each operation reads the wire fields, calls the domain's
use cases (the same ones the console and the native API call) and writes the answer in the
original's shape. :mod:`gateway` holds what every operation goes through first.
"""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """The routes of every operation (importing the modules registers them)."""
    from partnercenter.bss import accounts, bills, coupons, customers, policies  # noqa: F401
    from partnercenter.bss.gateway import router

    return router
