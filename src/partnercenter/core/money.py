"""Money: an integer number of minor units with its currency.

Amounts cross the API as decimals with at most two places; inside, they are integers of
cents (fen). Floats never touch money: :func:`parse_amount` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Self

MINOR_DIGITS = 2
MAX_DIGITS = 18
"""Amounts of 10^18 or more are refused before any arithmetic: no real sum is that large, and
quantizing them would overflow the decimal context."""
_MINOR_PER_MAJOR = 10**MINOR_DIGITS
_QUANTUM = Decimal(1).scaleb(-MINOR_DIGITS)


class AmountError(ValueError):
    """The text or number is not a valid amount of money."""


@dataclass(frozen=True, slots=True, order=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Self:
        return cls(to_minor(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(0, currency)

    @property
    def decimal(self) -> Decimal:
        return to_decimal(self.minor)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.decimal} {self.currency}"


def parse_amount(value: object) -> Decimal:
    """A Decimal from API input: a JSON number (int or Decimal) or a numeric string.

    Floats are refused because they cannot carry an exact amount; callers parse JSON with
    ``parse_float=Decimal``.
    """
    if isinstance(value, bool | float):
        raise AmountError("amount must be an exact decimal, not a float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation as error:
            raise AmountError("amount is not a number") from error
    else:
        raise AmountError("amount is not a number")
    if not amount.is_finite():
        raise AmountError("amount is not a finite number")
    if amount.adjusted() >= MAX_DIGITS:
        raise AmountError("amount is too large")
    return amount


def to_minor(amount: Decimal | str | int) -> int:
    """Minor units of an amount that must have at most two decimal places."""
    value = parse_amount(amount)
    exponent = value.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -MINOR_DIGITS
        and value != value.quantize(_QUANTUM)
    ):
        raise AmountError("amount has more than two decimal places")
    return int(value.quantize(_QUANTUM) * _MINOR_PER_MAJOR)


def truncate_to_minor(amount: Decimal) -> int:
    """Minor units of a computed amount, truncated toward zero (how charges are deducted)."""
    return int(amount.quantize(_QUANTUM, rounding=ROUND_DOWN) * _MINOR_PER_MAJOR)


def to_decimal(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-MINOR_DIGITS).quantize(_QUANTUM)


def format_minor(minor: int) -> str:
    """``str(to_decimal(minor))`` by integer arithmetic: ``-1234`` → ``"-12.34"``.

    For answers that carry thousands of amounts, where building a Decimal for each costs
    more than the rest of the item.
    """
    sign = "-" if minor < 0 else ""
    major, cents = divmod(abs(minor), _MINOR_PER_MAJOR)
    return f"{sign}{major}.{cents:0{MINOR_DIGITS}d}"
