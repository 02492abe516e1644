"""Imports every table so that ``Base.metadata`` is complete (migrations and checks use it)."""

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

__all__ = [
    "billing_models",
    "bss_models",
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
