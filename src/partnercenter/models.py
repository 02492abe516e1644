"""Imports every table so that ``Base.metadata`` is complete (migrations and checks use it)."""

from collections.abc import Callable
from typing import Any

from partnercenter.billing import models as billing_models
from partnercenter.bss import models as bss_models
from partnercenter.core import models as core_models
from partnercenter.core.db import Base
from partnercenter.customers import models as customers_models
from partnercenter.identity import models as identity_models
from partnercenter.incentives import models as incentives_models
from partnercenter.ledger import models as ledger_models
from partnercenter.members import models as members_models
from partnercenter.opportunities import models as opportunities_models
from partnercenter.vouchers import models as vouchers_models

metadata = Base.metadata

CHECKED_BY_TRIGGERS = {"postgresql": ledger_models.CHECKED_PER_STATEMENT}
"""Per database, the models' foreign keys that triggers enforce instead."""


def comparable(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for ``dialect``: the models' foreign keys that triggers
    enforce there are not expected in the database, nor proposed for a new migration."""
    skipped = CHECKED_BY_TRIGGERS.get(dialect, frozenset())

    def include(
        item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        return not (type_ == "foreign_key_constraint" and name in skipped)

    return include


__all__ = [
    "CHECKED_BY_TRIGGERS",
    "billing_models",
    "bss_models",
    "comparable",
    "core_models",
    "customers_models",
    "identity_models",
    "incentives_models",
    "ledger_models",
    "members_models",
    "metadata",
    "opportunities_models",
    "vouchers_models",
]
