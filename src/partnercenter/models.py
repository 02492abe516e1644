"""Imports every table so that ``Base.metadata`` is complete (migrations and checks use it)."""

from partnercenter.bss import models as bss_models
from partnercenter.core import models as core_models
from partnercenter.core.db import Base
from partnercenter.customers import models as customers_models
from partnercenter.identity import models as identity_models
from partnercenter.ledger import models as ledger_models
from partnercenter.members import models as members_models

metadata = Base.metadata

__all__ = [
    "bss_models",
    "core_models",
    "customers_models",
    "identity_models",
    "ledger_models",
    "members_models",
    "metadata",
]
