"""Changing and ending associations through requests one side makes and the other decides.

A partner admin asks to disassociate a customer or to switch its mode; the customer
confirms or refuses. A customer asks to leave its partner, or to be associated with one;
the partner admin agrees or rejects. Nothing changes before the other side says yes, and
then the change, its effects and its records commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.core import audit, notifications
from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from partnercenter.core.i18n import N_
from partnercenter.core.logging import get_logger
from partnercenter.core.settings import Settings
from partnercenter.customers import service as customers
from partnercenter.customers.changes import rules
from partnercenter.customers.changes.balance import balance_mover
from partnercenter.customers.changes.rules import ChangeRefused
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationRequest,
    AssociationSource,
    AssociationStatus,
    Customer,
    RequestKind,
    RequestParty,
    RequestStatus,
)
from partnercenter.identity import service as identity
from partnercenter.identity.models import (
    Membership,
    Organisation,
    OrganisationKind,
    User,
)
from partnercenter.identity.permissions import Permission
from partnercenter.vouchers import service as vouchers

log = get_logger("partnercenter.customers.changes")

REASON_MAX = 500
PARTNER_LINK = "/customers/requests"
CUSTOMER_LINK = "/my-partner"

notifications.register(
    "changes.customer_asks_to_leave",
    title=N_("%(customer)s asks to disassociate"),
    body=N_(
        "Your customer %(customer)s asks to end its association with %(partner)s. "
        "Agree or reject the request on the requests page."
    ),
)
notifications.register(
    "changes.customer_asks_to_join",
    title=N_("%(customer)s asks to be associated"),
    body=N_(
        "The customer %(customer)s asks to be associated with %(partner)s. Accept or "
        "reject the request on the requests page."
    ),
)
notifications.register(
    "changes.partner_asks",
    title=N_("%(partner)s asks to change your association"),
    body=N_(
        "Your partner %(partner)s asks to disassociate you or to change the mode of your "
        "association. Nothing changes until you confirm it on your partner page."
    ),
)
notifications.register(
    "changes.request_accepted",
    title=N_("Your association request was accepted"),
    body=N_("%(party)s accepted your request; the change is now in effect."),
)
notifications.register(
    "changes.request_rejected",
    title=N_("Your association request was rejected"),
    body=N_("%(party)s rejected your request. Reason: %(reason)s"),
)
notifications.register(
    "changes.request_cancelled",
    title=N_("A request about your association was withdrawn"),
    body=N_("%(party)s withdrew its request; your association stays as it was."),
)


class RequestPending(Conflict):
    code = "request_pending"
    default_message = N_(
        "A request about this association is already waiting for an answer."
    )


@dataclass(frozen=True, slots=True)
class Decision:
    request: AssociationRequest
    details: dict[str, Any]
    """What the change did besides itself, as written to the records."""


# -- starting requests ------------------------------------------------------------------


def start_partner_request(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    customer_id: str,
    kind: RequestKind,
    target_mode: AssociationMode | None = None,
    reason: str,
) -> AssociationRequest:
    """The partner admin asks to disassociate the customer or to switch its mode."""
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)
    association = _partners_association(session, actor, customer_id)
    problems = _partner_request_problems(association, kind, target_mode, reason)
    if problems:
        raise InvalidInput(problems=problems)
    _refuse_if_pending(session, association)
    too_soon = rules.partner_frequency(
        session,
        partner_id=actor.organisation_id,
        customer_id=customer_id,
        now=utc_now(),
    )
    if too_soon:
        raise ChangeRefused(problems=too_soon)

    request = _new_request(
        session,
        actor,
        association,
        kind=kind,
        party=RequestParty.PARTNER,
        target_mode=target_mode if kind is RequestKind.SWITCH_MODE else None,
        reason=reason.strip(),
    )
    owner = customers.owner_of(session, customer_id)
    partner = identity.get_organisation(session, actor.organisation_id)
    if owner is not None:
        _notify(
            session,
            settings,
            owner,
            "changes.partner_asks",
            {"partner": partner.display_name},
            link=CUSTOMER_LINK,
            organisation_id=customer_id,
        )
    return request


def _partner_request_problems(
    association: Association,
    kind: RequestKind,
    target_mode: AssociationMode | None,
    reason: str,
) -> list[FieldProblem]:
    problems = _reason_problems(reason, required=True)
    if kind not in rules.PARTNER_CHANGE_KINDS:
        problems.append(
            FieldProblem("kind", N_("Choose a disassociation or a switch."))
        )
    if kind is RequestKind.SWITCH_MODE and target_mode in (None, association.mode):
        problems.append(
            FieldProblem(
                "target_mode", N_("Choose the other mode to switch the customer to.")
            )
        )
    return problems


def request_disassociation(
    session: Session, actor: Actor, settings: Settings, *, reason: str = ""
) -> AssociationRequest:
    """The customer asks to leave its partner; the partner admin decides."""
    identity.authorize(actor, Permission.CUSTOMER_SELF)
    association = customers.active_association(session, actor.organisation_id)
    if association is None:
        raise NotFound(N_("You are not associated with a partner."))
    problems = _reason_problems(reason, required=False)
    if problems:
        raise InvalidInput(problems=problems)
    _refuse_if_pending(session, association)
    too_soon = rules.customer_frequency(
        session, customer_id=actor.organisation_id, now=utc_now()
    )
    if too_soon:
        raise ChangeRefused(problems=too_soon)

    request = _new_request(
        session,
        actor,
        association,
        kind=RequestKind.DISASSOCIATE,
        party=RequestParty.CUSTOMER,
        target_mode=None,
        reason=reason.strip() or None,
    )
    _notify_partner_admins(
        session,
        settings,
        association.organisation_id,
        actor.organisation_id,
        leave=True,
    )
    return request


def request_association(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    partner_account_name: str,
    mode: AssociationMode = AssociationMode.CONSULTING,
) -> AssociationRequest:
    """The customer asks a partner, named by its account name, to associate it."""
    identity.authorize(actor, Permission.CUSTOMER_SELF)
    partner = _partner_by_account_name(session, partner_account_name)
    if _pending_association_request(session, actor.organisation_id) is not None:
        raise RequestPending(
            N_(
                "Your request to be associated is still waiting for the partner's answer."
            )
        )
    refusals = customers.refusals_for(session, actor.organisation_id, partner, mode)
    if refusals:
        raise customers.AssociationRefused(refusals)

    request = AssociationRequest(
        organisation_id=partner.id,
        customer_id=actor.organisation_id,
        kind=RequestKind.ASSOCIATE,
        initiated_by=RequestParty.CUSTOMER,
        target_mode=mode,
        status=RequestStatus.PENDING,
        created_by_user_id=actor.user_id,
        created_at=utc_now(),
    )
    session.add(request)
    session.flush()
    _record_request(session, actor, request, "request_submitted", "pending")
    _audit_request(session, actor, request, "customer.change_requested")
    _notify_partner_admins(
        session, settings, partner.id, actor.organisation_id, leave=False
    )
    return request


def _partner_by_account_name(session: Session, account_name: str) -> Organisation:
    name = account_name.strip().lower()
    partner = session.scalar(
        select(Organisation).where(
            Organisation.account_name == name,
            Organisation.kind == OrganisationKind.PARTNER,
        )
    )
    if partner is None or not name:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "partner",
                    N_("No partner has this account name. Check it with your partner."),
                )
            ]
        )
    return partner


def _new_request(
    session: Session,
    actor: Actor,
    association: Association,
    *,
    kind: RequestKind,
    party: RequestParty,
    target_mode: AssociationMode | None,
    reason: str | None,
) -> AssociationRequest:
    request = AssociationRequest(
        organisation_id=association.organisation_id,
        customer_id=association.customer_id,
        kind=kind,
        initiated_by=party,
        target_mode=target_mode,
        reason=reason,
        status=RequestStatus.PENDING,
        created_by_user_id=actor.user_id,
        created_at=utc_now(),
    )
    session.add(request)
    session.flush()
    _record_request(
        session,
        actor,
        request,
        "request_submitted",
        "pending",
        mode_before=association.mode,
    )
    _audit_request(session, actor, request, "customer.change_requested")
    log.info("association.request_submitted", request_id=request.id, kind=str(kind))
    return request


# -- deciding ---------------------------------------------------------------------------


def decide_customer_request(
    session: Session,
    actor: Actor,
    settings: Settings,
    request_id: str,
    *,
    agree: bool,
    reason: str = "",
) -> Decision:
    """The partner admin agrees to, or rejects, a request its customer made."""
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)
    request = _pending(
        session, request_id, actor.organisation_id, party=RequestParty.CUSTOMER
    )
    if not agree:
        return _reject(session, actor, settings, request, reason, required=True)
    if request.kind is RequestKind.ASSOCIATE:
        return _accept_association(session, actor, settings, request)
    return _apply(session, actor, settings, request)


def answer_partner_request(
    session: Session,
    actor: Actor,
    settings: Settings,
    request_id: str,
    *,
    confirm: bool,
    reason: str = "",
) -> Decision:
    """The customer confirms, or refuses, a change its partner asked for."""
    identity.authorize(actor, Permission.CUSTOMER_SELF)
    request = session.get(AssociationRequest, request_id)
    if (
        request is None
        or request.customer_id != actor.organisation_id
        or request.initiated_by is not RequestParty.PARTNER
    ):
        raise NotFound(N_("No such request."))
    _still_pending(request)
    if not confirm:
        return _reject(session, actor, settings, request, reason, required=False)
    return _apply(session, actor, settings, request)


def cancel_request(
    session: Session, actor: Actor, settings: Settings, request_id: str
) -> AssociationRequest:
    """The partner admin withdraws a request it made that the customer has not answered."""
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)
    request = _pending(
        session, request_id, actor.organisation_id, party=RequestParty.PARTNER
    )
    _close(request, actor, RequestStatus.CANCELLED)
    _record_request(session, actor, request, "request_cancelled", "succeeded")
    _audit_request(session, actor, request, "customer.change_request_cancelled")
    partner = identity.get_organisation(session, request.organisation_id)
    owner = customers.owner_of(session, request.customer_id)
    if owner is not None:
        _notify(
            session,
            settings,
            owner,
            "changes.request_cancelled",
            {"party": partner.display_name},
            link=CUSTOMER_LINK,
            organisation_id=request.customer_id,
        )
    return request


def _pending(
    session: Session, request_id: str, partner_id: str, *, party: RequestParty
) -> AssociationRequest:
    request = session.get(AssociationRequest, request_id)
    if (
        request is None
        or request.organisation_id != partner_id
        or request.initiated_by is not party
    ):
        raise NotFound(N_("No such request."))
    _still_pending(request)
    return request


def _still_pending(request: AssociationRequest) -> None:
    if request.status is not RequestStatus.PENDING:
        raise Conflict(N_("This request has already been answered or withdrawn."))


def _reject(
    session: Session,
    actor: Actor,
    settings: Settings,
    request: AssociationRequest,
    reason: str,
    *,
    required: bool,
) -> Decision:
    problems = _reason_problems(reason, required=required, field="decision_reason")
    if problems:
        raise InvalidInput(problems=problems)
    _close(request, actor, RequestStatus.REJECTED, reason.strip() or None)
    _record_request(
        session,
        actor,
        request,
        "request_rejected",
        "succeeded",
        reason=request.decision_reason,
    )
    _audit_request(session, actor, request, "customer.change_request_rejected")
    _notify_requester(
        session,
        settings,
        request,
        "changes.request_rejected",
        {"reason": request.decision_reason or "-"},
    )
    return Decision(request, {})


def _accept_association(
    session: Session, actor: Actor, settings: Settings, request: AssociationRequest
) -> Decision:
    partner = identity.get_organisation(session, request.organisation_id)
    mode = request.target_mode or AssociationMode.CONSULTING
    try:
        association = customers.associate(
            session,
            actor,
            customer_id=request.customer_id,
            partner=partner,
            mode=mode,
            source=AssociationSource.CUSTOMER_REQUEST,
            actor_party=str(RequestParty.PARTNER),
        )
    except customers.AssociationRefused as refused:
        # The refusal is kept even though the request stays open for a rejection.
        customers.record_refusal(
            session,
            actor,
            kind="associated",
            partner_id=partner.id,
            customer_id=request.customer_id,
            refusals=refused.refusals,
            actor_party=str(RequestParty.PARTNER),
            details={"request_id": request.id},
        )
        session.flush()
        raise
    _close(request, actor, RequestStatus.ACCEPTED)
    _record_request(
        session, actor, request, "request_accepted", "succeeded", mode_after=mode
    )
    _audit_request(session, actor, request, "customer.change_request_accepted")
    _notify_requester(session, settings, request, "changes.request_accepted", {})
    return Decision(request, {"association_id": association.id})


def _apply(
    session: Session, actor: Actor, settings: Settings, request: AssociationRequest
) -> Decision:
    """Make the change a request asks for, with its effects, or refuse with every reason."""
    customer = _locked_customer(session, request.customer_id)
    association = customers.active_association(session, request.customer_id)
    if association is None or association.organisation_id != request.organisation_id:
        raise Conflict(N_("The customer is no longer associated with this partner."))
    party = _party_of(actor)
    change = (
        "disassociated" if request.kind is RequestKind.DISASSOCIATE else "mode_switched"
    )
    blockers = rules.preconditions(
        customer,
        debt=balance_mover().debt(session, customer.organisation_id, lock=True),
        mode=association.mode,
        kind=request.kind,
        target_mode=request.target_mode,
    )
    if blockers:
        customers.write_record(
            session,
            actor,
            kind=change,
            outcome="refused",
            partner_id=request.organisation_id,
            customer_id=request.customer_id,
            actor_party=party,
            mode_before=association.mode,
            request_id=request.id,
            details={"refusals": [problem.field for problem in blockers]},
        )
        session.flush()
        raise ChangeRefused(problems=blockers)

    before = _snapshot(association)
    details = _effects(session, actor, customer, association, request)
    _close(request, actor, RequestStatus.ACCEPTED)
    _record_request(
        session,
        actor,
        request,
        "request_accepted",
        "succeeded",
        mode_before=before["mode"],
    )
    customers.write_record(
        session,
        actor,
        kind=change,
        outcome="succeeded",
        partner_id=request.organisation_id,
        customer_id=request.customer_id,
        actor_party=party,
        mode_before=before["mode"],
        mode_after=association.mode if change == "mode_switched" else None,
        request_id=request.id,
        reason=request.reason,
        details=details,
    )
    _audit_request(session, actor, request, "customer.change_request_accepted")
    audit.record(
        session,
        actor,
        f"customer.{change}",
        subject_type="customer",
        subject_id=request.customer_id,
        organisation_id=request.organisation_id,
        before=before,
        after={**_snapshot(association), **details},
        reason=request.reason,
    )
    _notify_requester(session, settings, request, "changes.request_accepted", {})
    log.info("association.changed", request_id=request.id, change=change)
    return Decision(request, details)


def _effects(
    session: Session,
    actor: Actor,
    customer: Customer,
    association: Association,
    request: AssociationRequest,
) -> dict[str, Any]:
    now = utc_now()
    leaves_resale = association.mode is AssociationMode.RESALE and (
        request.kind is RequestKind.DISASSOCIATE
        or request.target_mode is AssociationMode.CONSULTING
    )
    details: dict[str, Any] = {"subscriptions": "keep_term"}
    if leaves_resale:
        details["unbind_reclaim_minor"] = balance_mover().unbind_reclaim(
            session,
            actor,
            partner_id=association.organisation_id,
            customer_id=association.customer_id,
        )
    # The vouchers the partner issued go back to its quotas whatever the change (ASSOC-9);
    # after the ledger accounts, as every path locks them.
    details["vouchers_reclaimed"], details["vouchers_reclaimed_minor"] = (
        vouchers.reclaim_on_leaving(
            session,
            actor,
            partner_id=association.organisation_id,
            customer_id=association.customer_id,
        )
    )
    if request.kind is RequestKind.DISASSOCIATE:
        details["vouchers_to_reclaim"] = customer.enterprise_sub_account
        association.status = AssociationStatus.ENDED
        association.ended_at = now
        association.end_reason = request.reason or str(request.initiated_by)
    else:
        details["vouchers_to_reclaim"] = request.target_mode is AssociationMode.RESALE
        association.mode = request.target_mode or association.mode
        association.mode_changed_at = now
    session.flush()
    return details


def _locked_customer(session: Session, customer_id: str) -> Customer:
    # The same lock as associating takes, so a change and an association queue up.
    customer = session.scalar(
        select(Customer)
        .where(Customer.organisation_id == customer_id)
        .with_for_update()
    )
    if customer is None:
        raise NotFound(N_("No such customer."))
    return customer


def _close(
    request: AssociationRequest,
    actor: Actor,
    status: RequestStatus,
    decision_reason: str | None = None,
) -> None:
    request.status = status
    request.decided_by_user_id = actor.user_id
    request.decided_at = utc_now()
    request.decision_reason = decision_reason


# -- reading ----------------------------------------------------------------------------


def blockers_for(
    session: Session,
    association: Association,
    kind: RequestKind,
    target_mode: AssociationMode | None = None,
) -> list[FieldProblem]:
    """What would stop the change today, to show before anyone asks for it."""
    customer = customers.get_customer(session, association.customer_id)
    return rules.preconditions(
        customer,
        debt=balance_mover().debt(session, customer.organisation_id),
        mode=association.mode,
        kind=kind,
        target_mode=target_mode,
    )


def partner_requests(
    session: Session, actor: Actor, *, status: RequestStatus | None = None
) -> Sequence[AssociationRequest]:
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)
    statement = select(AssociationRequest).where(
        AssociationRequest.organisation_id == actor.organisation_id
    )
    if status is not None:
        statement = statement.where(AssociationRequest.status == status)
    return session.scalars(
        statement.order_by(AssociationRequest.created_at.desc()).limit(200)
    ).all()


def customer_requests(
    session: Session, actor: Actor, *, status: RequestStatus | None = None
) -> Sequence[AssociationRequest]:
    identity.authorize(actor, Permission.CUSTOMER_SELF)
    statement = select(AssociationRequest).where(
        AssociationRequest.customer_id == actor.organisation_id
    )
    if status is not None:
        statement = statement.where(AssociationRequest.status == status)
    return session.scalars(
        statement.order_by(AssociationRequest.created_at.desc()).limit(200)
    ).all()


def partners_association(
    session: Session, actor: Actor, customer_id: str
) -> Association:
    identity.authorize(actor, Permission.CUSTOMERS_MANAGE)
    return _partners_association(session, actor, customer_id)


def _partners_association(
    session: Session, actor: Actor, customer_id: str
) -> Association:
    association = customers.active_association(session, customer_id)
    if association is None or association.organisation_id != actor.organisation_id:
        raise NotFound(N_("No such customer."))
    return association


def pending_request(
    session: Session, association: Association
) -> AssociationRequest | None:
    return session.scalar(
        select(AssociationRequest).where(
            AssociationRequest.organisation_id == association.organisation_id,
            AssociationRequest.customer_id == association.customer_id,
            AssociationRequest.kind != RequestKind.ASSOCIATE,
            AssociationRequest.status == RequestStatus.PENDING,
        )
    )


def _pending_association_request(
    session: Session, customer_id: str
) -> AssociationRequest | None:
    return session.scalar(
        select(AssociationRequest).where(
            AssociationRequest.customer_id == customer_id,
            AssociationRequest.kind == RequestKind.ASSOCIATE,
            AssociationRequest.status == RequestStatus.PENDING,
        )
    )


def _refuse_if_pending(session: Session, association: Association) -> None:
    if pending_request(session, association) is not None:
        raise RequestPending()


# -- records, audit, notices ------------------------------------------------------------


def _party_of(actor: Actor) -> str:
    if actor.organisation_kind == OrganisationKind.CUSTOMER:
        return str(RequestParty.CUSTOMER)
    return str(RequestParty.PARTNER)


def _record_request(
    session: Session,
    actor: Actor,
    request: AssociationRequest,
    kind: str,
    outcome: str,
    *,
    mode_before: AssociationMode | None = None,
    mode_after: AssociationMode | None = None,
    reason: str | None = None,
) -> None:
    customers.write_record(
        session,
        actor,
        kind=kind,
        outcome=outcome,
        partner_id=request.organisation_id,
        customer_id=request.customer_id,
        actor_party=_party_of(actor),
        mode_before=mode_before,
        mode_after=mode_after or request.target_mode,
        request_id=request.id,
        reason=reason if reason is not None else request.reason,
        details={"request_kind": str(request.kind)},
    )


def _audit_request(
    session: Session, actor: Actor, request: AssociationRequest, action: str
) -> None:
    audit.record(
        session,
        actor,
        action,
        subject_type="association_request",
        subject_id=request.id,
        organisation_id=request.organisation_id,
        after={
            "kind": str(request.kind),
            "customer_id": request.customer_id,
            "status": str(request.status),
            "target_mode": str(request.target_mode) if request.target_mode else None,
        },
        reason=request.decision_reason or request.reason,
    )


def _snapshot(association: Association) -> dict[str, Any]:
    return {"mode": association.mode, "status": str(association.status)}


def _reason_problems(
    reason: str, *, required: bool, field: str = "reason"
) -> list[FieldProblem]:
    if required and not reason.strip():
        return [FieldProblem(field, N_("Give a reason."))]
    if len(reason) > REASON_MAX:
        return [
            FieldProblem(
                field,
                N_("Keep the reason under %(max)s characters."),
                {"max": REASON_MAX},
            )
        ]
    return []


def partner_admins(session: Session, partner_id: str) -> list[User]:
    memberships = session.scalars(
        select(Membership).where(
            Membership.organisation_id == partner_id, Membership.left_at.is_(None)
        )
    ).unique()
    return [
        membership.user
        for membership in memberships
        if "partner_admin" in identity.role_codes(membership)
    ]


def _notify_partner_admins(
    session: Session,
    settings: Settings,
    partner_id: str,
    customer_id: str,
    *,
    leave: bool,
) -> None:
    partner = identity.get_organisation(session, partner_id)
    customer = identity.get_organisation(session, customer_id)
    kind = (
        "changes.customer_asks_to_leave" if leave else "changes.customer_asks_to_join"
    )
    for admin in partner_admins(session, partner_id):
        _notify(
            session,
            settings,
            admin,
            kind,
            {"customer": customer.display_name, "partner": partner.display_name},
            link=PARTNER_LINK,
            organisation_id=partner_id,
        )


def _notify_requester(
    session: Session,
    settings: Settings,
    request: AssociationRequest,
    kind: str,
    params: dict[str, Any],
) -> None:
    """Tell the side that made the request what the other side decided."""
    if request.initiated_by is RequestParty.CUSTOMER:
        party = identity.get_organisation(session, request.organisation_id)
        recipient = customers.owner_of(session, request.customer_id)
        recipients = [recipient] if recipient else []
        link, organisation_id = CUSTOMER_LINK, request.customer_id
    else:
        party = identity.get_organisation(session, request.customer_id)
        recipients = partner_admins(session, request.organisation_id)
        link, organisation_id = PARTNER_LINK, request.organisation_id
    for user in recipients:
        _notify(
            session,
            settings,
            user,
            kind,
            {**params, "party": party.display_name},
            link=link,
            organisation_id=organisation_id,
        )


def _notify(
    session: Session,
    settings: Settings,
    user: User,
    kind: str,
    params: dict[str, Any],
    *,
    link: str,
    organisation_id: str,
) -> None:
    notifications.notify(
        session,
        user=user,
        kind=kind,
        params=params,
        link=link,
        base_url=settings.base_url,
        default_locale=settings.locale,
        organisation_id=organisation_id,
    )
