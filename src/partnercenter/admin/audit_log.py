"""The audit log as people read it: who may see which events, filters, readable rows, CSV.

Partner users with the audit permission see their own organisation's events; vendor staff
allowed to read everything see every organisation's, and may narrow to one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from partnercenter.admin.regions import REGIONS
from partnercenter.admin.service import (
    ACCOUNT_TYPE_LABELS,
    PARTNER_TYPE_LABELS,
    REAL_NAME_LABELS,
)
from partnercenter.core import audit
from partnercenter.core.actor import Actor
from partnercenter.core.audit import AuditQuery
from partnercenter.core.errors import FieldProblem, InvalidInput
from partnercenter.core.i18n import N_, Translator
from partnercenter.core.models import AuditEvent
from partnercenter.identity import service as identity
from partnercenter.identity.models import ApiCredential, Organisation, User
from partnercenter.identity.permissions import PRESET_ROLES, Permission

Named = TypeVar("Named", User, Organisation)

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000

ACTION_LABELS: dict[str, str] = {
    "organisation.created": N_("Organisation created"),
    "organisation.profile_updated": N_("Company profile updated"),
    "partner.updated": N_("Partner changed"),
    "partner.deactivated": N_("Partner deactivated"),
    "partner.reactivated": N_("Partner reactivated"),
    "user.created": N_("Account created"),
    "user.password_changed": N_("Password changed"),
    "user.real_name_status_changed": N_("Real-name status changed"),
    "user.account_type_changed": N_("Account type changed"),
    "user.deactivated": N_("Account deactivated"),
    "user.reactivated": N_("Account reactivated"),
    "staff.added": N_("Staff member added"),
    "staff.roles_changed": N_("Staff roles changed"),
    "staff.removed": N_("Staff member removed"),
    "member.invited": N_("Member invited"),
    "member.invitation_resent": N_("Invitation sent again"),
    "member.invitation_withdrawn": N_("Invitation withdrawn"),
    "member.invitation_declined": N_("Invitation declined"),
    "member.invitation_voided": N_("Invitation voided"),
    "member.joined": N_("Member joined"),
    "member.removed": N_("Member removed"),
    "member.roles_changed": N_("Member roles changed"),
    "role.created": N_("Custom role created"),
    "role.updated": N_("Custom role changed"),
    "role.deleted": N_("Custom role deleted"),
    "credential.created": N_("API key created"),
    "credential.revoked": N_("API key revoked"),
}

FIELD_LABELS: dict[str, str] = {
    "access_key": N_("Access key"),
    "description": N_("Description"),
    "account_name": N_("Account name"),
    "account_type": N_("Account type"),
    "country_region": N_("Business region"),
    "display_name": N_("Display name"),
    "distributor": N_("Distributor"),
    "email": N_("Email"),
    "is_active": N_("Active"),
    "kind": N_("Kind"),
    "legal_name": N_("Legal entity"),
    "parent_id": N_("Distributor"),
    "partner_type": N_("Partner type"),
    "real_name_status": N_("Real-name status"),
    "registration_number": N_("Registration number"),
    "roles": N_("Roles"),
}

SUBJECT_LABELS: dict[str, str] = {
    "organisation": N_("Organisation"),
    "user": N_("Account"),
    "custom_role": N_("Custom role"),
    "api_credential": N_("API key"),
    "invitation": N_("Invitation"),
    "membership": N_("Member"),
}

_VALUE_LABELS: dict[str, dict[str, str]] = {
    "partner_type": {str(k): v for k, v in PARTNER_TYPE_LABELS.items()},
    "kind": {
        **{str(k): v for k, v in PARTNER_TYPE_LABELS.items()},
        "vendor": N_("Vendor"),
        "customer": N_("Customer"),
    },
    "real_name_status": {str(k): v for k, v in REAL_NAME_LABELS.items()},
    "account_type": {str(k): v for k, v in ACCOUNT_TYPE_LABELS.items()},
    "country_region": REGIONS,
    "roles": {code: role.label for code, role in PRESET_ROLES.items()},
}


# -- who sees what, and the filters -----------------------------------------------------


def visible_scope(actor: Actor) -> str | None:
    """The organisation whose events the actor may read; None for every organisation."""
    if actor.is_vendor and actor.can(Permission.AUDIT_VIEW_ALL):
        return None
    identity.authorize(actor, Permission.AUDIT_VIEW)
    return actor.organisation_id


def sees_everything(actor: Actor) -> bool:
    return actor.is_vendor and actor.can(Permission.AUDIT_VIEW_ALL)


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """The filter form as typed."""

    action: str = ""
    subject_type: str = ""
    subject_id: str = ""
    actor: str = ""
    organisation: str = ""
    """An organisation's id or account name; only vendor staff who see everything use it."""
    date_from: str = ""
    date_to: str = ""
    offset: int = 0

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters, without the page offset."""
        params = {
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "actor": self.actor,
            "organisation": self.organisation,
            "from": self.date_from,
            "to": self.date_to,
        }
        return {key: value for key, value in params.items() if value}


def _local_midnight(
    text: str,
    field: str,
    timezone: str,
    problems: list[FieldProblem],
    *,
    days_after: int = 0,
) -> dt.datetime | None:
    """Midnight (in UTC) starting the typed local day, or ``days_after`` days later."""
    if not text.strip():
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        problems.append(FieldProblem(field, N_("Enter a date as YYYY-MM-DD.")))
        return None
    midnight = dt.datetime.combine(
        day + dt.timedelta(days=days_after), dt.time(), tzinfo=ZoneInfo(timezone)
    )
    return midnight.astimezone(dt.UTC)


def build_query(
    session: Session,
    actor: Actor,
    filters: AuditFilters,
    *,
    timezone: str,
    limit: int = PAGE_SIZE,
) -> AuditQuery:
    """The query for ``filters`` within what ``actor`` may read; bad filters raise."""
    scope = visible_scope(actor)
    problems: list[FieldProblem] = []

    organisation_id = scope
    if scope is None and filters.organisation.strip():
        organisation_id = _organisation_id(session, filters.organisation, problems)
    actor_user_id = None
    if filters.actor.strip():
        actor_user_id = _user_id(session, filters.actor, problems)

    since = _local_midnight(filters.date_from, "from", timezone, problems)
    # The end date is included: the range stops at the midnight after it.
    until = _local_midnight(filters.date_to, "to", timezone, problems, days_after=1)
    if problems:
        raise InvalidInput(problems=problems)

    return AuditQuery(
        organisation_id=organisation_id,
        action_prefix=filters.action.strip() or None,
        subject_type=filters.subject_type.strip() or None,
        subject_id=filters.subject_id.strip() or None,
        actor_user_id=actor_user_id,
        since=since,
        until=until,
        offset=max(filters.offset, 0),
        limit=limit,
    )


def _organisation_id(session: Session, text: str, problems: list[FieldProblem]) -> str:
    value = text.strip()
    found = session.scalar(
        select(Organisation.id).where(
            or_(
                Organisation.id == value,
                func.lower(Organisation.account_name) == value.lower(),
            )
        )
    )
    if found is None:
        problems.append(
            FieldProblem(
                "organisation", N_("No organisation has this id or account name.")
            )
        )
        return value
    return found


def _user_id(session: Session, text: str, problems: list[FieldProblem]) -> str | None:
    found = session.scalar(
        select(User.id).where(func.lower(User.account_name) == text.strip().lower())
    )
    if found is None:
        problems.append(
            FieldProblem("actor", N_("No account has exactly this account name."))
        )
    return found


# -- readable rows ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    event: AuditEvent
    actor: str
    organisation: Organisation | None
    action: str
    subject: str
    changes: list[Change]


def _value_text(field: str, value: object, tr: Translator) -> str:
    labels = _VALUE_LABELS.get(field, {})
    if value is None or value in ("", []):
        return "—"
    if isinstance(value, bool):
        return tr.gettext("yes") if value else tr.gettext("no")
    if isinstance(value, list):
        return ", ".join(_value_text(field, item, tr) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return tr.gettext(labels[text]) if text in labels else text


def changes_of(
    event: AuditEvent, tr: Translator, names: dict[str, str] | None = None
) -> list[Change]:
    """Before → after per field.

    A field with the same value on both sides is left out, and so is an empty field of a
    record that was only created or only removed. ``names`` turns organisation ids (a
    reseller's distributor) into account names.
    """
    before = _named(event.before or {}, names or {})
    after = _named(event.after or {}, names or {})
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            continue
        one_sided = (key in before) != (key in after)
        if one_sided and (old if key in before else new) in (None, "", []):
            continue
        label = tr.gettext(FIELD_LABELS[key]) if key in FIELD_LABELS else key
        changes.append(
            Change(
                label,
                _value_text(key, old, tr) if key in before else "",
                _value_text(key, new, tr) if key in after else "",
            )
        )
    return changes


def _named(values: dict[str, object], names: dict[str, str]) -> dict[str, object]:
    parent = values.get("parent_id")
    if isinstance(parent, str) and parent in names:
        return {**values, "parent_id": names[parent]}
    return values


def _parent_ids(events: Sequence[AuditEvent]) -> set[str | None]:
    found: set[str | None] = set()
    for event in events:
        for values in (event.before or {}, event.after or {}):
            parent = values.get("parent_id")
            if isinstance(parent, str):
                found.add(parent)
    return found


def action_label(action: str, tr: Translator) -> str:
    return tr.gettext(ACTION_LABELS[action]) if action in ACTION_LABELS else action


def subject_label(event: AuditEvent, tr: Translator) -> str:
    kind = event.subject_type
    name = tr.gettext(SUBJECT_LABELS[kind]) if kind in SUBJECT_LABELS else kind
    return f"{name} {event.subject_id}"


def readable_rows(
    session: Session, events: Sequence[AuditEvent], tr: Translator
) -> list[AuditRow]:
    """Rows with the names of actors and organisations looked up once per page."""
    users = _by_id(session, User, {e.actor_user_id for e in events})
    organisations = _by_id(
        session,
        Organisation,
        {e.organisation_id for e in events} | _parent_ids(events),
    )
    names = {org.id: org.account_name for org in organisations.values()}
    keys = {
        credential.id: credential.access_key
        for credential in session.scalars(
            select(ApiCredential).where(
                ApiCredential.id.in_(
                    {e.actor_credential_id for e in events if e.actor_credential_id}
                )
            )
        )
    }
    return [
        AuditRow(
            event=event,
            actor=_actor_text(event, users, keys, tr),
            organisation=organisations.get(event.organisation_id or ""),
            action=action_label(event.action, tr),
            subject=subject_label(event, tr),
            changes=changes_of(event, tr, names),
        )
        for event in events
    ]


def _by_id(
    session: Session, model: type[Named], ids: set[str | None]
) -> dict[str, Named]:
    wanted = {value for value in ids if value}
    if not wanted:
        return {}
    rows = session.scalars(select(model).where(model.id.in_(wanted)))
    return {row.id: row for row in rows}


def _actor_text(
    event: AuditEvent,
    users: dict[str, User],
    keys: dict[int, str],
    tr: Translator,
) -> str:
    if event.actor_credential_id is not None:
        key = keys.get(event.actor_credential_id, str(event.actor_credential_id))
        return tr.gettext("API key %(key)s") % {"key": key}
    user = users.get(event.actor_user_id or "")
    if user is not None:
        return f"{user.display_name} ({user.account_name})"
    if event.actor_user_id:
        return event.actor_user_id
    return tr.gettext("system")


# -- export -----------------------------------------------------------------------------


def export_csv(
    session: Session,
    query: AuditQuery,
    tr: Translator,
    *,
    timezone: str,
) -> str:
    """Every event of ``query`` as CSV text, newest first, with a header row.

    The caller adds a byte order mark, which is what makes Excel read the file as UTF-8.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            tr.gettext(text)
            for text in (
                N_("Time"),
                N_("Actor"),
                N_("Organisation"),
                N_("Action"),
                N_("Subject"),
                N_("Reason"),
                N_("Changes"),
                N_("Request id"),
            )
        ]
    )
    # The export is built in memory and stops at EXPORT_LIMIT rows; a wider range has to be
    # split by date, since nothing streams the rows straight from the database yet.
    batch = 500
    for offset in range(0, EXPORT_LIMIT, batch):
        events = audit.find(session, replace(query, offset=offset, limit=batch))
        for row in readable_rows(session, events, tr):
            writer.writerow(_csv_cells(row, timezone))
        if len(events) < batch:
            break
    return buffer.getvalue()


def _csv_cells(row: AuditRow, timezone: str) -> list[str]:
    event = row.event
    local = event.occurred_at.astimezone(ZoneInfo(timezone))
    organisation = (
        f"{row.organisation.display_name} ({row.organisation.account_name})"
        if row.organisation
        else (event.organisation_id or "")
    )
    changes = "; ".join(
        f"{change.field}: {change.before} → {change.after}"
        if change.before
        else f"{change.field}: {change.after}"
        for change in row.changes
    )
    return [
        local.isoformat(timespec="seconds"),
        row.actor,
        organisation,
        row.action,
        row.subject,
        event.reason or "",
        changes,
        event.request_id or "",
    ]
