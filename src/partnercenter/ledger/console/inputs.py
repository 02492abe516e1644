"""Reading what the funds forms send: amounts, dates, and the lines of a batch."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.core.money import AmountError, to_minor
from partnercenter.ledger.batches import MAX_ITEMS

AMOUNT_PROBLEM = N_(
    "Enter an amount such as 100 or 99.50: more than 0, two decimals at most."
)
MAX_REASON = 500
MAX_UPLOAD = 2 * 1024 * 1024
"""Far more than 10,000 lines of ``customer id,amount`` take."""

# Spreadsheets on Chinese systems may write the full-width comma and semicolon.
_SEPARATOR = re.compile(r"\s*[,;\t\uff0c\uff1b]\s*|\s+")
_HEADERS = frozenset(
    {"customer_id", "customer", "customer id", "客户id", "客户 id", "客户"}
)
"""First cells of a heading line that a spreadsheet export puts above the data."""


def amount(text: str, field: str = "amount") -> int:
    """Minor units of a positive amount typed with at most two decimals."""
    try:
        minor = to_minor(text.strip()) if text.strip() else 0
    except AmountError:
        minor = 0
    if minor <= 0:
        raise InvalidInput(problems=[FieldProblem(field, AMOUNT_PROBLEM)])
    return minor


def reason(text: str) -> str | None:
    """The reason typed, trimmed; None when there is none."""
    trimmed = text.strip()
    if len(trimmed) > MAX_REASON:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "reason",
                    N_("Keep the reason under %(max)s characters."),
                    {"max": MAX_REASON},
                )
            ]
        )
    return trimmed or None


def _day(value: str, field: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            problems=[FieldProblem(field, N_("Enter a date as YYYY-MM-DD."))]
        ) from None


def time_range(
    since: str, until: str, timezone: str
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The UTC bounds of the days ``since`` to ``until`` (both included) in ``timezone``;
    the second bound is exclusive."""
    zone = ZoneInfo(timezone)
    first, last = _day(since, "since"), _day(until, "until")
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone) if first else None
    end = (
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        if last
        else None
    )
    return (
        start.astimezone(dt.UTC) if start else None,
        end.astimezone(dt.UTC) if end else None,
    )


def decode_upload(data: bytes) -> str:
    """The text of an uploaded CSV: UTF-8 (with or without a byte order mark), or the
    GB 18030 that spreadsheets save on Chinese systems."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _line_amount(text: str | None, default: int | None) -> int:
    if text is None:
        return default or 0
    try:
        return to_minor(text)
    except AmountError:
        # Refused as invalid_amount by the batch, so that the reader sees the line again.
        return 0


def batch_items(text: str, default: int | None = None) -> list[tuple[str, int]]:
    """``customer id,amount`` per line (a comma, semicolon, tab or spaces between them).

    A line without an amount takes ``default``; an amount that cannot be read becomes 0,
    which the batch refuses as an invalid amount, so no line is lost silently. A heading
    line above the data is left out.
    """
    items: list[tuple[str, int]] = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("\ufeff").strip()
        if not line:
            continue
        cells = [cell.strip().strip('"').strip() for cell in _SEPARATOR.split(line, 1)]
        customer = cells[0]
        if not items and customer.lower() in _HEADERS:
            continue
        amount_text = cells[1] if len(cells) > 1 and cells[1] else None
        items.append((customer, _line_amount(amount_text, default)))
    return items


def check_batch_size(items: list[tuple[str, int]]) -> None:
    if not items:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "lines",
                    N_("Paste at least one line, upload a file or choose customers."),
                )
            ]
        )
    if len(items) > MAX_ITEMS:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "lines",
                    N_(
                        "A batch takes at most %(limit)s lines; this one has %(count)s."
                    ),
                    {"limit": f"{MAX_ITEMS:,}", "count": f"{len(items):,}"},
                )
            ]
        )
