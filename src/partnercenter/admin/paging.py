"""Offset pagination of console lists: where a page starts and links to its neighbours."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True)
class Pager:
    path: str
    total: int
    offset: int
    limit: int
    params: dict[str, str] = field(default_factory=dict)
    """The list's filters, kept in every page link."""

    @property
    def first(self) -> int:
        """1-based position of the first row shown (0 when there is none)."""
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)

    @property
    def previous_url(self) -> str | None:
        if self.offset <= 0:
            return None
        return self._url(max(self.offset - self.limit, 0))

    @property
    def next_url(self) -> str | None:
        if self.offset + self.limit >= self.total:
            return None
        return self._url(self.offset + self.limit)

    def _url(self, offset: int) -> str:
        params = {**self.params, "offset": str(offset)} if offset else self.params
        return f"{self.path}?{urlencode(params)}" if params else self.path
