"""Who is acting: the caller of every use case, whichever face it came through."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Actor:
    """A user (or an API key) acting for one organisation with a set of permissions."""

    organisation_id: str
    organisation_kind: str
    permissions: frozenset[str]
    user_id: str | None = None
    credential_id: int | None = None
    request_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_vendor(self) -> bool:
        return self.organisation_kind == "vendor"

    def can(self, permission: str) -> bool:
        return permission in self.permissions


SYSTEM = Actor(
    organisation_id="",
    organisation_kind="system",
    permissions=frozenset(),
)
"""The worker and migrations act as the system; audit events show no user for it."""
