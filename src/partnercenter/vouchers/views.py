"""Console pages of vouchers: the vendor's quotas, a partner's quotas and the vouchers it
issued (with the distributor's share for its resellers), and a customer's own vouchers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.admin.paging import Pager
from partnercenter.core.actor import Actor
from partnercenter.core.errors import (
    DomainError,
    FieldProblem,
    Forbidden,
    InvalidInput,
)
from partnercenter.core.i18n import N_, Translator
from partnercenter.identity.models import Organisation, OrganisationKind
from partnercenter.identity.permissions import Permission
from partnercenter.ledger.console import inputs, labels
from partnercenter.ledger.console.common import (
    customer_actor,
    is_distributor,
    partner_actor,
    resale_customers,
    resellers_of,
)
from partnercenter.vouchers import errors, queries, service
from partnercenter.web import navigation
from partnercenter.web.context import DB, ActingPage, Page, require, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

TextField = Annotated[str, Form()]
PAGE_SIZE = 20
_IDS = re.compile(r"[\s,;\uff0c\uff1b]+")

QUOTA_STATE_LABELS = {
    queries.QuotaState.EFFECTIVE: N_("Effective"),
    queries.QuotaState.NOT_YET_EFFECTIVE: N_("Not yet effective"),
    queries.QuotaState.EXPIRED: N_("Expired"),
    queries.QuotaState.FROZEN: N_("Frozen"),
    queries.QuotaState.RECLAIMED: N_("Reclaimed"),
}
VOUCHER_STATE_LABELS = {
    queries.VoucherState.NOT_YET_EFFECTIVE: N_("Not yet effective"),
    queries.VoucherState.USABLE: N_("Usable"),
    queries.VoucherState.USED_UP: N_("Used up"),
    queries.VoucherState.EXPIRED: N_("Expired"),
    queries.VoucherState.RECLAIMED: N_("Reclaimed"),
}


# -- helpers --------------------------------------------------------------------------------


def _values(page: Page) -> dict[str, Any]:
    tr = page.tr
    currency = page.settings.currency
    return {
        "currency": currency,
        "money": lambda minor: labels.money(tr, minor, currency),
        "quota_state": lambda state: tr.gettext(QUOTA_STATE_LABELS[state]),
        "voucher_state": lambda state: tr.gettext(VOUCHER_STATE_LABELS[state]),
        "quota_states": [
            (state.value, tr.gettext(label))
            for state, label in QUOTA_STATE_LABELS.items()
        ],
        "voucher_states": [
            (state.value, tr.gettext(label))
            for state, label in VOUCHER_STATE_LABELS.items()
        ],
    }


def _day(
    value: str, field: str, timezone: str, *, end: bool = False
) -> dt.datetime | None:
    """Midnight starting (or, with ``end``, ending) the day typed, in UTC."""
    if not value.strip():
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            problems=[FieldProblem(field, N_("Enter a date as YYYY-MM-DD."))]
        ) from None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone)).astimezone(
        dt.UTC
    )


def _codes(text: str) -> list[str]:
    return [code for code in _IDS.split(text) if code]


def _refusal_label(tr: Translator, code: str) -> str:
    return tr.gettext(errors.REFUSALS.get(code, N_("Refused.")))


def _partner_names(db: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = db.execute(
        select(Organisation.id, Organisation.display_name).where(
            Organisation.id.in_(sorted(ids))
        )
    )
    return {row.id: row.display_name for row in rows}


def _acting_for(db: Session, actor: Actor, value: str) -> str:
    """The reseller chosen by a distributor, or "" for its own; any other id is ignored."""
    if not value or not is_distributor(actor):
        return ""
    return value if value in {r.id for r in resellers_of(db, actor)} else ""


# -- the vendor's quotas --------------------------------------------------------------------


def _vendor_actor(page: Page) -> Actor:
    actor = require(page, Permission.FINANCE_OPERATE)
    if not actor.is_vendor:
        raise Forbidden()
    return actor


@router.get("/vendor/vouchers")
def vendor_quotas(
    page: ActingPage, db: DB, partner_id: str = "", offset: int = 0
) -> Response:
    actor = _vendor_actor(page)
    rows, total = queries.quotas(
        db, actor, partner_id=partner_id or None, offset=offset, limit=PAGE_SIZE
    )
    return page.render(
        "vouchers/vendor_quotas.html",
        flash=take_flash(page.request),
        rows=rows,
        names=_partner_names(db, {row.partner_id for row in rows}),
        partners=_partners(db),
        partner_id=partner_id,
        pager=Pager(
            "/vendor/vouchers",
            total,
            offset,
            PAGE_SIZE,
            {"partner_id": partner_id} if partner_id else {},
        ),
        **_values(page),
    )


def _partners(db: Session) -> list[tuple[str, str]]:
    rows = db.execute(
        select(Organisation.id, Organisation.display_name)
        .where(Organisation.kind == OrganisationKind.PARTNER)
        .order_by(Organisation.display_name)
        .limit(500)
    )
    return [(row.id, row.display_name) for row in rows]


GRANT_FIELDS = (
    "partner_id",
    "amount",
    "effective_date",
    "expire_date",
    "min_face_value",
    "max_face_value",
    "max_vouchers",
    "service_types",
    "new_customers_only",
    "memo",
)


def _grant_page(
    page: Page, db: Session, form: dict[str, str], error: FormError | None = None
) -> Response:
    return page.render(
        "vouchers/vendor_grant.html",
        status_code=400 if error else 200,
        error=error,
        form=form,
        partners=_partners(db),
        **_values(page),
    )


def _grant_terms(form: dict[str, str], timezone: str) -> service.QuotaTerms:
    """The terms typed in the grant form, every problem reported at once."""
    problems: list[FieldProblem] = []
    amounts: dict[str, int] = {}
    for name in ("amount", "min_face_value", "max_face_value"):
        try:
            amounts[name] = inputs.amount(form[name], name)
        except InvalidInput as invalid:
            problems += invalid.problems
    times: dict[str, dt.datetime | None] = {}
    for name in ("effective_date", "expire_date"):
        try:
            times[name] = _day(form[name], name, timezone, end=name == "expire_date")
        except InvalidInput as invalid:
            problems += invalid.problems
            continue
        if times[name] is None:
            problems.append(FieldProblem(name, N_("Enter a date as YYYY-MM-DD.")))
    if not form["max_vouchers"].isdigit():
        problems.append(
            FieldProblem(
                "max_vouchers", N_("Enter a number of vouchers from 1 to 1,000,000.")
            )
        )
    if problems:
        raise InvalidInput(problems=problems)
    effective, expire = times["effective_date"], times["expire_date"]
    assert effective is not None
    assert expire is not None
    return service.QuotaTerms(
        amount=amounts["amount"],
        effective_time=effective,
        expire_time=expire,
        min_face_value=amounts["min_face_value"],
        max_face_value=amounts["max_face_value"],
        max_vouchers=int(form["max_vouchers"]),
        service_types=_codes(form["service_types"]),
        new_customers_only=bool(form["new_customers_only"]),
        memo=form["memo"] or None,
    )


@router.get("/vendor/vouchers/grant")
def grant_form(page: ActingPage, db: DB, partner_id: str = "") -> Response:
    _vendor_actor(page)
    form = dict.fromkeys(GRANT_FIELDS, "")
    form.update({"partner_id": partner_id, "max_vouchers": "100"})
    return _grant_page(page, db, form)


@router.post("/vendor/vouchers/grant")
def grant(
    *,
    page: ActingPage,
    db: DB,
    partner_id: TextField = "",
    amount: TextField = "",
    effective_date: TextField = "",
    expire_date: TextField = "",
    min_face_value: TextField = "",
    max_face_value: TextField = "",
    max_vouchers: TextField = "",
    service_types: TextField = "",
    new_customers_only: TextField = "",
    memo: TextField = "",
) -> Response:
    actor = _vendor_actor(page)
    form = {
        "partner_id": partner_id.strip(),
        "amount": amount.strip(),
        "effective_date": effective_date.strip(),
        "expire_date": expire_date.strip(),
        "min_face_value": min_face_value.strip(),
        "max_face_value": max_face_value.strip(),
        "max_vouchers": max_vouchers.strip(),
        "service_types": service_types.strip(),
        "new_customers_only": "1" if new_customers_only else "",
        "memo": memo.strip(),
    }
    try:
        terms = _grant_terms(form, page.settings.display_timezone)
        quota = service.grant_quota(
            db,
            actor,
            partner_id=form["partner_id"],
            terms=replace(terms, currency=page.settings.currency),
        )
    except DomainError as error:
        db.rollback()
        return _grant_page(page, db, form, form_error(error, page.tr))
    return page.redirect(
        "/vendor/vouchers",
        page.tr.gettext("Quota %(id)s granted.") % {"id": quota.id},
    )


@router.post("/vendor/vouchers/{quota_id}/freeze")
def freeze(
    page: ActingPage, db: DB, quota_id: str, unfreeze: TextField = ""
) -> Response:
    actor = _vendor_actor(page)
    service.set_quota_frozen(db, actor, quota_id, frozen=not unfreeze)
    message = N_("Quota unfrozen.") if unfreeze else N_("Quota frozen.")
    return page.redirect("/vendor/vouchers", page.tr.gettext(message))


# -- a partner's quotas ---------------------------------------------------------------------


@router.get("/vouchers")
def partner_quotas(page: ActingPage, db: DB, offset: int = 0) -> Response:
    actor = partner_actor(page)
    rows, total = queries.quotas(db, actor, offset=offset, limit=PAGE_SIZE)
    distributor = is_distributor(actor)
    granted: list[queries.QuotaView] = []
    if distributor:
        granted, _ = queries.granted_to_resellers(db, actor, limit=100)
    return page.render(
        "vouchers/quotas.html",
        flash=take_flash(page.request),
        rows=rows,
        pager=Pager("/vouchers", total, offset, PAGE_SIZE),
        distributor=distributor,
        granted=granted,
        resellers=resellers_of(db, actor) if distributor else [],
        names=_partner_names(db, {row.partner_id for row in granted}),
        can_transfer=page.can(Permission.FUNDS_TRANSFER),
        **_values(page),
    )


@router.post("/vouchers/quotas/{quota_id}/grant")
def grant_to_reseller(
    page: ActingPage,
    db: DB,
    quota_id: str,
    reseller_id: TextField = "",
    amount: TextField = "",
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    try:
        service.grant_to_reseller(
            db,
            actor,
            quota_id=quota_id,
            reseller_id=reseller_id.strip(),
            amount=inputs.amount(amount, "amount"),
        )
    except DomainError as error:
        db.rollback()
        shown = form_error(error, page.tr)
        return page.redirect(
            "/vouchers", " ".join([shown.message, *shown.problems.values()])
        )
    return page.redirect("/vouchers", page.tr.gettext("Quota granted to the reseller."))


@router.post("/vouchers/quotas/{quota_id}/reclaim")
def reclaim_quota(page: ActingPage, db: DB, quota_id: str) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    returned = service.reclaim_from_reseller(db, actor, quota_id)
    return page.redirect(
        "/vouchers",
        page.tr.gettext("%(amount)s went back to your quota.")
        % {"amount": labels.money(page.tr, returned, page.settings.currency)},
    )


# -- issuing --------------------------------------------------------------------------------


def _issue_page(
    page: Page,
    db: Session,
    actor: Actor,
    form: dict[str, Any],
    *,
    error: FormError | None = None,
    refused: list[tuple[str, str]] | None = None,
    issued: int = 0,
) -> Response:
    indirect = _acting_for(db, actor, form.get("indirect_partner_id", ""))
    usable, _ = queries.quotas(
        db,
        actor,
        states={queries.QuotaState.EFFECTIVE},
        limit=100,
        indirect_partner_id=indirect or None,
    )
    return page.render(
        "vouchers/issue.html",
        status_code=400 if error else 200,
        error=error,
        form={**form, "indirect_partner_id": indirect},
        quotas=usable,
        customers=resale_customers(db, actor, indirect or None),
        resellers=resellers_of(db, actor) if is_distributor(actor) else [],
        distributor=is_distributor(actor),
        refused=refused or [],
        issued=issued,
        **_values(page),
    )


@router.get("/vouchers/issue")
def issue_form(
    page: ActingPage, db: DB, quota_id: str = "", indirect_partner_id: str = ""
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    form: dict[str, Any] = {
        "quota_id": quota_id,
        "indirect_partner_id": indirect_partner_id,
        "chosen": [],
        "pasted": "",
        "face_value": "",
        "valid_date": "",
        "expire_date": "",
        "service_types": "",
        "memo": "",
    }
    return _issue_page(page, db, actor, form)


@router.post("/vouchers/issue")
def issue(
    *,
    page: ActingPage,
    db: DB,
    quota_id: TextField = "",
    indirect_partner_id: TextField = "",
    customer_ids: Annotated[list[str] | None, Form()] = None,
    pasted: TextField = "",
    face_value: TextField = "",
    valid_date: TextField = "",
    expire_date: TextField = "",
    service_types: TextField = "",
    memo: TextField = "",
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    form: dict[str, Any] = {
        "quota_id": quota_id.strip(),
        "indirect_partner_id": _acting_for(db, actor, indirect_partner_id.strip()),
        "chosen": customer_ids or [],
        "pasted": pasted.strip(),
        "face_value": face_value.strip(),
        "valid_date": valid_date.strip(),
        "expire_date": expire_date.strip(),
        "service_types": service_types.strip(),
        "memo": memo.strip(),
    }
    timezone = page.settings.display_timezone
    try:
        everyone = [*form["chosen"], *_codes(form["pasted"])]
        problems: list[FieldProblem] = []
        if not everyone:
            problems.append(
                FieldProblem("customer_ids", N_("Choose customers or paste their IDs."))
            )
        if not form["quota_id"]:
            problems.append(FieldProblem("quota_id", N_("Choose a quota.")))
        try:
            minor = inputs.amount(form["face_value"], "face_value")
        except InvalidInput as invalid:
            problems += invalid.problems
        if problems:
            raise InvalidInput(problems=problems)
        outcome = service.issue(
            db,
            actor,
            quota_id=form["quota_id"],
            customer_ids=everyone,
            face_value=minor,
            valid_time=_day(form["valid_date"], "valid_date", timezone),
            expire_time=_day(form["expire_date"], "expire_date", timezone, end=True),
            service_types=_codes(form["service_types"]),
            memo=form["memo"] or None,
            indirect_partner_id=form["indirect_partner_id"] or None,
        )
    except DomainError as error:
        db.rollback()
        return _issue_page(page, db, actor, form, error=form_error(error, page.tr))

    message = page.tr.ngettext(
        "%(num)d voucher issued.", "%(num)d vouchers issued.", len(outcome.issued)
    ) % {"num": len(outcome.issued)}
    if not outcome.refused:
        target = "/vouchers/issued"
        if form["indirect_partner_id"]:
            target += f"?indirect_partner_id={form['indirect_partner_id']}"
        return page.redirect(target, message)
    refused = [(c, _refusal_label(page.tr, code)) for c, code, _ in outcome.refused]
    return _issue_page(
        page, db, actor, form, refused=refused, issued=len(outcome.issued)
    )


# -- issued vouchers ------------------------------------------------------------------------


@router.get("/vouchers/issued")
def issued(
    *,
    page: ActingPage,
    db: DB,
    voucher_id: str = "",
    customer_id: str = "",
    state: str = "",
    created_since: str = "",
    created_until: str = "",
    expire_since: str = "",
    expire_until: str = "",
    indirect_partner_id: str = "",
    offset: int = 0,
) -> Response:
    actor = partner_actor(page)
    indirect = _acting_for(db, actor, indirect_partner_id.strip())
    filters = {
        "voucher_id": voucher_id.strip(),
        "customer_id": customer_id.strip(),
        "state": state if state in {s.value for s in queries.VoucherState} else "",
        "created_since": created_since.strip(),
        "created_until": created_until.strip(),
        "expire_since": expire_since.strip(),
        "expire_until": expire_until.strip(),
        "indirect_partner_id": indirect,
    }
    timezone = page.settings.display_timezone
    error = None
    rows: list[queries.VoucherView] = []
    total = 0
    try:
        rows, total = queries.issued_vouchers(
            db,
            actor,
            voucher_id=filters["voucher_id"] or None,
            customer_id=filters["customer_id"] or None,
            state=queries.VoucherState(filters["state"]) if filters["state"] else None,
            created=queries.Between(
                _day(filters["created_since"], "created_since", timezone),
                _day(filters["created_until"], "created_until", timezone, end=True),
            ),
            expire=queries.Between(
                _day(filters["expire_since"], "expire_since", timezone),
                _day(filters["expire_until"], "expire_until", timezone, end=True),
            ),
            offset=offset,
            limit=PAGE_SIZE,
            indirect_partner_id=indirect or None,
        )
    except InvalidInput as invalid:
        error = form_error(invalid, page.tr)
    return page.render(
        "vouchers/issued.html",
        status_code=400 if error else 200,
        flash=take_flash(page.request),
        error=error,
        rows=rows,
        filters=filters,
        names=_partner_names(db, {row.customer_id for row in rows}),
        resellers=resellers_of(db, actor) if is_distributor(actor) else [],
        distributor=is_distributor(actor),
        can_transfer=page.can(Permission.FUNDS_TRANSFER),
        pager=Pager(
            "/vouchers/issued",
            total,
            offset,
            PAGE_SIZE,
            {k: v for k, v in filters.items() if v},
        ),
        **_values(page),
    )


@router.post("/vouchers/{voucher_id}/reclaim")
def reclaim(
    page: ActingPage, db: DB, voucher_id: str, indirect_partner_id: TextField = ""
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    indirect = _acting_for(db, actor, indirect_partner_id.strip())
    target = "/vouchers/issued" + (
        f"?indirect_partner_id={indirect}" if indirect else ""
    )
    try:
        returned = service.reclaim(
            db, actor, voucher_id, indirect_partner_id=indirect or None
        )
    except DomainError as error:
        db.rollback()
        return page.redirect(target, error.render(page.tr))
    return page.redirect(
        target,
        page.tr.gettext("Voucher %(id)s reclaimed; %(amount)s went back to the quota.")
        % {
            "id": voucher_id,
            "amount": labels.money(page.tr, returned, page.settings.currency),
        },
    )


# -- a customer's vouchers ------------------------------------------------------------------


@router.get("/my-vouchers")
def my_vouchers(page: ActingPage, db: DB, offset: int = 0) -> Response:
    actor = customer_actor(page)
    rows, total = queries.customer_vouchers(db, actor, offset=offset, limit=PAGE_SIZE)
    return page.render(
        "vouchers/my_vouchers.html",
        rows=rows,
        names=_partner_names(db, {row.partner_id for row in rows}),
        pager=Pager("/my-vouchers", total, offset, PAGE_SIZE),
        **_values(page),
    )


navigation.register(
    "/vouchers", N_("Vouchers"), navigation.PARTNERS, Permission.FUNDS_VIEW
)
navigation.register(
    "/my-vouchers", N_("My vouchers"), navigation.CUSTOMERS, Permission.CUSTOMER_SELF
)
navigation.register(
    "/vendor/vouchers",
    N_("Voucher quotas"),
    navigation.VENDOR,
    Permission.FINANCE_OPERATE,
)
