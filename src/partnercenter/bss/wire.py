"""Reading BSS requests and writing BSS answers.

Requests are read without a validation framework: :class:`Fields` takes the JSON body or the
query string and hands out typed values, refusing a bad one with ``CBC.0100`` and a message
that names the field. Unknown fields are ignored, as the original API does.

Answers keep the type the official SDK's model gives each field: money the SDK reads as a
decimal goes out as a JSON number with two decimals (``100.50``, never a float that loses
digits, never a string), money it reads as text goes out as a string with two decimals,
times as UTC ``yyyy-MM-ddTHH:mm:ssZ``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import simplejson
from starlette.responses import Response

from partnercenter.bss.errors import BadParameter
from partnercenter.core.errors import (
    unstorable_text,
)
from partnercenter.core.i18n import N_
from partnercenter.core.money import AmountError, parse_amount, to_decimal, to_minor

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_AMOUNT_MINOR = 10**13
"""Amounts up to 99,999,999,999.99: far above any real allocation, far below overflow."""
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def money(minor: int) -> Decimal:
    """An amount for a field the SDK reads as a decimal."""
    return to_decimal(minor)


def money_text(minor: int) -> str:
    """An amount for a field the SDK reads as text: two decimals."""
    return f"{to_decimal(minor):.2f}"


def time_text(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime(TIME_FORMAT)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = simplejson.dumps(data, use_decimal=True, ensure_ascii=False)
    return Response(
        body.encode("utf-8"),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        data = simplejson.loads(raw.decode("utf-8"), use_decimal=True)
    except (ValueError, UnicodeDecodeError):
        raise BadParameter(N_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise BadParameter(N_("The request body must be a JSON object."))
    refusal = unstorable_text(raw, data)
    if refusal is not None:
        raise BadParameter(refusal)
    return data


class Fields:
    """Typed values of a request's body or query string, by field name.

    A field that is absent, ``null`` or (in a query string) empty counts as not given.
    """

    def __init__(self, values: Mapping[str, Any], *, from_query: bool = False) -> None:
        self.values = values
        self.from_query = from_query

    def _raw(self, name: str) -> Any:
        value = self.values.get(name)
        if value is None or (self.from_query and value == ""):
            return None
        return value

    def has(self, name: str) -> bool:
        return self._raw(name) is not None

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        pattern: re.Pattern[str] | None = None,
        choices: Sequence[str] | None = None,
    ) -> str | None:
        value = self._raw(name)
        if value is None:
            if required:
                raise BadParameter(N_("%(field)s is required."), field=name)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BadParameter(N_("%(field)s must be a string."), field=name)
        value = str(value)
        if max_length is not None and len(value) > max_length:
            raise BadParameter(
                N_("%(field)s may have at most %(max)d characters."),
                field=name,
                max=max_length,
            )
        if pattern is not None and not pattern.match(value):
            raise BadParameter(N_("%(field)s is not in a valid format."), field=name)
        if choices is not None and value not in choices:
            raise BadParameter(
                N_("%(field)s must be one of %(choices)s."),
                field=name,
                choices=", ".join(choices),
            )
        return value

    def required_text(self, name: str, **rules: Any) -> str:
        value = self.text(name, required=True, **rules)
        assert value is not None
        return value

    def integer(
        self,
        name: str,
        *,
        default: int,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, str) and self.from_query and re.fullmatch(r"-?\d+", value):
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise BadParameter(N_("%(field)s must be a whole number."), field=name)
        if (minimum is not None and number < minimum) or (
            maximum is not None and number > maximum
        ):
            raise BadParameter(
                N_("%(field)s must be between %(min)s and %(max)s."),
                field=name,
                min=minimum if minimum is not None else "",
                max=maximum if maximum is not None else "",
            )
        return number

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise BadParameter(N_("%(field)s must be true or false."), field=name)

    def amount(self, name: str) -> int:
        """A required amount > 0 with at most two decimals, in minor units."""
        value = self._raw(name)
        if value is None:
            raise BadParameter(N_("%(field)s is required."), field=name)
        try:
            decimal = parse_amount(value)
            minor = to_minor(decimal)
        except AmountError:
            raise BadParameter(
                N_("%(field)s must be an amount with at most two decimals."), field=name
            ) from None
        if minor <= 0:
            raise BadParameter(N_("%(field)s must be greater than 0."), field=name)
        if minor > MAX_AMOUNT_MINOR:
            raise BadParameter(N_("%(field)s is too large."), field=name)
        return minor

    def time(self, name: str) -> dt.datetime | None:
        """A UTC time ``yyyy-MM-ddTHH:mm:ssZ``."""
        value = self.text(name)
        if value is None:
            return None
        if not _TIME.match(value):
            raise BadParameter(
                N_("%(field)s must be a UTC time such as 2026-03-01T00:00:00Z."),
                field=name,
            )
        try:
            return dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(
                tzinfo=dt.UTC
            )
        except ValueError:
            raise BadParameter(
                N_("%(field)s must be a UTC time such as 2026-03-01T00:00:00Z."),
                field=name,
            ) from None

    def date(self, name: str) -> dt.date | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            if not _DATE.match(value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            raise BadParameter(
                N_("%(field)s must be a date such as 2026-03-01."), field=name
            ) from None

    def month(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and not _MONTH.match(value):
            raise BadParameter(
                N_("%(field)s must be a month such as 2026-03."), field=name
            )
        return value

    def _items(
        self, name: str, *, required: bool, maximum: int | None, kind: type
    ) -> list[Any]:
        value = self._raw(name)
        if value is None:
            if required:
                raise BadParameter(N_("%(field)s is required."), field=name)
            return []
        if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
            message = (
                N_("%(field)s must be a list of objects.")
                if kind is dict
                else N_("%(field)s must be a list of strings.")
            )
            raise BadParameter(message, field=name)
        if required and not value:
            raise BadParameter(N_("%(field)s may not be empty."), field=name)
        if maximum is not None and len(value) > maximum:
            raise BadParameter(
                N_("%(field)s may have at most %(max)d items."),
                field=name,
                max=maximum,
            )
        return list(value)

    def objects(
        self, name: str, *, required: bool = False, maximum: int | None = None
    ) -> list[Fields]:
        items = self._items(name, required=required, maximum=maximum, kind=dict)
        return [Fields(item) for item in items]

    def strings(
        self, name: str, *, required: bool = False, maximum: int | None = None
    ) -> list[str]:
        return self._items(name, required=required, maximum=maximum, kind=str)

    def page(
        self, *, max_offset: int = 40_000_000, max_limit: int = 100
    ) -> tuple[int, int]:
        """``offset`` (default 0) and ``limit`` (default 10)."""
        offset = self.integer("offset", default=0, minimum=0, maximum=max_offset)
        limit = self.integer("limit", default=10, minimum=1, maximum=max_limit)
        return offset, limit
