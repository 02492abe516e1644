"""How native-API errors are described in the OpenAPI document.

Every error answers ``{"code", "message", "problems"}`` (see ``app.error_body``); routes list
the statuses they may answer with :func:`error_responses`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProblemOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str = Field(description="In the caller's language (Accept-Language).")
    problems: list[ProblemOut] = Field(default_factory=list)


DESCRIPTIONS: dict[int, str] = {
    400: "A field is not valid; each problem is listed.",
    401: "The signature is refused.",
    403: "The key's organisation may not do this.",
    404: "No such record in the calling organisation.",
    409: "The current state or a limit does not allow it (see code and problems).",
    429: "A rate limit is reached; see Retry-After.",
}


def error_responses(
    *statuses: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: 401 and 403 always, plus ``statuses``."""
    described = {**DESCRIPTIONS, **(descriptions or {})}
    return {
        status: {"model": ErrorOut, "description": described[status]}
        for status in (401, 403, *statuses)
    }
