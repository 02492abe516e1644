"""The BSS error shape and the codes the domain's refusals become on this face.

Every failure answers ``{"error_code": "CBC.xxxx", "error_msg": "…"}`` with the status the
original API uses; failures of the signature answer as its gateway does, 401 with
``APIG.0301``. Messages are the product's own, translated into the caller's language.

The domain raises :class:`~partnercenter.core.errors.DomainError` with codes of its own;
:data:`DOMAIN_CODES` says what each becomes here, so that a rule refused on the console or
the native API is refused here too, only spelled the way BSS clients expect.
"""

from __future__ import annotations

from typing import Any

from partnercenter.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
)
from partnercenter.core.i18n import N_, Translator

BAD_PARAMETER = "CBC.0100"
INVALID_PARAMETER = "CBC.0101"
ILLEGAL_OPERATION = "CBC.0150"
ACCESS_DENIED = "CBC.0151"
FLOW_CONTROL = "CBC.0250"
OTHER_ERROR = "CBC.0999"
GATEWAY_AUTH = "APIG.0301"
GATEWAY_PREFIX = "Incorrect IAM authentication information: "
"""How the original's gateway begins every refused signature; clients match on it."""
DUPLICATE_REQUEST = "PC.0409"
"""Partner Center's own code: the same signed write (same key, same signature) again."""

DOMAIN_CODES: dict[str, tuple[int, str]] = {
    # money
    "insufficient_funds": (400, "CBC.99005003"),
    "not_your_customer": (400, "CBC.99000035"),
    "no_such_customer": (400, "CBC.99000035"),
    "consulting_customer": (400, "CBC.5024"),
    "not_your_reseller": (400, "CBC.99000037"),
    "not_a_distributor": (400, "CBC.99000037"),
    "invalid_amount": (400, BAD_PARAMETER),
    "request_too_large": (413, BAD_PARAMETER),
    # customers
    "external_account_taken": (400, "CBC.99000039"),
    "account_name_taken": (400, "CBC.99000038"),
    "phone_taken": (400, "CBC.99000029"),
    "email_taken": (400, "CBC.99000038"),
    "association_refused": (400, "CBC.99000004"),
    "distributor_cannot_associate": (400, "CBC.50010059"),
    "invalid_account_name": (400, "CBC.99000031"),
    "weak_password": (400, "CBC.99000036"),
    # vouchers
    "no_such_quota": (400, "CBC.99000012"),
    "quota_not_effective": (400, "CBC.99000017"),
    "quota_insufficient": (400, "CBC.99000013"),
    "voucher_not_reclaimable": (400, "CBC.99000048"),
    "voucher_of_consulting_customer": (400, "CBC.99000045"),
    "too_many_customers": (400, BAD_PARAMETER),
}
"""Domain error code → (HTTP status, BSS error code)."""


class BssError(Exception):
    """A refusal in the BSS shape; ``message`` is an untranslated template."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        /,
        *,
        headers: dict[str, str] | None = None,
        prefix: str = "",
        **params: Any,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.params = params
        self.headers = headers or {}
        self.prefix = prefix
        """Text put untranslated before the message, as the original's gateway words it."""

    def render(self, tr: Translator) -> str:
        text = tr.gettext(self.message)
        return self.prefix + (text % self.params if self.params else text)

    def body(self, tr: Translator) -> dict[str, str]:
        return {"error_code": self.code, "error_msg": self.render(tr)}


class BadParameter(BssError):
    def __init__(self, message: str, /, **params: Any) -> None:
        super().__init__(400, BAD_PARAMETER, message, **params)


class CallerRefused(BssError):
    """The key's organisation may not call this operation."""

    def __init__(self) -> None:
        super().__init__(
            403,
            ACCESS_DENIED,
            N_("Access denied: this key's organisation may not call this operation."),
        )


def from_domain(error: DomainError, tr: Translator) -> tuple[int, dict[str, str]]:
    """The status and BSS body of a refusal raised by the domain."""
    known = DOMAIN_CODES.get(error.code)
    if known is not None:
        status, code = known
    elif isinstance(error, InvalidInput):
        status, code = 400, BAD_PARAMETER
    elif isinstance(error, NotAuthenticated):
        status, code = 401, GATEWAY_AUTH
    elif isinstance(error, Forbidden):
        status, code = 403, ACCESS_DENIED
    elif isinstance(error, NotFound):
        status, code = 400, INVALID_PARAMETER
    elif isinstance(error, RateLimited):
        status, code = 429, FLOW_CONTROL
    elif isinstance(error, Conflict):
        status, code = 400, ILLEGAL_OPERATION
    else:
        status, code = 400, ILLEGAL_OPERATION
    message = error.render(tr)
    if code == GATEWAY_AUTH:
        message = GATEWAY_PREFIX + message
    if error.problems:
        message += " " + " ".join(
            f"{problem.field}: {problem.render(tr)}" for problem in error.problems
        )
    return status, {"error_code": code, "error_msg": message}
