"""Console pages of the incentive policy catalogue: the vendor edits a month's entries,
partners read what applies in a month."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from partnercenter.billing import service as billing
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Forbidden, InvalidInput
from partnercenter.core.i18n import N_, Translator
from partnercenter.identity.permissions import Permission
from partnercenter.incentives import service
from partnercenter.incentives.models import IncentivePolicyCode
from partnercenter.web import navigation
from partnercenter.web.context import DB, ActingPage, Page, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

POLICY_LABELS = {
    IncentivePolicyCode.NON_SPECIFIC: N_("Non-specific product"),
    IncentivePolicyCode.SPECIFIC: N_("Specific product"),
    IncentivePolicyCode.NO_PERFORMANCE: N_("No performance, no rebate"),
    IncentivePolicyCode.PERFORMANCE_ONLY: N_("Performance, no rebate"),
}


def policy_label(tr: Translator, code: str) -> str:
    return tr.gettext(POLICY_LABELS[IncentivePolicyCode(code)])


def _month(value: str) -> str:
    return value.strip() or billing.bill_cycle_of(utc_now())


def _reader(page: Page, side: str) -> Actor:
    if page.actor is None or not service.can_read(page.actor):
        raise Forbidden()
    if (side == "vendor") != page.actor.is_vendor:
        raise Forbidden()
    return page.actor


def _policies_page(
    page: Page,
    db: Session,
    side: str,
    month: str,
    *,
    error: FormError | None = None,
    submitted: dict[str, dict[str, str]] | None = None,
) -> Response:
    actor = _reader(page, side)
    in_force: list[service.Policy] = []
    try:
        in_force, _ = service.policies_for_month(
            db, actor, month=month, limit=service.MAX_LIMIT, locale=page.locale
        )
    except InvalidInput as refused:
        error = error or form_error(refused, page.tr)
    editing = side == "vendor" and page.can(Permission.CATALOGUE_MANAGE)
    own = service.own_entries(db, month) if editing and error is None else {}
    by_code = {policy.service_type_code: policy for policy in in_force}
    return page.render(
        "incentives/policies.html",
        status_code=400 if error else 200,
        side=side,
        month=month,
        previous_month=billing.previous_cycle(month) if billing.is_cycle(month) else "",
        policies=in_force,
        service_types=billing.service_types(db) if editing else [],
        own=own,
        by_code=by_code,
        submitted=submitted or {},
        editing=editing,
        error=error,
        policy_choices=[
            (p.value, page.tr.gettext(t)) for p, t in POLICY_LABELS.items()
        ],
        policy_label=lambda code: policy_label(page.tr, code),
        rate_of=service.rate_of,
        flash=take_flash(page.request),
    )


@router.get("/incentives/policies")
def partner_policies(page: ActingPage, db: DB, month: str = "") -> Response:
    return _policies_page(page, db, "partner", _month(month))


@router.get("/vendor/incentives/policies")
def vendor_policies(page: ActingPage, db: DB, month: str = "") -> Response:
    return _policies_page(page, db, "vendor", _month(month))


@router.post("/vendor/incentives/policies")
async def save_policies(request: Request, page: ActingPage, db: DB) -> Response:
    form = await request.form()
    month = str(form.get("month", "")).strip()
    codes = [str(code) for code in form.getlist("service_type")]
    entries = [
        service.PolicyInput(
            service_type_code=code,
            policy=str(form.get(f"policy:{code}", "")),
            allow_discount=form.get(f"discount:{code}") == "YES",
            rebate_rate=str(form.get(f"rate:{code}", "")),
        )
        for code in codes
    ]
    if page.actor is None:
        raise Forbidden()
    try:
        changed = service.save_month(db, page.actor, month=month, entries=entries)
    except InvalidInput as refused:
        submitted = {
            e.service_type_code: {
                "policy": e.policy,
                "discount": "YES" if e.allow_discount else "NO",
                "rate": e.rebate_rate,
            }
            for e in entries
        }
        return _policies_page(
            page,
            db,
            "vendor",
            month if billing.is_cycle(month) else _month(""),
            error=form_error(refused, page.tr),
            submitted=submitted,
        )
    return page.redirect(
        f"/vendor/incentives/policies?month={month}",
        page.tr.ngettext(
            "%(num)d policy of %(month)s has been saved.",
            "%(num)d policies of %(month)s have been saved.",
            changed,
        )
        % {"num": changed, "month": month},
    )


navigation.register(
    "/incentives/policies",
    N_("Incentive policies"),
    navigation.PARTNERS,
    Permission.INCENTIVES_VIEW,
)
navigation.register(
    "/vendor/incentives/policies",
    N_("Incentive policies"),
    navigation.VENDOR,
    Permission.PARTNERS_VIEW,
)
navigation.register(
    "/vendor/incentives/policies",
    N_("Incentive policies"),
    navigation.VENDOR,
    Permission.CATALOGUE_MANAGE,
)
